// examples/09-joint-objective.ts — step 9: the joint objective. Phase 2 twice from the same pre-trained network:
// the size loss alone, and each step BCE on a batch of the m annotated images + λ·size loss on a batch of the other
// training images (sizetrain's `joint` option). Tiny on purpose, like step 7: it shows the mechanics.
import { DEFAULT_JOINT_LAMBDA, ResUNet, Rng, evaluate, foregroundPriorLogit, generateSynthetic, indicesOf, predictLogits, pretrain, selectAnnotated, sizeTermImages, sizetrain } from '../src/index.js';

const seed = 0, m = 20;
const ds = generateSynthetic({ count: 200, seed });
const train = indicesOf(ds, 'train'), val = indicesOf(ds, 'val'), test = indicesOf(ds, 'test');
const annotated = selectAnnotated(ds, m, new Rng(seed));
const V = ds.height * ds.width;
const network = () => new ResUNet({ widths: [4, 8], rng: new Rng(seed), headBias: foregroundPriorLogit(ds.masks, annotated, V) });

const pretrained = network();
await pretrain(pretrained, ds, { annotated, minImagesPerEpoch: 80, valIndices: val, epochs: 6, patience: 6, batch: 16, lr: 3e-3, seed });

// test IoU, E, and the share of pixels predicted foreground (size training that hurts shrinks it)
let trueForeground = 0;
for (const n of test) for (let i = n * V; i < (n + 1) * V; i++) trueForeground += ds.masks[i]!;
async function report(when: string, model: ResUNet) {
  const r = await evaluate(model, ds, test);
  const predicted = (await predictLogits(model, ds, test)).filter((a) => a > 0).length;
  console.log(`${when.padEnd(22)} test IoU ${(100 * r.iou).toFixed(1)}%   E ${r.sizeError.toFixed(2)}   foreground ${(100 * predicted / (test.length * V)).toFixed(1)}% (true ${(100 * trueForeground / (test.length * V)).toFixed(1)}%)`);
}
await report('after phase 1 (BCE):', pretrained);

// phase 2 from a copy of the pre-trained weights, with the same settings for both objectives
const phase2 = { valIndices: val, samples: 1, estimator: 'fast', epochs: 2, patience: 2, batch: 16, lr: 1e-3, seed } as const;
const copy = () => {
  const model = network();
  model.loadStateDict(pretrained.stateDict());
  return model;
};
const sizeOnly = copy();
await sizetrain(sizeOnly, ds, { ...phase2, sizeLabelled: train });
await report('size loss alone:', sizeOnly);

const sizeLabelled = sizeTermImages(train, annotated); // the training images without masks
console.log(`joint: BCE on the ${annotated.length} annotated images + ${DEFAULT_JOINT_LAMBDA}·size loss on the other ${sizeLabelled.length}`);
const joint = copy();
await sizetrain(joint, ds, { ...phase2, sizeLabelled, joint: { annotated } }); // joint.lambda: default 1e-3
await report('joint objective:', joint);
