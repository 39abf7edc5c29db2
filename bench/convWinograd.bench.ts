/**
 * Direct against Winograd F(2×2, 3×3) (src/kernels/wasm/winograd.ts) and F(4×4, 3×3) (winograd4.ts; the weight
 * gradient: winograd4WeightGrad.ts) on the WebAssembly kernels, in the same run and alternated sample by sample (this machine is shared: only ratios measured side by side
 * mean something):
 *
 * - per 3×3 stride-1 shape of ResUNet-lite (bench/_resunet.ts, batch 32), forward pass, input gradient and
 *   weight gradient, on 1 and 2 threads: medians, GFLOP/s-equivalent (the direct algorithm's FLOPs over the time), the ratio
 *   direct / Winograd, the multiplications each does (Winograd's include the tiles it pads a row to), and
 *   what 'auto' picks;
 * - the whole network: W1 (a supervised training step) and W3 (inference) of ../shared/peers/SPEC.md with
 *   setConvAlgorithm('direct' | 'auto' | 'winograd') in turn, step by step: wall time on the default threads,
 *   and the process's CPU time on one thread (which other work on the cores disturbs less).
 *
 *   npm run bench -- convWinograd      (also run by `npm run bench -- conv`; SIZESEG_BENCH_QUICK=1: a smoke run)
 *   npx tsx bench/convWinograd.bench.ts --shapes --threads 2    (the per-layer table only, on 2 threads)
 *   npx tsx bench/convWinograd.bench.ts --shapes --pass weight  (one pass only: forward, input or weight)
 */
import { bceWithLogits, noGrad, openStepArena, withStepArena } from '../src/index.js';
import { allocate } from '../src/autograd/dtype.js';
import type { Shape4 } from '../src/kernels/js/index.js';
import { conv2dBackwardInputWasm, conv2dBackwardWeightWasm, conv2dForwardWasm } from '../src/kernels/wasm/conv2d.js';
import { wasmSimdAvailable } from '../src/kernels/wasm/runtime.js';
import { getNumThreads, setNumThreads } from '../src/kernels/wasm/threads.js';
import { winogradSpec } from '../src/kernels/wasm/winograd.js';
import { winograd4Spec, XI4 } from '../src/kernels/wasm/winograd4.js';
import { weightGrad4Spec } from '../src/kernels/wasm/winograd4WeightGrad.js';
import {
  conv2dBackwardInputWinograd,
  conv2dBackwardWeightWinograd,
  conv2dForwardWinograd,
  getConvAlgorithm,
  setConvAlgorithm,
  winogradForwardChosen,
  winogradInputGradChosen,
  winogradTileFor,
  winogradWeightGradChosen,
  winogradWeightGradTileFor,
  type ConvAlgorithm,
} from '../src/kernels/wasm/winogradConv.js';
import { RESUNET_CONVS, convFlops, workloadSetup } from './_resunet.js';
import { gflops, isMain, quickRun, r2, randF32, runConditions, startLoadProbe, uniformSource } from './_util.js';

const medianOf = (v: number[]): number => {
  const s = [...v].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 === 1 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
};

type Pass = 'forward' | 'input grad' | 'weight grad';
const ROUNDS = quickRun ? 1 : 5;
const PER_ROUND = quickRun ? 2 : 5;

/** Milliseconds of wall time. */
const wallClock = (): number => performance.now();
/** Milliseconds of CPU time of this process (all its threads): steadier than wall time when other work shares the cores. */
const cpuClock = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** Alternates the functions sample by sample (each in a fresh step arena, as a training step runs them); ms samples. */
function alternate(
  fns: Record<string, () => void>,
  rounds: number,
  perRound: number,
  clock: () => number = wallClock,
): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const [, fn] of Object.entries(fns)) withStepArena(fn); // warm up: generate and compile the kernels
  for (let r = 0; r < rounds * perRound; r++) {
    for (const [name, fn] of Object.entries(fns)) {
      const a = openStepArena();
      const t = clock();
      fn();
      (out[name] ??= []).push(clock() - t);
      a.close();
    }
  }
  return out;
}

interface ShapeResult {
  shape: string;
  uses: string;
  pass: Pass;
  threads: number;
  direct_ms: number;
  winograd_ms: number;
  /** F(4×4, 3×3) */
  winograd4_ms: number | null;
  direct_gflops: number;
  winograd_gflops_equivalent: number;
  /** direct time / Winograd time from the medians (> 1: Winograd faster) */
  speedup: number;
  /** the median of the ratios of neighbouring samples (direct, then Winograd): steadier under a drifting load */
  speedup_paired: number;
  /** F(2×2) time / F(4×4) time, the median of neighbouring pairs (> 1: F(4×4) faster) */
  speedup4_over_2_paired: number | null;
  /** direct time / F(4×4) time, the median of neighbouring pairs */
  speedup4_paired: number | null;
  multiplications_direct: number;
  multiplications_winograd: number;
  /** direct / Winograd multiplications */
  multiplications_ratio: number;
  /** F(4×4)'s multiplications (the tiles an item pads to 8 included) */
  multiplications_winograd4: number | null;
  auto_picks: 'winograd' | 'winograd4' | 'direct';
}

function perShape(threads: number, rng: () => number, passes: readonly Pass[]): ShapeResult[] {
  setNumThreads(threads);
  const results: ShapeResult[] = [];
  const saved = getConvAlgorithm();
  for (const c of RESUNET_CONVS) {
    if (c.k !== 3 || c.s !== 1) continue;
    const xShape: Shape4 = [c.N, c.C, c.H, c.W],
      wShape: Shape4 = [c.O, c.C, 3, 3],
      yShape: Shape4 = [c.N, c.O, c.H, c.W];
    const opts = { stride: 1, padding: 1 };
    const x0 = randF32(rng, c.N * c.C * c.H * c.W),
      w = randF32(rng, c.O * c.C * 9),
      dy0 = randF32(rng, c.N * c.O * c.H * c.W);
    for (const pass of passes) {
      // the stem's input gradient is never computed (the images need no gradient)
      if (pass === 'input grad' && c.uses === 'stem') continue;
      // operands in a step arena (read in place), as in a training step; each sample opens an arena inside it
      // for its result
      const outer = openStepArena();
      const inArena = (a: Float32Array) => {
        const v = allocate('float32', a.length) as Float32Array;
        v.set(a);
        return v;
      };
      const x = inArena(x0),
        dy = inArena(dy0);
      const fns: Record<string, () => void> = (
        {
          forward: {
            direct: () => void conv2dForwardWasm(x, xShape, w, wShape, null, opts),
            winograd: () => void conv2dForwardWinograd(x, xShape, w, wShape, null, opts, false, 2),
            winograd4: () => void conv2dForwardWinograd(x, xShape, w, wShape, null, opts, false, 4),
          },
          'input grad': {
            direct: () => void conv2dBackwardInputWasm(dy, yShape, w, wShape, xShape, opts),
            winograd: () => void conv2dBackwardInputWinograd(dy, yShape, w, wShape, xShape, opts, 2),
            winograd4: () => void conv2dBackwardInputWinograd(dy, yShape, w, wShape, xShape, opts, 4),
          },
          'weight grad': {
            direct: () => void conv2dBackwardWeightWasm(dy, yShape, x, xShape, wShape, opts),
            winograd: () => void conv2dBackwardWeightWinograd(dy, yShape, x, xShape, wShape, opts, 2),
            winograd4: () => void conv2dBackwardWeightWinograd(dy, yShape, x, xShape, wShape, opts, 4),
          },
        } as Record<Pass, Record<string, () => void>>
      )[pass];
      const t = alternate(fns, ROUNDS, PER_ROUND);
      outer.close();
      const d = medianOf(t.direct!),
        wi = medianOf(t.winograd!);
      // the products reduce over the input's channels forward, the output's for the input gradient (the weight
      // gradient's are output × input channels, as the forward pass's)
      const [C, O] = pass === 'input grad' ? [c.O, c.C] : [c.C, c.O];
      const spec = winogradSpec(c.N, C, O, c.H, c.W, false, false);
      const mulDirect = c.N * O * c.H * c.W * C * 9;
      const mulWinograd = c.N * spec.tH * spec.tWp * 16 * O * C;
      const spec4 =
        pass === 'weight grad'
          ? weightGrad4Spec(c.N, C, O, c.H, c.W)
          : winograd4Spec(c.N, C, O, c.H, c.W, false, false);
      const w4 = t.winograd4;
      const paired = (a: number[], b: number[]) => r2(medianOf(a.map((v, i) => v / b[i]!)));
      setConvAlgorithm('auto');
      const chosen = {
        forward: winogradForwardChosen,
        'input grad': winogradInputGradChosen,
        'weight grad': winogradWeightGradChosen,
      };
      const auto = chosen[pass](xShape, wShape, opts);
      // which tile 'auto' takes (C, O: the pass's own, as above)
      const autoTile4 =
        auto && (pass === 'weight grad' ? winogradWeightGradTileFor : winogradTileFor)(C, O, c.H, c.W) === 4;
      setConvAlgorithm(saved);
      results.push({
        shape: c.name,
        uses: c.uses,
        pass,
        threads,
        direct_ms: r2(d),
        winograd_ms: r2(wi),
        winograd4_ms: w4 === undefined ? null : r2(medianOf(w4)),
        direct_gflops: gflops(convFlops(c), d),
        winograd_gflops_equivalent: gflops(convFlops(c), wi),
        speedup: r2(d / wi),
        speedup_paired: paired(t.direct!, t.winograd!),
        speedup4_over_2_paired: w4 === undefined ? null : paired(t.winograd!, w4),
        speedup4_paired: w4 === undefined ? null : paired(t.direct!, w4),
        multiplications_direct: mulDirect,
        multiplications_winograd: mulWinograd,
        multiplications_ratio: r2(mulDirect / mulWinograd),
        multiplications_winograd4: w4 === undefined ? null : (c.N / spec4.g) * spec4.blocks * spec4.Pg * XI4 * O * C,
        auto_picks: autoTile4 ? 'winograd4' : auto ? 'winograd' : 'direct',
      });
    }
  }
  return results;
}

/** W1 and W3 with each algorithm, alternated step by step; medians in ms of `clock`. */
function workloads(clock: () => number): Record<string, Record<ConvAlgorithm, number>> {
  const saved = getConvAlgorithm();
  const algorithms: ConvAlgorithm[] = ['direct', 'auto', 'winograd', 'winograd4'];
  const { x, target, model, opt } = workloadSetup();
  const w1 = () => {
    opt.zeroGrad();
    bceWithLogits(model.forward(x), target).backward();
    opt.step();
  };
  const w3 = () => noGrad(() => void model.forward(x));
  const out: Record<string, Record<ConvAlgorithm, number>> = {};
  try {
    for (const [name, fn, mode, n] of [
      ['W1', w1, 'train', quickRun ? 2 : 15],
      ['W3', w3, 'eval', quickRun ? 2 : 21],
    ] as const) {
      if (mode === 'train') model.train();
      else model.eval();
      const fns: Record<string, () => void> = {};
      for (const a of algorithms)
        fns[a] = () => {
          setConvAlgorithm(a);
          fn();
        };
      const t = alternate(fns, 1, n, clock);
      out[name] = Object.fromEntries(algorithms.map((a) => [a, r2(medianOf(t[a]!))])) as Record<ConvAlgorithm, number>;
    }
  } finally {
    setConvAlgorithm(saved);
  }
  return out;
}

const PASSES: readonly Pass[] = ['forward', 'input grad', 'weight grad'];

/**
 * `threads`: the thread counts of the per-layer table; `passes`: the passes it measures; `workloads`: false skips
 * the whole network.
 */
export async function run({
  threads = [1, 2],
  passes = PASSES,
  workloads: withWorkloads = true,
}: {
  threads?: number[];
  passes?: readonly Pass[];
  workloads?: boolean;
} = {}): Promise<Record<string, unknown>> {
  if (!wasmSimdAvailable()) return { skipped: 'this JavaScript engine has no WebAssembly SIMD' };
  const saved = getNumThreads();
  const otherLoad = startLoadProbe();
  const rng = uniformSource(7);
  try {
    // touch the arena's memory once: first-touch page faults belong to no measured pass
    withStepArena(() => void allocate('float32', 48 << 20));
    const shapes = threads.flatMap((n) => perShape(n, rng, passes));
    console.table(
      shapes.map((s) => ({
        shape: s.shape,
        pass: s.pass,
        T: s.threads,
        'direct ms': s.direct_ms,
        'winograd ms': s.winograd_ms,
        'direct GFLOP/s': s.direct_gflops,
        'winograd GFLOP/s-eq': s.winograd_gflops_equivalent,
        'direct/winograd': s.speedup,
        paired: s.speedup_paired,
        'winograd4 ms': s.winograd4_ms ?? '',
        'F2/F4 paired': s.speedup4_over_2_paired ?? '',
        'direct/F4 paired': s.speedup4_paired ?? '',
        'mults saved': `${s.multiplications_ratio}×`,
        'F4 mults saved':
          s.multiplications_winograd4 === null ? '' : `${r2(s.multiplications_direct / s.multiplications_winograd4)}×`,
        auto: s.auto_picks,
      })),
    );
    setNumThreads(saved);
    if (!withWorkloads) return { ...runConditions(otherLoad()), batch: 32, shapes };
    // the whole network: wall time on the default threads, and CPU time on one thread (steadier under load)
    const w = workloads(wallClock);
    setNumThreads(1);
    const cpu1 = workloads(cpuClock);
    setNumThreads(saved);
    const rows = (label: string, r: Record<string, Record<ConvAlgorithm, number>>) =>
      Object.entries(r).map(([name, ms]) => ({
        workload: `${name} ${label}`,
        'direct ms': ms.direct,
        'auto ms': ms.auto,
        'winograd ms': ms.winograd,
        'winograd4 ms': ms.winograd4,
        'direct/auto': r2(ms.direct / ms.auto),
        'direct/winograd': r2(ms.direct / ms.winograd),
        'direct/winograd4': r2(ms.direct / ms.winograd4),
      }));
    console.table([...rows(`wall, ${getNumThreads()} threads`, w), ...rows('CPU time, 1 thread', cpu1)]);
    console.log(
      "(medians of samples alternated direct/auto/Winograd; GFLOP/s-eq = the direct algorithm's FLOPs / time)",
    );
    return {
      ...runConditions(otherLoad()),
      batch: 32,
      threads_workloads: getNumThreads(),
      shapes,
      workloads_ms: w,
      workloads_cpu_ms_1_thread: cpu1,
    };
  } finally {
    setNumThreads(saved);
  }
}

if (isMain(import.meta.url)) {
  const args = process.argv.slice(2);
  const at = args.indexOf('--threads');
  const passAt = args.indexOf('--pass');
  const pass = passAt >= 0 ? PASSES.find((p) => p.startsWith(args[passAt + 1] ?? '-')) : undefined;
  if (passAt >= 0 && pass === undefined) {
    console.error(`convWinograd: --pass wants forward, input or weight, got ${args[passAt + 1]}`);
    process.exit(2);
  }
  await run({
    threads: at >= 0 ? [Number(args[at + 1])] : undefined,
    passes: pass === undefined ? undefined : [pass],
    workloads: !args.includes('--shapes'),
  });
}
