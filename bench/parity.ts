/**
 * sizeseg against PyTorch's CPU build on W1 (a training step) and W3 (inference) of ../shared/peers/SPEC.md,
 * alternated round by round in one run (this machine is shared and its speed swings: only what is measured
 * side by side compares). Each round runs the PyTorch peer (../shared/peers/torch/workloads.py, 2 threads,
 * glibc's allocator defaults) and then a fresh sizeseg process (bench/compareCheckouts.ts --child: the public API,
 * each step in a step scope, medians of `--steps` steps after a warm-up). Writes the rounds, the medians and the
 * ratios to bench/results/parity-<date>T<hhmmss>.json (issue 24's numbers; runs a minute apart keep their own files).
 *
 *   npx tsx bench/parity.ts [--rounds 5] [--steps 10]
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runPythonPeer } from './peers/python.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const args = process.argv.slice(2);
const opt = (name: string, fallback: number) => {
  const i = args.indexOf(`--${name}`);
  const v = i >= 0 ? Number(args[i + 1]) : fallback;
  if (!Number.isInteger(v) || v < 1) throw new Error(`parity: --${name} wants a whole number ≥ 1, got ${args[i + 1]}`);
  return v;
};
const rounds = opt('rounds', 5);
const steps = opt('steps', 10);
const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const r1 = (v: number) => Math.round(v * 10) / 10;

const torchScript = resolve(root, '../shared/peers/torch/workloads.py');
const rows: Record<string, number>[] = [];
let torchVersion = '';
for (let r = 0; r < rounds; r++) {
  const torch = runPythonPeer(torchScript, ['--threads', '2']);
  if (!torch.ok) {
    // a clone without ../shared, or a machine without python3-torch: say so in one line, no stack trace
    console.error(
      `parity: the PyTorch peer did not run: ${torch.reason}. It needs ../shared/peers/torch/workloads.py and python3-torch (apt-get install -y python3-torch).`,
    );
    process.exit(2);
  }
  torchVersion = String(torch.json['torch']);
  const child = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(here, 'compareCheckouts.ts'), '--child', root, String(steps)],
    {
      cwd: root,
      encoding: 'utf8',
    },
  );
  if (child.status !== 0) throw new Error(`parity: the sizeseg run failed: ${child.stderr}`);
  const s = JSON.parse(child.stdout.trim().split('\n').pop()!) as Record<'W1' | 'W2' | 'W3', number>;
  const row = {
    torch_W1_ms: Number(torch.json['w1_ms']),
    torch_W3_ms: Number(torch.json['w3_ms']),
    sizeseg_W1_ms: r1(s.W1),
    sizeseg_W2_ms: r1(s.W2),
    sizeseg_W3_ms: r1(s.W3),
  };
  rows.push(row);
  console.log(`round ${r + 1}: ${JSON.stringify(row)}`);
}
const med = Object.fromEntries(Object.keys(rows[0]!).map((k) => [k, r1(median(rows.map((row) => row[k]!)))]));
const ratios = {
  W1: Math.round((100 * med['sizeseg_W1_ms']!) / med['torch_W1_ms']!) / 100,
  W3: Math.round((100 * med['sizeseg_W3_ms']!) / med['torch_W3_ms']!) / 100,
};
// PyTorch's own time drifts by a third between runs on this shared machine: the ratio within each round (the two
// measured a few seconds apart) is the steadier number
const paired = (w: 'W1' | 'W3') =>
  Math.round(100 * median(rows.map((row) => row[`sizeseg_${w}_ms`]! / row[`torch_${w}_ms`]!))) / 100;
const pairedRatios = { W1: paired('W1'), W3: paired('W3') };
console.log(
  `medians: ${JSON.stringify(med)}; sizeseg over PyTorch: W1 ${ratios.W1}×, W3 ${ratios.W3}× (median of the rounds' ratios: W1 ${pairedRatios.W1}×, W3 ${pairedRatios.W3}×)`,
);
const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).stdout.trim();
const date = new Date().toISOString();
const out = join(here, 'results', `parity-${date.slice(0, 19).replaceAll(':', '')}.json`);
writeFileSync(
  out,
  `${JSON.stringify(
    {
      what: 'W1 (training step) and W3 (inference), ResUNet-lite, batch 32, 48x32, 2 threads: sizeseg (wasm kernels, steps in scopes; bench/compareCheckouts.ts --child) and PyTorch CPU (../shared/peers/torch/workloads.py, allocator defaults), alternated round by round (bench/parity.ts); issue 24',
      machine: {
        cpu: cpus()[0]?.model ?? 'unknown',
        cores: cpus().length,
        node: process.version,
        torch: torchVersion,
        date,
        code: git,
      },
      steps,
      rounds: rows,
      median: med,
      sizeseg_over_torch: ratios,
      sizeseg_over_torch_median_of_rounds: pairedRatios,
    },
    null,
    2,
  )}\n`,
);
console.log(`wrote ${out}`);
