#!/usr/bin/env node
// Runs the compiled CLI when `npm run build` has made dist/, otherwise the TypeScript sources through tsx.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const compiled = join(root, 'dist', 'cli', 'main.js');
let entry;
if (existsSync(compiled)) {
  entry = compiled;
} else {
  await import('tsx/esm/api').then(({ register }) => register());
  entry = join(root, 'src', 'cli', 'main.ts');
}
const { main } = await import(pathToFileURL(entry).href);
process.exitCode = await main(process.argv.slice(2));
