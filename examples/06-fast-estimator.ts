// examples/06-fast-estimator.ts — step 6: the fast Lemma-1 estimator. The naive one recomputes g after each of
// the V flips (Θ(V²) per sample); the fast one evaluates only the flips that can change g, with the same numbers.
import { Rng, generateSynthetic, lemma1Gradient, sampleBernoulliMasks } from '../src/index.js';

// A realistic 48×32 case: the mask of a synthetic image, turned into probabilities 0.95 / 0.03.
const ds = generateSynthetic({ count: 1, seed: 0 });
const H = ds.height, W = ds.width, V = H * W;
const s = ds.sizes[0]!;
const p = Float64Array.from(ds.masks, (m) => (m ? 0.95 : 0.03));
const n = 20;
const samples = sampleBernoulliMasks(p, n, H, W, new Rng(5));

let identical = true, nonzero = 0;
for (let k = 0; k < n; k++) {
  const y = samples.subarray(k * V, (k + 1) * V);
  const fast = lemma1Gradient(y, H, W, s, { method: 'fast' });
  const naive = lemma1Gradient(y, H, W, s, { method: 'naive' });
  identical &&= fast.every((v, i) => Object.is(v, naive[i])); // Object.is: even −0 and +0 must agree
  nonzero += fast.filter((v) => v !== 0).length;
}
console.log(`${H}×${W}, target s = ${s}, ${n} samples: fast and naive identical bit for bit: ${identical}`);
console.log(`non-zero entries per sample: ${(nonzero / n).toFixed(1)} of ${V} pixels`);

/** Median time of one call, over `rounds` rounds of `reps` calls on the first sample. */
function time(method: 'fast' | 'naive', reps: number, rounds = 5): number {
  const y = samples.subarray(0, V);
  const times: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) lemma1Gradient(y, H, W, s, { method });
    times.push((performance.now() - t0) / reps);
  }
  return times.sort((x, y2) => x - y2)[Math.floor(rounds / 2)]!;
}
const naiveMs = time('naive', 10);
const fastMs = time('fast', 1000);
console.log(`one sample: naive ${naiveMs.toFixed(2)} ms, fast ${fastMs.toFixed(4)} ms — fast is ${Math.round(naiveMs / fastMs)}× faster`);
