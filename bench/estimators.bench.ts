/**
 * Estimator benchmarks (tinybench v6):
 *  - distance transform: a batch of 32 random 48×32 masks, and one 512×512 mask;
 *  - Lemma-1 naive vs fast at 48×32, 128×128 and 256×256 on realistic samples (an ellipse-shaped object with
 *    sprinkled noise, like a stochastic threshold of a decent network). The naive 256×256 run takes ~40 s,
 *    so it is timed on a contiguous slice of its flips (every flip costs one full distance transform of the same
 *    image, so the cost is linear in the number of flips) and scaled by V / slice; 128×128 is timed in full and
 *    also reported as slice-extrapolated, to show that the extrapolation is honest;
 *  - bias and variance of Lemma-1, REINFORCE (leave-one-out, 2 samples) and straight-through against the exact
 *    2^V gradient on a fixed 4×4 case, printed with console.table.
 *
 * `run()` returns plain JSON (medians in ms, ratios). Runnable alone: `npx tsx bench/estimators.bench.ts`.
 */
import { timeTasks } from './_util.js';
import { Rng } from '../src/autograd/rng.js';
import {
  chebyshevDistanceTransform,
  chebyshevDistanceTransformBatch,
  exactSizeLoss,
  lemma1Gradient,
  objectSize,
  reinforceGradient,
  sampleBernoulliMasks,
  straightThroughGradient,
} from '../src/estimators/index.js';
import { lemma1NaiveInto } from '../src/estimators/lemma1.js';

/** An ellipse-shaped object (random centre/axes) with a fraction `noise` of pixels flipped. */
export function realisticSample(H: number, W: number, rng: Rng, noise = 0.03): Uint8Array {
  const m = new Uint8Array(H * W);
  const cr = H * (0.4 + 0.2 * rng.uniform());
  const cc = W * (0.4 + 0.2 * rng.uniform());
  const ar = H * (0.2 + 0.15 * rng.uniform());
  const ac = W * (0.2 + 0.15 * rng.uniform());
  for (let r = 0; r < H; r++)
    for (let c = 0; c < W; c++) {
      let v = ((r - cr) / ar) ** 2 + ((c - cc) / ac) ** 2 <= 1 ? 1 : 0;
      if (rng.uniform() < noise) v = 1 - v;
      m[r * W + c] = v;
    }
  return m;
}

interface EstimatorRow {
  estimator: string;
  samplesPerEstimate: number;
  meanAbsBias: number;
  maxAbsBias: number;
  maxBiasZ: number;
  meanVariance: number;
  meanMSE: number;
  relErrorOfMean: number;
}

/** Bias/variance of each estimator over T independent estimates on a fixed 4×4 probability map. */
export function estimatorComparison(T = 20000, seed = 2025): { exactGrad: number[]; rows: EstimatorRow[] } {
  const H = 4;
  const W = 4;
  const V = H * W;
  const s = 2;
  const p = Float64Array.from([0.1, 0.3, 0.4, 0.2, 0.4, 0.8, 0.9, 0.5, 0.3, 0.85, 0.7, 0.6, 0.1, 0.4, 0.5, 0.2]);
  const exact = exactSizeLoss(p, H, W, s).gradProbs;
  const rng = new Rng(seed);
  const estimators: Array<[string, number, (y: Uint8Array) => Float64Array]> = [
    ['lemma1 (n=1)', 1, (y) => lemma1Gradient(y, H, W, s)],
    [
      'lemma1 (n=2)',
      2,
      (y) => {
        const a = lemma1Gradient(y.subarray(0, V), H, W, s);
        const b = lemma1Gradient(y.subarray(V), H, W, s);
        return a.map((v, i) => (v + (b[i] as number)) / 2);
      },
    ],
    ['REINFORCE, leave-one-out (n=2)', 2, (y) => reinforceGradient(y, H, W, s, { probs: p })],
    ['REINFORCE, no baseline (n=1)', 1, (y) => reinforceGradient(y, H, W, s, { probs: p, baseline: 'none' })],
    ['straight-through (n=1)', 1, (y) => straightThroughGradient(y, H, W, s)],
  ];
  const rows: EstimatorRow[] = [];
  for (const [name, n, f] of estimators) {
    const sum = new Float64Array(V);
    const sumSq = new Float64Array(V);
    for (let t = 0; t < T; t++) {
      const e = f(sampleBernoulliMasks(p, n, H, W, rng));
      for (let i = 0; i < V; i++) {
        sum[i] = (sum[i] as number) + (e[i] as number);
        sumSq[i] = (sumSq[i] as number) + (e[i] as number) ** 2;
      }
    }
    let absBias = 0;
    let maxAbsBias = 0;
    let maxZ = 0;
    let variance = 0;
    let mse = 0;
    let errNorm = 0;
    let exactNorm = 0;
    for (let i = 0; i < V; i++) {
      const mean = (sum[i] as number) / T;
      const varI = Math.max(0, ((sumSq[i] as number) - T * mean * mean) / (T - 1));
      const bias = mean - (exact[i] as number);
      absBias += Math.abs(bias) / V;
      maxAbsBias = Math.max(maxAbsBias, Math.abs(bias));
      const se = Math.sqrt(varI / T);
      if (se > 0) maxZ = Math.max(maxZ, Math.abs(bias) / se);
      variance += varI / V;
      mse += (bias * bias + varI) / V;
      errNorm += bias * bias;
      exactNorm += (exact[i] as number) ** 2;
    }
    rows.push({
      estimator: name,
      samplesPerEstimate: n,
      meanAbsBias: absBias,
      maxAbsBias,
      maxBiasZ: maxZ,
      meanVariance: variance,
      meanMSE: mse,
      relErrorOfMean: Math.sqrt(errNorm / exactNorm),
    });
  }
  return { exactGrad: Array.from(exact), rows };
}

export async function run(): Promise<Record<string, unknown>> {
  const t0 = performance.now();
  const rng = new Rng(123);

  // Distance transform.
  const batch = new Uint8Array(32 * 48 * 32);
  for (let i = 0; i < batch.length; i++) batch[i] = rng.uniform() < 0.6 ? 1 : 0;
  const big = realisticSample(512, 512, rng, 0.01);
  const dt = await timeTasks(
    {
      'dt batch 32×48×32': () => void chebyshevDistanceTransformBatch(batch, 32, 48, 32),
      'dt 512×512': () => void chebyshevDistanceTransform(big, 512, 512),
    },
    { time: 1000, iterations: 20 },
  );

  // Lemma-1 naive vs fast.
  const s48 = realisticSample(48, 32, rng);
  const s128 = realisticSample(128, 128, rng);
  const s256 = realisticSample(256, 256, rng);
  const target = (m: Uint8Array, H: number, W: number): number => objectSize(m, H, W) + 6;
  const tg48 = target(s48, 48, 32);
  const tg128 = target(s128, 128, 128);
  const tg256 = target(s256, 256, 256);
  // Same numbers, bit for bit (a cheap sanity check inside the bench).
  const a = lemma1Gradient(s48, 48, 32, tg48, { method: 'naive' });
  const b = lemma1Gradient(s48, 48, 32, tg48, { method: 'fast' });
  const identical48 = a.every((v, i) => Object.is(v, b[i]));

  const fastTimes = await timeTasks(
    {
      'lemma1 fast 48×32': () => void lemma1Gradient(s48, 48, 32, tg48, { method: 'fast' }),
      'lemma1 fast 128×128': () => void lemma1Gradient(s128, 128, 128, tg128, { method: 'fast' }),
      'lemma1 fast 256×256': () => void lemma1Gradient(s256, 256, 256, tg256, { method: 'fast' }),
      'lemma1 naive 48×32': () => void lemma1Gradient(s48, 48, 32, tg48, { method: 'naive' }),
    },
    { time: 1500, iterations: 30 },
  );
  const out128 = new Float64Array(128 * 128);
  const out256 = new Float64Array(256 * 256);
  const slice128 = 2048;
  const slice256 = 2048;
  const slow = await timeTasks(
    {
      'lemma1 naive 128×128 (full)': () => lemma1NaiveInto(s128, 0, 128, 128, tg128, out128, 0),
      'lemma1 naive 128×128 (2048 flips)': () => lemma1NaiveInto(s128, 0, 128, 128, tg128, out128, 0, 0, slice128),
      'lemma1 naive 256×256 (2048 flips)': () => lemma1NaiveInto(s256, 0, 256, 256, tg256, out256, 0, 0, slice256),
    },
    { time: 0, iterations: 3, warmup: false },
  );
  const naive128Extrap = (slow['lemma1 naive 128×128 (2048 flips)'] as number) * ((128 * 128) / slice128);
  const naive256Extrap = (slow['lemma1 naive 256×256 (2048 flips)'] as number) * ((256 * 256) / slice256);
  const f48 = fastTimes['lemma1 fast 48×32'] as number;
  const f128 = fastTimes['lemma1 fast 128×128'] as number;
  const f256 = fastTimes['lemma1 fast 256×256'] as number;
  const n48 = fastTimes['lemma1 naive 48×32'] as number;
  const n128 = slow['lemma1 naive 128×128 (full)'] as number;

  const comparison = estimatorComparison();
  console.table(
    comparison.rows.map((r) => ({
      estimator: r.estimator,
      n: r.samplesPerEstimate,
      'mean |bias|': r.meanAbsBias.toPrecision(3),
      'max |bias|': r.maxAbsBias.toPrecision(3),
      'max bias/SE': r.maxBiasZ.toFixed(1),
      'mean var': r.meanVariance.toPrecision(4),
      'mean MSE': r.meanMSE.toPrecision(4),
    })),
  );

  const result = {
    device: 'cpu (node ' + process.version + ')',
    dtBatch32x48x32MedianMs: dt['dt batch 32×48×32'],
    dt512x512MedianMs: dt['dt 512×512'],
    lemma1: {
      identicalNaiveFast48x32: identical48,
      '48x32': { naiveMedianMs: n48, fastMedianMs: f48, ratioNaiveOverFast: n48 / f48 },
      '128x128': {
        naiveMedianMs: n128,
        naiveExtrapolatedMs: naive128Extrap,
        fastMedianMs: f128,
        ratioNaiveOverFast: n128 / f128,
      },
      '256x256': {
        naiveExtrapolatedMs: naive256Extrap,
        naiveSliceFlips: slice256,
        fastMedianMs: f256,
        ratioNaiveOverFast: naive256Extrap / f256,
      },
    },
    estimatorComparison4x4: comparison.rows,
    exactGrad4x4: comparison.exactGrad,
    benchWallMs: performance.now() - t0,
  };
  return result;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await run();
  console.log(JSON.stringify(r, null, 2));
}
