/**
 * `npm run build:web`: bundles the page (web/src/main.ts) and its training worker (web/src/worker.ts) with
 * esbuild into a static folder (default web/dist) that any static host can serve; no server-side compute.
 * The gpu backend is not bundled (src/browser.ts does not import it), so the page stays CPU-only and small.
 */
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const here = dirname(fileURLToPath(import.meta.url));

export interface WebBuild {
  outDir: string;
  /** Bytes of each bundle (minified) and gzipped. */
  files: Array<{ file: string; bytes: number; gzipBytes: number }>;
  gzipTotal: number;
}

export async function buildWeb(outDir = join(here, 'dist')): Promise<WebBuild> {
  const out = resolve(outDir);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  await build({
    entryPoints: { main: join(here, 'src/main.ts'), worker: join(here, 'src/worker.ts') },
    outdir: out,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    // Identifiers keep their names: the kernels' thread pool sends the kernel functions' source text
    // (Function.prototype.toString) to the Web Workers, whose job loop calls them by name.
    minifyWhitespace: true,
    minifySyntax: true,
    minifyIdentifiers: false,
    sourcemap: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
  for (const f of ['index.html', 'style.css']) copyFileSync(join(here, f), join(out, f));
  const worker = readFileSync(join(out, 'worker.js'), 'utf8');
  for (const name of ['gemmAcc', 'runKernelJob']) {
    if (!new RegExp(`function ${name}\\(`).test(worker)) throw new Error(`build:web: worker.js lost the kernel function name ${name}; the Web Worker threads would fail.`);
  }
  const files = ['main.js', 'worker.js', 'index.html', 'style.css'].map((file) => {
    const bytes = readFileSync(join(out, file));
    return { file, bytes: bytes.length, gzipBytes: gzipSync(bytes, { level: 9 }).length };
  });
  return { outDir: out, files, gzipTotal: files.reduce((s, f) => s + f.gzipBytes, 0) };
}

export function describeBuild(b: WebBuild): string {
  const kib = (n: number): string => `${(n / 1024).toFixed(1)} KiB`;
  // the README's bundle size is the JavaScript line: main.js + worker.js, each gzipped at level 9
  const js = b.files.filter((f) => f.file.endsWith('.js')).reduce((s, f) => s + f.gzipBytes, 0);
  return `${b.files.map((f) => `${f.file} ${kib(f.bytes)} (${kib(f.gzipBytes)} gzipped)`).join(', ')}; JavaScript ${kib(js)} gzipped, all files ${kib(b.gzipTotal)}`;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    console.log(`Usage: npm run build:web [-- --out DIR]

Bundles the interactive page (web/src) with esbuild into a static folder that any static host can serve.
The folder is deleted and written anew.

  --out DIR     where to write it (default web/dist)
  -h, --help    this help; builds nothing`);
    process.exit(0);
  }
  const outArg = process.argv.indexOf('--out');
  const b = await buildWeb(outArg > 0 ? process.argv[outArg + 1] : undefined);
  console.log(`built ${b.outDir}: ${describeBuild(b)}`);
}
