/**
 * Device check and benchmark of the gpu backend, for the lent GPU machine (one shot, no Node there:
 * see docs/gpu.md). A script, not library code: `npm run build` (its `build:device` step) bundles it with
 * esbuild into dist/device/deviceBench.js, which ../shared/gpu/pack.sh ships with dist/ and the npm
 * package leaves out (package.json `files`). Run it
 *   on the GPU machine:   bash .gpu/run.sh node dist/device/deviceBench.js [--reps N] [--allow-software]
 *   where Node and a GPU are: npx tsx bench/gpu/deviceBench.ts [--reps N] [--out DIR] [--allow-software]
 *
 * 1. Opens WebGPU (refusing software adapters unless --allow-software) and records the adapter.
 * 2. Validates every kernel on small cases — and the benchmark shapes themselves — against float64
 *    references, plus a loop longer than 1000 iterations and a chain of kernels read once.
 * 3. Times conv2d 3×3 (stride 1, padding 1), N = 32: 16→16 at 48×32 and 64→64 at 12×8 —
 *    forward resident (the kernel chained `reps` times on device values, one read at the end),
 *    forward with copy-in/copy-out (upload, run, read back, every call), and forward+backward
 *    (forward, input gradient, filter gradient, bias gradient), each resident.
 *    GFLOP/s = 2·N·O·HO·WO·C·KH·KW / time (backward counts 2× that: input + filter gradients).
 * 4. Times whole training steps of a ResUNet on the device (SPEC's workloads, ../shared/peers/SPEC.md):
 *    W1 supervised step (upload, forward, `await toHost(logits)`, BCE on the host, backward, Adam on the
 *    device), W2 size-loss step (n = 1, fast Lemma-1 on the host), W3 eval-mode inference; the first step
 *    of each (kernel compilation) is timed on its own, and W1's first loss is checked against the cpu
 *    backend's loss for the same weights and batch. `--train-reps 0` skips it.
 * 5. Writes $OUT/gpu-bench.json (and prints it), destroys the device, exits.
 * Every section catches its own errors into the JSON, so one failure does not lose the rest.
 *
 * Flags: --reps N (kernel benches, default 50), --train-reps N (timed steps per workload, default 10; 0
 * skips), --train-widths 16,32,64,128, --train-batch 32, --train-size 48x32, --train-budget-s 180 (stops
 * the timed repetitions early; the JSON says how many ran), --sections kernels,train (default both),
 * --allow-software, --emulate (GPU.js CPU mode, for tests on machines without a GPU), --out DIR.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { noGrad } from '../../src/autograd/engine.js';
import { bceWithLogits } from '../../src/autograd/ops/loss.js';
import { toHost } from '../../src/autograd/ops/transfer.js';
import { Rng } from '../../src/autograd/rng.js';
import { Tensor } from '../../src/autograd/tensor.js';
import { generateSynthetic, makeBatch } from '../../src/data/index.js';
import { sizeLoss } from '../../src/estimators/sizeLossOp.js';
import { Adam } from '../../src/models/optim.js';
import { ResUNet } from '../../src/models/resunet.js';
import '../../src/kernels/js/register.js'; // the host side of a training step (losses) and the cpu reference loss
import { runKernel } from '../../src/autograd/kernel.js';
import { createGpuBackend, type GpuBackend } from '../../src/kernels/gpu/backend.js';
import {
  batchNormTrainRef,
  channelSumsRef,
  conv2dBackpropFilterRef,
  conv2dBackpropInputRef,
  conv2dRef,
  convOutSize,
  maxRelError,
  type S4,
  seededF32,
  upsample2xRef,
} from './reference.js';

interface Check {
  name: string;
  maxRelError: number;
  tolerance: number;
  ok: boolean;
}

interface BenchRow {
  name: string;
  shape: string;
  mode: 'resident' | 'copy-in/copy-out' | 'forward+backward resident' | string;
  reps: number;
  msPerCall: number;
  gflops: number;
  note?: string;
}

/** One timed workload of the training section. */
interface TrainRow {
  workload: 'W1' | 'W2' | 'W3';
  name: string;
  /** The first step alone: it compiles the kernels it meets for the first time (and waits for the device). */
  firstStepMs: number;
  /** Timed steps after the first (fewer than asked when the time budget ran out). */
  reps: number;
  /** Median, min and max of the timed steps; null when none ran. */
  msPerStep: number | null;
  minMs: number | null;
  maxMs: number | null;
  stepsMs: number[];
  imagesPerSec: number | null;
  /** Device activity per timed step (from the context's counters; the final wait for the device excluded). */
  kernelCallsPerStep: number | null;
  readsPerStep: number | null;
  note: string;
}

interface TrainSection {
  config: {
    widths: number[];
    batch: number;
    height: number;
    width: number;
    reps: number;
    budgetS: number;
    parameters: number;
    lr: number;
  };
  /** W1's first loss on the device vs the cpu backend's loss for the same weights and batch. */
  lossCheck: { gpuLoss: number; cpuLoss: number; relError: number; tolerance: number; ok: boolean } | null;
  rows: TrainRow[];
  /** Compiled kernels after the section (all sections so far). */
  compiledKernels: number;
  budgetExhausted: boolean;
  ms: number;
}

interface Report {
  script: string;
  startedAt: string;
  node: string;
  platform: string;
  backend: Record<string, unknown> | null;
  initMs: number | null;
  checks: Check[];
  allChecksOk: boolean;
  benches: BenchRow[];
  transfer: Record<string, number> | null;
  /** The training-step section (null when skipped or when the device did not open). */
  training: TrainSection | null;
  errors: string[];
  totalMs: number;
}

const arg = (argv: readonly string[], name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** A non-negative integer flag, or a clear error naming it. */
function intArg(argv: readonly string[], name: string, fallback: number, min = 0): number {
  const raw = arg(argv, name);
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min) throw new Error(`${name} must be an integer ≥ ${min}, got '${raw}'.`);
  return v;
}

const SECTIONS = ['kernels', 'train'] as const;
type Section = (typeof SECTIONS)[number];

/** The command line of the script, validated before the device is opened. */
export interface BenchOptions {
  reps: number;
  allowSoftware: boolean;
  emulate: boolean;
  outDir: string | undefined;
  sections: Set<Section>;
  train: { reps: number; widths: number[]; batch: number; height: number; width: number; budgetS: number };
}

export function parseBenchArgs(argv: readonly string[]): BenchOptions {
  const sectionsRaw = arg(argv, '--sections');
  const sections = new Set<Section>();
  for (const name of (sectionsRaw ?? SECTIONS.join(','))
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean)) {
    if (!(SECTIONS as readonly string[]).includes(name))
      throw new Error(`--sections: unknown section '${name}'; use a comma-separated list of ${SECTIONS.join(', ')}.`);
    sections.add(name as Section);
  }
  const widthsRaw = arg(argv, '--train-widths') ?? '16,32,64,128';
  const widths = widthsRaw.split(',').map(Number);
  if (widths.length === 0 || widths.some((w) => !Number.isInteger(w) || w < 1))
    throw new Error(`--train-widths must be positive integers separated by commas, got '${widthsRaw}'.`);
  const sizeRaw = arg(argv, '--train-size') ?? '48x32';
  const hw = /^(\d+)x(\d+)$/.exec(sizeRaw);
  // the synthetic images need at least 16×16, and the U-Net halves the size once per extra width
  const minSide = Math.max(16, 2 ** (widths.length - 1));
  if (!hw || Number(hw[1]) < minSide || Number(hw[2]) < minSide)
    throw new Error(`--train-size must be HxW with both sides ≥ ${minSide}, got '${sizeRaw}'.`);
  return {
    reps: intArg(argv, '--reps', 50, 1),
    allowSoftware: argv.includes('--allow-software'),
    emulate: argv.includes('--emulate'),
    outDir: arg(argv, '--out') ?? process.env.OUT,
    sections,
    train: {
      reps: intArg(argv, '--train-reps', 10),
      widths,
      batch: intArg(argv, '--train-batch', 32, 2),
      height: Number(hw[1]),
      width: Number(hw[2]),
      budgetS: intArg(argv, '--train-budget-s', 180, 1),
    },
  };
}

function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * SPEC's W1–W3 on the device (see the module comment). Steps are timed back to back, as in training: a
 * step's kernels are queued and only its `toHost` waits, so step k's interval also covers the tail of
 * step k−1 (backward, Adam); the interval of the last step ends after a read of every weight, which waits
 * for the device to finish. The median of these intervals is the steady-state time per step.
 */
async function trainingSection(
  be: GpuBackend,
  o: BenchOptions['train'],
  fail: (where: string, e: unknown) => void,
): Promise<TrainSection> {
  const t0 = performance.now();
  const deadline = t0 + o.budgetS * 1000;
  const { widths, batch: B, height: H, width: W } = o;
  const lr = 1e-3;
  const ds = generateSynthetic({ count: B, height: H, width: W, seed: 0 });
  const b = makeBatch(
    ds,
    Array.from({ length: B }, (_, i) => i),
  );
  const x = new Tensor(b.images, [B, 1, H, W]);
  const target = new Tensor(Float32Array.from(b.masks), [B, 1, H, W]);
  const model = new ResUNet({ widths, rng: new Rng(0) }).to(be);
  const section: TrainSection = {
    config: {
      widths,
      batch: B,
      height: H,
      width: W,
      reps: o.reps,
      budgetS: o.budgetS,
      parameters: model.parameterCount(),
      lr,
    },
    lossCheck: null,
    rows: [],
    compiledKernels: 0,
    budgetExhausted: false,
    ms: 0,
  };
  const optimizer = new Adam(model.parameters(), { lr });
  const stats = be.context.stats;
  // Waits for every queued kernel that touches the model: reads all weights, buffers (and so the Adam updates).
  const drain = async () => {
    await model.hostStateDict();
  };

  const time = async (
    workload: TrainRow['workload'],
    name: string,
    note: string,
    step: () => Promise<number>,
  ): Promise<number> => {
    const tf = performance.now();
    const first = await step();
    await drain();
    const row: TrainRow = {
      workload,
      name,
      firstStepMs: performance.now() - tf,
      reps: 0,
      msPerStep: null,
      minMs: null,
      maxMs: null,
      stepsMs: [],
      imagesPerSec: null,
      kernelCallsPerStep: null,
      readsPerStep: null,
      note,
    };
    section.rows.push(row);
    console.error(`[gpu-bench] ${workload} ${name}: first step ${row.firstStepMs.toFixed(0)} ms`);
    const marks = [performance.now()];
    const calls0 = stats.kernelCalls;
    const reads0 = stats.reads;
    for (let i = 0; i < o.reps; i++) {
      if (performance.now() > deadline) {
        section.budgetExhausted = true;
        break;
      }
      await step();
      marks.push(performance.now());
    }
    const steps = marks.length - 1;
    if (steps > 0) {
      row.kernelCallsPerStep = (stats.kernelCalls - calls0) / steps;
      row.readsPerStep = (stats.reads - reads0) / steps;
      await drain();
      marks[steps] = performance.now();
      row.stepsMs = marks.slice(1).map((t, i) => t - marks[i]!);
      row.reps = steps;
      row.msPerStep = median(row.stepsMs);
      row.minMs = Math.min(...row.stepsMs);
      row.maxMs = Math.max(...row.stepsMs);
      row.imagesPerSec = (1000 * B) / row.msPerStep!;
      console.error(`[gpu-bench] ${workload} ${name}: median ${row.msPerStep!.toFixed(1)} ms/step over ${steps} steps`);
    }
    return first;
  };

  const sampler = new Rng(0x5eed);
  const trainStep = (loss: (logits: Tensor) => Tensor) => async (): Promise<number> => {
    optimizer.zeroGrad();
    const logits = model.forward(be.upload(x));
    const value = loss(await toHost(logits));
    const v = value.item();
    value.backward();
    optimizer.step();
    return v;
  };

  // W1 first: its first loss is computed from the initial weights, which the cpu reference also has.
  try {
    model.train();
    const gpuLoss = await time(
      'W1',
      'supervised step (BCE, Adam)',
      'upload batch, forward on device, toHost(logits), BCE on host, backward, Adam on device',
      trainStep((logits) => bceWithLogits(logits, target)),
    );
    const reference = new ResUNet({ widths, rng: new Rng(0) }); // the same initial weights, on the cpu backend
    const cpuLoss = noGrad(() => bceWithLogits(reference.forward(x), target).item());
    const relError = Math.abs(gpuLoss - cpuLoss) / Math.max(Math.abs(cpuLoss), 1e-12);
    section.lossCheck = { gpuLoss, cpuLoss, relError, tolerance: 1e-4, ok: relError <= 1e-4 };
    console.error(
      `[gpu-bench] W1 first loss: gpu ${gpuLoss} cpu ${cpuLoss} (rel ${relError.toExponential(2)}) ${relError <= 1e-4 ? 'ok' : 'FAIL'}`,
    );
  } catch (e) {
    fail('train W1', e);
  }
  try {
    model.train();
    await time(
      'W2',
      'size-loss step (n=1, fast Lemma-1, Adam)',
      'as W1 with the size loss on the host: masks sampled from the read logits, one Lemma-1 sample per image',
      trainStep((logits) => sizeLoss(logits, b.sizes, { rng: sampler, samples: 1, method: 'fast' })),
    );
  } catch (e) {
    fail('train W2', e);
  }
  try {
    model.eval();
    await time('W3', 'inference (eval mode)', 'upload batch, forward in eval mode, read the logits back', async () => {
      const logits = noGrad(() => model.forward(be.upload(x)));
      const values = await logits.data();
      return values[0] ?? 0;
    });
  } catch (e) {
    fail('train W3', e);
  } finally {
    model.train();
  }
  section.compiledKernels = be.context.kernelCount;
  section.ms = performance.now() - t0;
  return section;
}

function convFlops(xs: S4, ws: S4, s: number, p: number): number {
  const [N, C, H, W] = xs;
  const [O, , KH, KW] = ws;
  return 2 * N * O * convOutSize(H, KH, s, p) * convOutSize(W, KW, s, p) * C * KH * KW;
}

export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<Report> {
  const t0 = performance.now();
  const options = parseBenchArgs(argv);
  const { reps, allowSoftware, outDir } = options;
  const report: Report = {
    script: 'dist/device/deviceBench.js',
    startedAt: new Date().toISOString(),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    backend: null,
    initMs: null,
    checks: [],
    allChecksOk: false,
    benches: [],
    transfer: null,
    training: null,
    errors: [],
    totalMs: 0,
  };
  const fail = (where: string, e: unknown) => {
    const msg = `${where}: ${e instanceof Error ? e.message : String(e)}`;
    report.errors.push(msg);
    console.error(`[gpu-bench] ERROR ${msg}`);
  };

  let backend: GpuBackend | null = null;
  try {
    const b = createGpuBackend({ mode: options.emulate ? 'cpu' : 'webgpu', allowSoftwareAdapter: allowSoftware });
    const ti = performance.now();
    await b.init();
    report.initMs = performance.now() - ti;
    backend = b;
    report.backend = b.info();
    console.error(`[gpu-bench] adapter: ${JSON.stringify(b.context.adapter)} (init ${report.initMs.toFixed(0)} ms)`);
  } catch (e) {
    fail('init', e);
  }

  if (backend) {
    const be = backend;
    const up = (a: Float32Array, s: readonly number[]) => be.upload(new Tensor(a, s));
    const one = (name: string, inputs: Tensor[], attrs: Record<string, unknown> = {}) =>
      runKernel(name, inputs, attrs)[0] as Tensor;
    const check = async (name: string, t: Tensor, want: ArrayLike<number>, tolerance: number) => {
      try {
        const got = await t.data();
        const err = maxRelError(got, want);
        report.checks.push({ name, maxRelError: err, tolerance, ok: err <= tolerance });
        console.error(
          `[gpu-bench] check ${name}: max rel error ${err.toExponential(2)} ${err <= tolerance ? 'ok' : 'FAIL'}`,
        );
      } catch (e) {
        report.checks.push({ name, maxRelError: Infinity, tolerance, ok: false });
        fail(`check ${name}`, e);
      }
    };

    if (options.sections.has('kernels')) {
      // ---- 2. correctness ----------------------------------------------------------------------------
      try {
        for (const [xs, ws, s, p] of [
          [[2, 3, 7, 5], [4, 3, 3, 3], 1, 1],
          [[2, 3, 7, 5], [4, 3, 3, 3], 2, 1],
          [[1, 4, 9, 6], [3, 4, 1, 1], 2, 0],
        ] as [S4, S4, number, number][]) {
          const tag = `x[${xs}] w[${ws}] s${s} p${p}`;
          const x = seededF32(size(xs), 1),
            w = seededF32(size(ws), 2),
            bias = seededF32(ws[0], 3);
          const xt = up(x, xs),
            wt = up(w, ws);
          const y = one('Conv2D', [xt, wt, up(bias, [ws[0]])], { stride: s, padding: p });
          await check(`Conv2D ${tag}`, y, conv2dRef(x, xs, w, ws, bias, s, p), 1e-5);
          const ys = y.shape as unknown as S4;
          const dy = seededF32(size(ys), 4);
          const dyt = up(dy, ys);
          await check(
            `Conv2DBackpropInput ${tag}`,
            one('Conv2DBackpropInput', [dyt, wt], { stride: s, padding: p, xShape: xs }),
            conv2dBackpropInputRef(dy, w, xs, ws, s, p),
            1e-5,
          );
          await check(
            `Conv2DBackpropFilter ${tag}`,
            one('Conv2DBackpropFilter', [dyt, xt], { stride: s, padding: p, wShape: ws }),
            conv2dBackpropFilterRef(dy, x, xs, ws, s, p),
            1e-5,
          );
          await check(`Conv2DBackpropBias ${tag}`, one('Conv2DBackpropBias', [dyt]), channelSumsRef(dy, ys), 1e-5);
        }
        // loops longer than 1000 iterations: 1100 input channels; bias gradient over 48×32 = 1536-pixel planes
        {
          const xs: S4 = [1, 1100, 2, 3],
            ws: S4 = [2, 1100, 1, 1];
          const x = seededF32(size(xs), 5),
            w = seededF32(size(ws), 6);
          await check(
            'Conv2D C=1100 (loop > 1000)',
            one('Conv2D', [up(x, xs), up(w, ws)], { stride: 1, padding: 0 }),
            conv2dRef(x, xs, w, ws, null, 1, 0),
            1e-5,
          );
          const dys: S4 = [2, 3, 48, 32];
          const dy = seededF32(size(dys), 7);
          await check(
            'Conv2DBackpropBias plane 1536 (loop > 1000)',
            one('Conv2DBackpropBias', [up(dy, dys)]),
            channelSumsRef(dy, dys),
            1e-5,
          );
        }
        // a chain read once: conv → batch norm (training) → relu → upsample
        {
          const xs: S4 = [2, 3, 6, 5],
            ws: S4 = [4, 3, 3, 3];
          const x = seededF32(size(xs), 8),
            w = seededF32(size(ws), 9),
            g = seededF32(4, 10, 0.5),
            bta = seededF32(4, 11);
          const c = one('Conv2D', [up(x, xs), up(w, ws)], { stride: 1, padding: 1 });
          const [bn] = runKernel(
            'BatchNorm2D',
            [c, up(g, [4]), up(bta, [4]), up(new Float32Array(4), [4]), up(new Float32Array(4).fill(1), [4])],
            {
              training: true,
              momentum: 0.1,
              eps: 1e-5,
            },
          );
          const y = one('UpsampleNearest2x', [one('Relu', [bn as Tensor])]);
          const cs: S4 = [2, 4, 6, 5];
          const want = upsample2xRef(
            batchNormTrainRef(conv2dRef(x, xs, w, ws, null, 1, 1), cs, g, bta, 1e-5).map((v) => Math.max(v, 0)),
            cs,
          );
          await check('chain conv→bn→relu→upsample', y, want, 1e-4);
        }
      } catch (e) {
        fail('correctness', e);
      }

      // ---- 3. benchmarks -----------------------------------------------------------------------------
      const shapes: { name: string; xs: S4; ws: S4 }[] = [
        { name: 'conv3x3 16->16 48x32', xs: [32, 16, 48, 32], ws: [16, 16, 3, 3] },
        { name: 'conv3x3 64->64 12x8', xs: [32, 64, 12, 8], ws: [64, 64, 3, 3] },
      ];
      for (const { name, xs, ws } of shapes) {
        const shape = `N=${xs[0]} x[${xs}] w[${ws}] s1 p1`;
        const flops = convFlops(xs, ws, 1, 1);
        const attrs = { stride: 1, padding: 1 };
        const C = xs[1];
        // |w| ~ U(-a, a) with a = sqrt(3 / (C·9)) keeps activations O(1) through a chain of convs
        const x = seededF32(size(xs), 21),
          w = seededF32(size(ws), 22, Math.sqrt(3 / (C * 9))),
          bias = seededF32(ws[0], 23, 0.1);
        try {
          const xt = up(x, xs),
            wt = up(w, ws),
            bt = up(bias, [ws[0]]);
          // warm-up (compiles the kernels) and validation at the benchmark shape
          const y1 = one('Conv2D', [xt, wt, bt], attrs);
          await check(`Conv2D ${name} (benchmark shape)`, y1, conv2dRef(x, xs, w, ws, bias, 1, 1), 1e-5);
          const dy = seededF32(size(xs), 24);
          const dyt = up(dy, xs);
          await check(
            `Conv2DBackpropInput ${name}`,
            one('Conv2DBackpropInput', [dyt, wt], { ...attrs, xShape: xs }),
            conv2dBackpropInputRef(dy, w, xs, ws, 1, 1),
            1e-5,
          );
          await check(
            `Conv2DBackpropFilter ${name}`,
            one('Conv2DBackpropFilter', [dyt, xt], { ...attrs, wShape: ws }),
            conv2dBackpropFilterRef(dy, x, xs, ws, 1, 1),
            1e-4,
          );
          await one('Conv2DBackpropBias', [dyt]).data();

          // forward, resident: y ← conv(y) `reps` times, one read at the end
          {
            let y = xt;
            const t = performance.now();
            for (let i = 0; i < reps; i++) y = one('Conv2D', [y, wt, bt], attrs);
            await y.data();
            const ms = (performance.now() - t) / reps;
            report.benches.push({
              name,
              shape,
              mode: 'resident',
              reps,
              msPerCall: ms,
              gflops: flops / ms / 1e6,
              note: 'chained on device values, one read at the end (included)',
            });
          }
          // forward, copy-in/copy-out: upload x, run, read back, every call
          {
            const r = Math.max(5, Math.floor(reps / 5));
            const t = performance.now();
            for (let i = 0; i < r; i++) await one('Conv2D', [up(x, xs), wt, bt], attrs).data();
            const ms = (performance.now() - t) / r;
            report.benches.push({
              name,
              shape,
              mode: 'copy-in/copy-out',
              reps: r,
              msPerCall: ms,
              gflops: flops / ms / 1e6,
              note: 'upload + kernel + readback per call',
            });
          }
          // forward + backward, resident
          {
            const r = Math.max(5, Math.floor(reps / 5));
            let last: Tensor[] = [];
            const t = performance.now();
            for (let i = 0; i < r; i++) {
              const y = one('Conv2D', [xt, wt, bt], attrs);
              const dx = one('Conv2DBackpropInput', [y, wt], { ...attrs, xShape: xs });
              const dw = one('Conv2DBackpropFilter', [y, xt], { ...attrs, wShape: ws });
              const db = one('Conv2DBackpropBias', [y]);
              last = [dx, dw, db];
            }
            await Promise.all(last.map((v) => v.data()));
            const ms = (performance.now() - t) / r;
            report.benches.push({
              name,
              shape,
              mode: 'forward+backward resident',
              reps: r,
              msPerCall: ms,
              gflops: (3 * flops) / ms / 1e6,
              note: 'fwd + dX + dW + db per step, 3 conv-equivalents of FLOPs',
            });
          }
          // each gradient kernel alone, resident
          for (const [kname, run] of [
            ['Conv2DBackpropInput', () => one('Conv2DBackpropInput', [dyt, wt], { ...attrs, xShape: xs })],
            ['Conv2DBackpropFilter', () => one('Conv2DBackpropFilter', [dyt, xt], { ...attrs, wShape: ws })],
          ] as [string, () => Tensor][]) {
            const r = Math.max(5, Math.floor(reps / 5));
            let last: Tensor | null = null;
            const t = performance.now();
            for (let i = 0; i < r; i++) last = run();
            await last!.data();
            const ms = (performance.now() - t) / r;
            report.benches.push({
              name: `${kname} ${name}`,
              shape,
              mode: 'resident',
              reps: r,
              msPerCall: ms,
              gflops: flops / ms / 1e6,
              note: 'independent calls, one read at the end',
            });
          }
        } catch (e) {
          fail(`bench ${name}`, e);
        }
      }
      // transfer: 3 MiB upload + readback
      try {
        const n = (3 * 1024 * 1024) / 4;
        const a = seededF32(n, 31);
        await up(a, [n]).data();
        const r = 10;
        const t = performance.now();
        for (let i = 0; i < r; i++) await up(a, [n]).data();
        report.transfer = { bytes: n * 4, msPerRoundTrip: (performance.now() - t) / r };
      } catch (e) {
        fail('transfer', e);
      }
    }

    // ---- 4. training steps ------------------------------------------------------------------------
    if (options.sections.has('train') && options.train.reps > 0) {
      try {
        report.training = await trainingSection(be, options.train, fail);
      } catch (e) {
        fail('training', e);
      }
    }
    report.backend = backend.info();
    try {
      await backend.destroy();
    } catch (e) {
      fail('destroy', e);
    }
  }

  const lossCheck = report.training?.lossCheck;
  if (lossCheck)
    report.checks.push({
      name: 'W1 first-step loss, gpu vs cpu backend',
      maxRelError: lossCheck.relError,
      tolerance: lossCheck.tolerance,
      ok: lossCheck.ok,
    });
  report.allChecksOk = report.checks.length > 0 && report.checks.every((c) => c.ok);
  report.totalMs = performance.now() - t0;
  const json = JSON.stringify(report, null, 2);
  console.log(json);
  if (outDir) {
    try {
      writeFileSync(join(outDir, 'gpu-bench.json'), json);
      console.error(`[gpu-bench] wrote ${join(outDir, 'gpu-bench.json')}`);
    } catch (e) {
      console.error(`[gpu-bench] could not write ${outDir}/gpu-bench.json: ${(e as Error).message}`);
    }
  }
  return report;
}

const isEntry = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isEntry) {
  main().then(
    (report) => {
      process.exitCode = report.errors.length === 0 && report.allChecksOk ? 0 : 1;
      // The device is destroyed; if some handle still keeps Node alive, say so and leave anyway.
      setTimeout(() => {
        console.error(
          '[gpu-bench] warning: the process did not exit by itself 10 s after the device was destroyed; exiting.',
        );
        process.exit(process.exitCode ?? 1);
      }, 10_000).unref();
    },
    (e: unknown) => {
      console.error(`[gpu-bench] fatal: ${e instanceof Error ? e.stack : String(e)}`);
      process.exit(2);
    },
  );
}
