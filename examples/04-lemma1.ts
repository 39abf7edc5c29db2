// examples/04-lemma1.ts — step 4: Lemma 1 on a 3×3 example. From ONE sample y, the estimate of ∂L/∂p_i is
// y_i · (l(s, g(y)) − l(s, g(y↓i))), where y↓i is y with pixel i flipped and y_i = +1 (foreground) or −1.
import { Rng, finiteSize, lemma1Gradient, objectSize, sampleBernoulliMasks } from '../src/index.js';

const H = 3, W = 3, s = 4;
const p = Float64Array.from([0.2, 0.5, 0.3, 0.6, 0.9, 0.7, 0.3, 0.6, 0.4]); // p_i = σ(a_i) = Pr(Y_i = +1)
const l = (mask: Uint8Array) => (s - finiteSize(objectSize(mask, H, W), H, W)) ** 2; // l(s, g) = (s − g)²
const grid = (v: ArrayLike<number>, digits = 0) =>
  Array.from({ length: H }, (_, r) => '  ' + Array.from({ length: W }, (_, c) => (v[r * W + c]!).toFixed(digits).padStart(7)).join('')).join('\n');

const y = sampleBernoulliMasks(p, 1, H, W, new Rng(7)); // y_i = 1 iff u_i < p_i
console.log('p =\n' + grid(p, 1));
console.log('sample y =\n' + grid(y));
const l0 = l(y);
console.log(`g(y) = ${objectSize(y, H, W)}, l(s = ${s}, g(y)) = ${l0}`);

// Flip each pixel in turn and apply the formula by hand.
const byHand = new Float64Array(H * W);
for (let i = 0; i < H * W; i++) {
  const flipped = y.slice();
  flipped[i] = 1 - y[i]!;
  const sign = y[i] === 1 ? 1 : -1;
  byHand[i] = sign * (l0 - l(flipped));
  console.log(`  pixel ${i} (${y[i] === 1 ? 'fg' : 'bg'}): g(y↓i) = ${objectSize(flipped, H, W)}, l = ${l(flipped)}, ` +
    `estimate ${sign > 0 ? '+1' : '−1'} · (${l0} − ${l(flipped)}) = ${byHand[i]! + 0}`);
}
console.log('Lemma-1 estimate of ∂L/∂p =\n' + grid(byHand));

const library = lemma1Gradient(y, H, W, s);
console.log(`lemma1Gradient gives the same: ${library.every((v, i) => v === byHand[i])}`);

// To the logits by the chain rule: ∂L/∂a_i = ∂L/∂p_i · p_i(1 − p_i).
console.log('estimate of ∂L/∂a =\n' + grid(library.map((e, i) => e * p[i]! * (1 - p[i]!)), 2));
