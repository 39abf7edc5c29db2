/**
 * Convolution benchmark (tinybench): naive 7-loop conv vs our implicit-GEMM conv, forward with 1 and
 * 2 threads, backward (input + weight), on the canonical ResUNet-lite shapes (batch 32, float32),
 * plus every conv layer of the model (2 threads) for the whole-model picture.
 *
 *   npx tsx bench/conv.bench.ts
 *
 * Targets (docs/brief): forward ≥ 3× naive and ≥ 5 GFLOP/s on 2 threads; backward (input + weight)
 * within 2× of the forward time. Note: timings are sensitive to other load on the machine.
 */
import { Bench } from 'tinybench';
import { fastest, gflops, median, r2, randF32, startLoadProbe, uniformSource, isMain } from './_util.js';
import {
  conv2dBackwardInput, conv2dBackwardWeight, conv2dForward, conv2dNaive, getNumThreads, setNumThreads,
} from '../src/kernels/cpu/index.js';
import type { Shape4 } from '../src/kernels/cpu/index.js';

interface ConvCase {
  name: string;
  N: number; C: number; H: number; W: number; O: number; k: number; s: number; p: number;
}

const MAIN_CASES: ConvCase[] = [
  { name: '16→16 3×3 48×32', N: 32, C: 16, H: 48, W: 32, O: 16, k: 3, s: 1, p: 1 },
  { name: '64→64 3×3 12×8', N: 32, C: 64, H: 12, W: 8, O: 64, k: 3, s: 1, p: 1 },
];

/** Every convolution of ResUNet-lite (SPEC.md), batch 32; input sizes are the layer's input. */
const MODEL_LAYERS: ConvCase[] = [
  { name: 'stem 1→16 3×3', N: 32, C: 1, H: 48, W: 32, O: 16, k: 3, s: 1, p: 1 },
  { name: 'E1 16→16 3×3 (×2)', N: 32, C: 16, H: 48, W: 32, O: 16, k: 3, s: 1, p: 1 },
  { name: 'E2 16→32 3×3 s2', N: 32, C: 16, H: 48, W: 32, O: 32, k: 3, s: 2, p: 1 },
  { name: 'E2 32→32 3×3', N: 32, C: 32, H: 24, W: 16, O: 32, k: 3, s: 1, p: 1 },
  { name: 'E2 proj 16→32 1×1 s2', N: 32, C: 16, H: 48, W: 32, O: 32, k: 1, s: 2, p: 0 },
  { name: 'E3 32→64 3×3 s2', N: 32, C: 32, H: 24, W: 16, O: 64, k: 3, s: 2, p: 1 },
  { name: 'E3 64→64 3×3', N: 32, C: 64, H: 12, W: 8, O: 64, k: 3, s: 1, p: 1 },
  { name: 'E3 proj 32→64 1×1 s2', N: 32, C: 32, H: 24, W: 16, O: 64, k: 1, s: 2, p: 0 },
  { name: 'E4 64→128 3×3 s2', N: 32, C: 64, H: 12, W: 8, O: 128, k: 3, s: 2, p: 1 },
  { name: 'E4 128→128 3×3', N: 32, C: 128, H: 6, W: 4, O: 128, k: 3, s: 1, p: 1 },
  { name: 'E4 proj 64→128 1×1 s2', N: 32, C: 64, H: 12, W: 8, O: 128, k: 1, s: 2, p: 0 },
  { name: 'D3 192→64 3×3', N: 32, C: 192, H: 12, W: 8, O: 64, k: 3, s: 1, p: 1 },
  { name: 'D3 64→64 3×3', N: 32, C: 64, H: 12, W: 8, O: 64, k: 3, s: 1, p: 1 },
  { name: 'D2 96→32 3×3', N: 32, C: 96, H: 24, W: 16, O: 32, k: 3, s: 1, p: 1 },
  { name: 'D2 32→32 3×3', N: 32, C: 32, H: 24, W: 16, O: 32, k: 3, s: 1, p: 1 },
  { name: 'D1 48→16 3×3', N: 32, C: 48, H: 48, W: 32, O: 16, k: 3, s: 1, p: 1 },
  { name: 'D1 16→16 3×3', N: 32, C: 16, H: 48, W: 32, O: 16, k: 3, s: 1, p: 1 },
  { name: 'head 16→1 1×1', N: 32, C: 16, H: 48, W: 32, O: 1, k: 1, s: 1, p: 0 },
];

/** How many times each MODEL_LAYERS entry occurs in one forward pass. */
const LAYER_COUNT: Record<string, number> = { 'E1 16→16 3×3 (×2)': 2 };



interface Prepared {
  c: ConvCase;
  xShape: Shape4; wShape: Shape4; outShape: Shape4;
  x: Float32Array; w: Float32Array; dy: Float32Array;
  opts: { stride: number; padding: number };
  flops: number;
}

function prepare(c: ConvCase, rng: () => number): Prepared {
  const xShape: Shape4 = [c.N, c.C, c.H, c.W];
  const wShape: Shape4 = [c.O, c.C, c.k, c.k];
  const HO = Math.floor((c.H + 2 * c.p - c.k) / c.s) + 1;
  const WO = Math.floor((c.W + 2 * c.p - c.k) / c.s) + 1;
  const outShape: Shape4 = [c.N, c.O, HO, WO];
  return {
    c, xShape, wShape, outShape,
    x: randF32(rng, c.N * c.C * c.H * c.W),
    w: randF32(rng, c.O * c.C * c.k * c.k),
    dy: randF32(rng, c.N * c.O * HO * WO),
    opts: { stride: c.s, padding: c.p },
    flops: 2 * c.N * c.O * HO * WO * c.C * c.k * c.k,
  };
}





export async function run(): Promise<Record<string, unknown>> {
  const saved = getNumThreads();
  const otherLoad = startLoadProbe();
  const rng = uniformSource(2024);
  const rows: Record<string, string | number>[] = [];
  const summary: Record<string, unknown>[] = [];
  const threads = (n: number) => ({ beforeAll: () => setNumThreads(n) });
  try {
    for (const c of MAIN_CASES) {
      const d = prepare(c, rng);
      const fwd = () => conv2dForward(d.x, d.xShape, d.w, d.wShape, null, d.opts);
      const bIn = () => conv2dBackwardInput(d.dy, d.outShape, d.w, d.wShape, d.xShape, d.opts);
      const bW = () => conv2dBackwardWeight(d.dy, d.outShape, d.x, d.xShape, d.wShape, d.opts);

      const naiveBench = new Bench({ name: `${c.name} naive`, iterations: 3, time: 0, warmupIterations: 1, warmupTime: 0 });
      naiveBench.add('naive 7-loop fwd', () => {
        conv2dNaive(d.x, d.xShape, d.w, d.wShape, null, d.opts);
      }, threads(1));
      await naiveBench.run();

      const bench = new Bench({ name: c.name, iterations: 9, time: 0, warmupIterations: 3, warmupTime: 0 });
      for (const t of [1, 2]) {
        bench.add(`fwd ${t}T`, () => { fwd(); }, threads(t));
        bench.add(`bwd input ${t}T`, () => { bIn(); }, threads(t));
        bench.add(`bwd weight ${t}T`, () => { bW(); }, threads(t));
        bench.add(`bwd in+w ${t}T`, () => { bIn(); bW(); }, threads(t));
      }
      await bench.run();

      const ms: Record<string, number> = {};
      const minMs: Record<string, number> = {};
      for (const t of [...naiveBench.tasks, ...bench.tasks]) {
        ms[t.name] = median(t, 'bench/conv.bench.ts');
        minMs[t.name] = fastest(t);
      }
      for (const [name, v] of Object.entries(ms)) {
        const f = name.startsWith('bwd in+w') ? 2 * d.flops : d.flops;
        const m = minMs[name]!;
        rows.push({
          shape: c.name, task: name, 'median ms': r2(v), 'GFLOP/s': gflops(f, v), 'min ms': r2(m), 'GFLOP/s @min': gflops(f, m),
        });
      }
      const naive = ms['naive 7-loop fwd']!;
      const f2 = ms['fwd 2T']!;
      const f1 = ms['fwd 1T']!;
      const b2 = ms['bwd in+w 2T']!;
      const b1 = ms['bwd in+w 1T']!;
      summary.push({
        shape: c.name,
        flops: d.flops,
        medianMs: ms,
        minMs,
        gflops: {
          naive: gflops(d.flops, naive), fwd1T: gflops(d.flops, f1), fwd2T: gflops(d.flops, f2),
          bwd1T: gflops(2 * d.flops, b1), bwd2T: gflops(2 * d.flops, b2),
        },
        fwdSpeedupVsNaive2T: r2(naive / f2),
        fwdSpeedupVsNaive1T: r2(naive / f1),
        threadSpeedupFwd: r2(f1 / f2),
        bwdOverFwd2T: r2(b2 / f2),
        bwdOverFwd1T: r2(b1 / f1),
        targets: {
          fwd3xNaive: naive / f2 >= 3,
          fwd5GflopsOn2T: d.flops / (f2 * 1e6) >= 5,
          bwdWithin2xFwd: b2 / f2 <= 2,
        },
      });
    }

    // Every conv layer of the model, 2 threads (fewer iterations).
    const layerBench = new Bench({ name: 'model layers', iterations: 3, time: 0, warmupIterations: 2, warmupTime: 0 });
    const layerFlops: Record<string, number> = {};
    for (const c of MODEL_LAYERS) {
      const d = prepare(c, rng);
      layerFlops[c.name] = d.flops;
      layerBench.add(`${c.name} | fwd`, () => {
        conv2dForward(d.x, d.xShape, d.w, d.wShape, null, d.opts);
      }, threads(2));
      layerBench.add(`${c.name} | bwd in+w`, () => {
        conv2dBackwardInput(d.dy, d.outShape, d.w, d.wShape, d.xShape, d.opts);
        conv2dBackwardWeight(d.dy, d.outShape, d.x, d.xShape, d.wShape, d.opts);
      }, threads(2));
    }
    await layerBench.run();
    const layers: Record<string, unknown>[] = [];
    let totFwd = 0;
    let totBwd = 0;
    let totFlops = 0;
    for (const c of MODEL_LAYERS) {
      const f = median(layerBench.tasks.find((t) => t.name === `${c.name} | fwd`)!);
      const b = median(layerBench.tasks.find((t) => t.name === `${c.name} | bwd in+w`)!);
      const fl = layerFlops[c.name]!;
      const n = LAYER_COUNT[c.name] ?? 1;
      totFwd += n * f;
      totBwd += n * b;
      totFlops += n * fl;
      layers.push({ layer: c.name, 'fwd ms': r2(f), 'fwd GFLOP/s': gflops(fl, f), 'bwd in+w ms': r2(b), 'bwd GFLOP/s': gflops(2 * fl, b) });
    }
    layers.push({
      layer: 'TOTAL (one forward / backward pass)', 'fwd ms': r2(totFwd), 'fwd GFLOP/s': gflops(totFlops, totFwd),
      'bwd in+w ms': r2(totBwd), 'bwd GFLOP/s': gflops(2 * totFlops, totBwd),
    });

    console.table(rows);
    console.table(summary.map((s) => ({
      shape: s['shape'], ...(s['gflops'] as object), 'fwd vs naive (2T)': s['fwdSpeedupVsNaive2T'],
      'bwd/fwd (2T)': s['bwdOverFwd2T'], targets: JSON.stringify(s['targets']),
    })));
    console.table(layers);
    const others = otherLoad();
    if (others !== null && others > 0.2) {
      console.warn(`note: other processes used ${others.toFixed(2)} cores on average during this run; 2-thread numbers are unreliable`);
    }
    return { threadsAvailable: saved, otherProcessesCores: others === null ? null : r2(others), cases: summary, rows, modelLayers: layers };
  } finally {
    setNumThreads(saved);
  }
}

if (isMain(import.meta.url)) await run();
