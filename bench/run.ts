/**
 * `npm run bench [-- NAME ...]`: runs every bench/*.bench.ts (or the named ones), each exporting
 * `run(): Promise<Record<string, unknown>>`, and writes bench/results/<name>.json plus
 * bench/results/summary.json (the entries of the benches that ran are replaced, the others kept), each
 * with the machine it ran on. Numbers are tinybench medians from one run.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const resultsDir = join(here, 'results');
const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const files = readdirSync(here).filter((f) => f.endsWith('.bench.ts')).sort();
const selected = wanted.length ? files.filter((f) => wanted.some((w) => f.startsWith(w))) : files;
if (wanted.length && selected.length === 0) {
  console.error(`bench: no benchmark matches ${wanted.join(', ')}; available: ${files.map((f) => f.replace('.bench.ts', '')).join(', ')}`);
  process.exit(2);
}
mkdirSync(resultsDir, { recursive: true });
const machine = { node: process.version, cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30), date: new Date().toISOString() };
// a run of some benches updates their entries and keeps the others (each entry records its own machine and date)
const summaryPath = join(resultsDir, 'summary.json');
const summary: Record<string, unknown> = existsSync(summaryPath) ? (JSON.parse(readFileSync(summaryPath, 'utf8')) as Record<string, unknown>) : {};
summary.machine = machine;
for (const file of selected) {
  const name = file.replace('.bench.ts', '');
  console.log(`\n=== ${name} ===`);
  const t0 = performance.now();
  const mod = (await import(pathToFileURL(join(here, file)).href)) as { run?: () => Promise<Record<string, unknown>> };
  if (typeof mod.run !== 'function') throw new Error(`bench/${file} must export run()`);
  const result = { machine, ...(await mod.run()), seconds: (performance.now() - t0) / 1000 };
  writeFileSync(join(resultsDir, `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
  summary[name] = result;
  console.log(`wrote bench/results/${name}.json (${result.seconds.toFixed(0)} s)`);
}
writeFileSync(summaryPath, `${JSON.stringify(summary, null, 2)}\n`);
process.exit(0); // worker threads of the CPU kernels are unref'd, but benches may leave timers
