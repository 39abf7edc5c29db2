import { Adam, ResUNet, Rng, bceWithLogits, generateSynthetic, gradcheck, makeBatch, sizeLoss, tensor, trainStep } from '../src/index.js';

// Tensors with reverse-mode autograd; gradients checked against float64 finite differences.
const x = tensor([[1, 2], [3, 4]], undefined, { dtype: 'float64', requiresGrad: true });
x.mul(x).sum().backward();
console.log('d/dx sum(x²) =', x.grad!.toArray()); // [[2, 4], [6, 8]]
console.log('gradcheck:', gradcheck((a) => a.sigmoid().matmul(a), [x]).ok);

// A small residual U-Net on seeded synthetic 48×32 images.
const rng = new Rng(0);
const data = generateSynthetic({ count: 64, seed: 0 });
const batch = makeBatch(data, [0, 1, 2, 3]);
const images = tensor(batch.images, [4, 1, 48, 32]);
const model = new ResUNet({ widths: [8, 16, 32], rng });
const opt = new Adam(model.parameters(), { lr: 1e-3 });

// Phase 1: supervised BCE on pixel masks. Phase 2: only object sizes, through the Lemma-1 estimator.
const masks = tensor(Float32Array.from(batch.masks), [4, 1, 48, 32]);
for (const loss of [() => bceWithLogits(model.forward(images), masks), () => sizeLoss(model.forward(images), batch.sizes, { rng })]) {
  // zeroGrad, loss, backward, Adam step, in a scope: the step's tensors are released at its end (docs/tutorial.md, step 8)
  const step = await trainStep(opt, loss);
  console.log('loss', step.loss.toFixed(3));
}
