// examples/02-thresholding.ts — step 2: thresholding the logits makes the size loss piecewise constant.
import { objectSize, thresholdLogits } from '../src/index.js';

const H = 4, W = 4, s = 6; // target size: the object is the 3×3 block in the corner (g = 6, see step 1)
// Logits a = f(x) of a network that is almost right: only the block's centre pixel (1, 1) is slightly negative.
const a = [
  2.0, 1.5, 1.0, -2.0,
  1.5, -0.3, 1.2, -1.5,
  1.0, 1.2, 0.8, -2.5,
  -2.0, -1.5, -2.5, -3.0,
];
const centre = 1 * W + 1;

/** l(s, g(ŷ)) with ŷ = [a > 0], i.e. σ(a) > ½. */
const loss = (logits: number[]) => (s - objectSize(thresholdLogits(logits), H, W)) ** 2;

const y = thresholdLogits(a);
console.log(`ŷ = [a > 0]: ${Array.from({ length: H }, (_, r) => y.subarray(r * W, r * W + W).join('')).join(' / ')}`);
console.log(`g(ŷ) = ${objectSize(y, H, W)}, target s = ${s}, loss l = (s − g)² = ${loss(a)}`);

// Sweep the centre logit: g (and the loss) only change where a crosses 0.
for (const v of [-2, -0.3, -0.1, -0.001, 0.001, 0.1, 2]) {
  const b = a.slice();
  b[centre] = v;
  console.log(`  a(1,1) = ${String(v).padStart(6)}  →  g = ${objectSize(thresholdLogits(b), H, W)}, l = ${loss(b)}`);
}

// Central finite differences of l with respect to every logit: all exactly zero.
const h = 1e-4;
let largest = 0;
for (let i = 0; i < a.length; i++) {
  const up = a.slice(), down = a.slice();
  up[i] = a[i]! + h;
  down[i] = a[i]! - h;
  largest = Math.max(largest, Math.abs((loss(up) - loss(down)) / (2 * h)));
}
console.log(`max over all 16 pixels of |∂l/∂a_i| (finite differences, h = ${h}): ${largest}`);
