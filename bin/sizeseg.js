#!/usr/bin/env node
// The `sizeseg` command. In a clone (src/ is here) it runs the TypeScript sources through tsx, so an edit
// counts at once and a dist/ left by an earlier `npm run build` never shadows it. An installed package has
// no src/ (package.json's "files") and runs the compiled dist/, which `prepare` built before packing.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const sources = join(root, 'src', 'cli', 'main.ts');
const compiled = join(root, 'dist', 'cli', 'main.js');
let entry;
if (existsSync(sources)) {
  try {
    const { register } = await import('tsx/esm/api');
    register();
  } catch (e) {
    if (e?.code !== 'ERR_MODULE_NOT_FOUND') throw e;
    console.error(
      "sizeseg: this clone's sources need its development dependencies (tsx): run 'npm install' in " + root,
    );
    process.exit(1);
  }
  entry = sources;
} else if (existsSync(compiled)) {
  entry = compiled;
} else {
  console.error(
    `sizeseg: ${compiled} is missing: this copy of sizeseg was not built; reinstall it (npm builds dist/ when it packs).`,
  );
  process.exit(1);
}
const { main } = await import(pathToFileURL(entry).href);
process.exitCode = await main(process.argv.slice(2));
