// examples/07-two-phase-training.ts — step 7: the two training phases on a tiny synthetic set.
// Phase 1: BCE on m pixel-annotated images. Phase 2: only the object sizes s = g(mask) of all training images,
// through the size loss (sampled y ~ Bernoulli(σ(a)), Lemma-1 gradient). Tiny on purpose: it shows the mechanics.
import { ResUNet, Rng, evaluate, generateSynthetic, indicesOf, pretrain, selectAnnotated, sizetrain, type SegMetrics } from '../src/index.js';

const seed = 0, m = 20;
const ds = generateSynthetic({ count: 200, seed });
const train = indicesOf(ds, 'train'), val = indicesOf(ds, 'val'), test = indicesOf(ds, 'test');
const annotated = selectAnnotated(ds, m, new Rng(seed));
console.log(`${ds.count} synthetic ${ds.height}×${ds.width} images: ${train.length} train / ${val.length} val / ${test.length} test; ${m} of the train images have masks`);

// Start the output layer at the foreground prior logit(f) of the annotated masks instead of σ = ½ everywhere.
const V = ds.height * ds.width;
let fg = 0;
for (const n of annotated) for (let i = n * V; i < (n + 1) * V; i++) fg += ds.masks[i]!;
const f = fg / (annotated.length * V);
const model = new ResUNet({ widths: [4, 8], rng: new Rng(seed), headBias: Math.log(f / (1 - f)) });

const report = (when: string, r: SegMetrics) =>
  console.log(`${when.padEnd(22)} test IoU ${(100 * r.iou).toFixed(1)}%   size error E ${r.sizeError.toFixed(2)}`);
report('untrained:', await evaluate(model, ds, test));

const t0 = performance.now();
await pretrain(model, ds, { annotated, minImagesPerEpoch: 80, valIndices: val, epochs: 6, patience: 6, batch: 16, lr: 3e-3, seed });
report('after phase 1 (BCE):', await evaluate(model, ds, test));
const t1 = performance.now();
await sizetrain(model, ds, { sizeLabelled: train, valIndices: val, samples: 1, estimator: 'fast', epochs: 2, patience: 2, batch: 16, lr: 1e-3, seed });
report('after phase 2 (sizes):', await evaluate(model, ds, test));
console.log(`time: phase 1 ${((t1 - t0) / 1000).toFixed(1)} s, phase 2 ${((performance.now() - t1) / 1000).toFixed(1)} s`);
