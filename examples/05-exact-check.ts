// examples/05-exact-check.ts — step 5: Lemma 1 is unbiased. The exact gradient enumerates all 2^V masks
// (paper eqs. 10 and 13); the mean of K one-sample estimates converges to it as K grows.
import { Rng, exactSizeLoss, lemma1Gradient, sampleBernoulliMasks } from '../src/index.js';

const H = 3, W = 3, V = H * W, s = 4;
const p = Float64Array.from([0.2, 0.5, 0.3, 0.6, 0.9, 0.7, 0.3, 0.6, 0.4]); // the map of step 4
const grid = (v: ArrayLike<number>) =>
  Array.from({ length: H }, (_, r) => '  ' + Array.from({ length: W }, (_, c) => v[r * W + c]!.toFixed(4).padStart(9)).join('')).join('\n');

const exact = exactSizeLoss(p, H, W, s); // float64, 2^9 = 512 masks
console.log(`exact L = ${exact.expectedLoss.toFixed(6)}; exact ∂L/∂p =\n${grid(exact.gradProbs)}`);

const Kmax = 10_000;
const samples = sampleBernoulliMasks(p, Kmax, H, W, new Rng(11)); // Kmax masks back to back
const sum = new Float64Array(V);
let k = 0;
for (const K of [10, 100, 1000, 10_000]) {
  for (; k < K; k++) {
    const e = lemma1Gradient(samples.subarray(k * V, (k + 1) * V), H, W, s);
    for (let i = 0; i < V; i++) sum[i]! += e[i]!;
  }
  let err = 0;
  for (let i = 0; i < V; i++) err = Math.max(err, Math.abs(sum[i]! / K - exact.gradProbs[i]!));
  console.log(`K = ${String(K).padStart(5)}: max |mean of K estimates − exact| = ${err.toFixed(4)}   (× √K = ${(err * Math.sqrt(K)).toFixed(2)})`);
}
console.log(`mean of ${Kmax} estimates =\n${grid(sum.map((v) => v / Kmax))}`);
