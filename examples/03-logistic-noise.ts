// examples/03-logistic-noise.ts — step 3: logistic noise turns each pixel into a Bernoulli(σ(a)) variable,
// and the EXPECTED loss L = E[l(s, g(Y))] is a smooth function of the logits.
import { Rng, exactSizeLoss } from '../src/index.js';

const sigma = (x: number) => 1 / (1 + Math.exp(-x));

// (a) Y = [a − Z > 0] with Z ~ Logistic(0, 1) is foreground with probability Pr(Z < a) = σ(a).
const rng = new Rng(3);
const draws = 100_000;
for (const a of [-2, -0.3, 0, 1]) {
  let on = 0;
  for (let k = 0; k < draws; k++) if (a - rng.logistic() > 0) on++;
  console.log(`a = ${String(a).padStart(4)}: fraction of a − Z > 0 = ${(on / draws).toFixed(4)}, σ(a) = ${sigma(a).toFixed(4)}`);
}

// (b) The logits of step 2. L sums l(s, g(y)) over all 2^16 masks y weighted by Pr(y) (paper eq. 10).
const H = 4, W = 4, s = 6;
const a = [
  2.0, 1.5, 1.0, -2.0,
  1.5, -0.3, 1.2, -1.5,
  1.0, 1.2, 0.8, -2.5,
  -2.0, -1.5, -2.5, -3.0,
];
const centre = 1 * W + 1;
const expected = (logits: number[]) => exactSizeLoss(Float64Array.from(logits, sigma), H, W, s);

console.log('sweeping the centre logit a(1,1):');
const h = 1e-4;
for (const v of [-2, -1, -0.3, 0, 0.3, 1, 2]) {
  const b = a.slice();
  b[centre] = v;
  const { expectedLoss, gradProbs } = expected(b);
  const p = sigma(v);
  const dLda = gradProbs[centre]! * p * (1 - p); // chain rule: ∂L/∂a = ∂L/∂p · σ'(a)
  const up = b.slice(), down = b.slice();
  up[centre] = v + h;
  down[centre] = v - h;
  const fd = (expected(up).expectedLoss - expected(down).expectedLoss) / (2 * h);
  console.log(`  a(1,1) = ${String(v).padStart(4)}:  L = ${expectedLoss.toFixed(4).padStart(7)}   ∂L/∂a = ${dLda.toFixed(4)}   finite difference ${fd.toFixed(4)}`);
}
