/**
 * `npm run bench [-- NAME ...] [--update-results]`: runs every bench/*.bench.ts (or the named ones), each
 * exporting `run(): Promise<Record<string, unknown>>`, and writes <name>.json plus summary.json (the entries
 * of the benches that ran are replaced, the others kept), each with the machine it ran on. Numbers are
 * tinybench medians from one run. The results go to bench/results/local/ (git-ignored); the committed
 * bench/results/ that the README quotes changes only with --update-results.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .sort();
const names = files.map((f) => f.replace('.bench.ts', ''));
const args = process.argv.slice(2);

if (args.includes('--help') || args.includes('-h')) {
  console.log(`Usage: npm run bench [-- NAME ...] [--update-results]

Runs the tinybench microbenchmarks (all of them, or those whose name starts with a NAME) and writes one
JSON file per benchmark plus summary.json, each with the machine it ran on.

  NAME               one of: ${names.join(', ')}
  --update-results   write to bench/results/ (the committed results the README quotes) instead of
                     bench/results/local/ (not tracked by git)
  -h, --help         this help; runs nothing

Environment: SIZESEG_BENCH_QUICK=1 shortens the runs (for checking that a benchmark works, not for numbers).
Speed numbers mean something only on an otherwise idle machine.`);
  process.exit(0);
}
const unknown = args.filter((a) => a.startsWith('-') && a !== '--update-results');
if (unknown.length > 0) {
  console.error(`bench: unknown option ${unknown.join(', ')}; see npm run bench -- --help`);
  process.exit(2);
}
const wanted = args.filter((a) => !a.startsWith('-'));
const selected = wanted.length ? files.filter((f) => wanted.some((w) => f.startsWith(w))) : files;
if (wanted.length && selected.length === 0) {
  console.error(`bench: no benchmark matches ${wanted.join(', ')}; available: ${names.join(', ')}`);
  process.exit(2);
}
const resultsDir = args.includes('--update-results') ? join(here, 'results') : join(here, 'results', 'local');
const shown = relative(process.cwd(), resultsDir) || '.';
mkdirSync(resultsDir, { recursive: true });
const machine = {
  node: process.version,
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  memGiB: Math.round(totalmem() / 2 ** 30),
  date: new Date().toISOString(),
};
// a run of some benches updates their entries and keeps the others (each entry records its own machine and date)
const summaryPath = join(resultsDir, 'summary.json');
const summary: Record<string, unknown> = existsSync(summaryPath)
  ? (JSON.parse(readFileSync(summaryPath, 'utf8')) as Record<string, unknown>)
  : {};
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
  console.log(`wrote ${join(shown, `${name}.json`)} (${result.seconds.toFixed(0)} s)`);
}
writeFileSync(summaryPath, `${JSON.stringify(summary, null, 2)}\n`);
process.exit(0); // worker threads of the CPU kernels are unref'd, but benches may leave timers
