/**
 * sizetrain's joint objective (`joint: { annotated, lambda }`): its first step is the remedies study's `jointStep`
 * (src/experiments, an independent code path) on the same batches; a resumed joint run ends with exactly the
 * history and weights of an uninterrupted one (the annotated stream travels in last.ckpt); bad options are refused
 * with errors that name the problem.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/autograd/index.js';
import { Tensor } from '../../src/autograd/tensor.js';
import { batchIterator, generateSynthetic, indicesOf, type SegDataset } from '../../src/data/index.js';
import { jointStep } from '../../src/experiments/objectives.js';
import { ResUNet } from '../../src/models/resunet.js';
import { DEFAULT_JOINT_LAMBDA, sizeTermImages } from '../../src/train/joint.js';
import { loadTrainState, saveTrainState } from '../../src/train/resume.js';
import { sizetrain, type EpochRecord, type SizetrainOptions, type TrainState } from '../../src/train/trainer.js';

const dir = mkdtempSync(join(tmpdir(), 'sizeseg-joint-'));
const ds: SegDataset = generateSynthetic({ count: 60, height: 16, width: 16, seed: 4 });
const train = indicesOf(ds, 'train');
const val = indicesOf(ds, 'val');
const annotated = train.slice(0, 10);
const rest = sizeTermImages(train, annotated);
const widths = [2, 4];

const weights = (m: ResUNet) => [...m.stateDict().values()].map((t) => Array.from(t.values()));
const strip = (h: EpochRecord[]) => h.map(({ seconds: _s, ...r }) => r);

function run(model: ResUNet, extra: Partial<SizetrainOptions> = {}) {
  return sizetrain(model, ds, {
    epochs: 4,
    patience: 10,
    batch: 8,
    lr: 1e-3,
    seed: 7,
    valIndices: val,
    sizeLabelled: rest,
    samples: 1,
    estimator: 'fast',
    joint: { annotated },
    ...extra,
  });
}

describe('sizetrain with the joint objective', () => {
  it('the size term runs on the images without masks, or on all of them at m = all', () => {
    expect(rest).toEqual(train.filter((n) => !annotated.includes(n)));
    expect(rest.length).toBe(train.length - 10);
    expect(sizeTermImages(train, train)).toEqual(train);
    expect(DEFAULT_JOINT_LAMBDA).toBe(1e-3);
  });

  it("its first step's loss is the study's jointStep on the same batches: BCE(annotated) + 1e-3·size", async () => {
    const losses: number[] = [];
    await run(new ResUNet({ widths, rng: new Rng(1) }), {
      epochs: 1,
      observer: { onStep: (s) => void losses.push(s.loss) },
    });

    // the reference: the experiments' joint step, fed the trainer's documented streams by hand — batches from
    // Rng(seed) after the flips' fork, the sampler Rng(seed ^ 0x5eed), the annotated stream forked from it
    const model = new ResUNet({ widths, rng: new Rng(1) });
    model.train();
    const batches = new Rng(7);
    batches.fork();
    const first = batchIterator(ds, rest, 8, batches).next().value!;
    const sampler = new Rng(7 ^ 0x5eed);
    const step = jointStep(model, ds, annotated, 8, sampler, 1e-3, 1);
    const ref = await step(first, new Tensor(first.images, [first.batch, 1, 16, 16]));
    expect(losses[0]).toBe(ref.loss.item());
    // both terms count: BCE of a fresh network is ≈ 0.7, the size term ≈ 1e-3 · tens
    expect(ref.parts!['bce']!).toBeGreaterThan(0.1);
    expect(ref.parts!['size']!).toBeGreaterThan(0);
    expect(losses[0]).toBeCloseTo(ref.parts!['bce']! + 1e-3 * ref.parts!['size']!, 5);
    // λ is honoured: another λ, another first loss
    const other: number[] = [];
    await run(new ResUNet({ widths, rng: new Rng(1) }), {
      epochs: 1,
      joint: { annotated, lambda: 0.5 },
      observer: { onStep: (s) => void other.push(s.loss) },
    });
    expect(other[0]).toBeCloseTo(ref.parts!['bce']! + 0.5 * ref.parts!['size']!, 4);
  });

  it('2 epochs + last.ckpt + 2 resumed epochs = 4 uninterrupted epochs, bit for bit', async () => {
    const straight = new ResUNet({ widths, rng: new Rng(1) });
    const full = await run(straight);

    const first = new ResUNet({ widths, rng: new Rng(1) });
    const path = join(dir, 'joint-last.ckpt');
    await run(first, { epochs: 2, onState: (s) => saveTrainState(path, first, s, { widths }) });

    const second = new ResUNet({ widths, rng: new Rng(99) }); // different init: everything must come from the file
    const { state } = loadTrainState(path, second);
    expect(state.epoch).toBe(2);
    expect(state.annotatedBatches?.order).toHaveLength(annotated.length);
    expect(state.fingerprint.joint).toEqual({ annotated: 10, lambda: 1e-3 });
    const resumed = await run(second, { resume: state });

    expect(strip(resumed.history)).toEqual(strip(full.history));
    expect(resumed.best?.epoch).toBe(full.best?.epoch);
    expect(weights(second)).toEqual(weights(straight));
  });

  it('an interruption mid-epoch resumes from the last completed epoch, bit for bit', async () => {
    const straight = new ResUNet({ widths, rng: new Rng(1) });
    await run(straight, { epochs: 3 });

    const first = new ResUNet({ widths, rng: new Rng(1) });
    const path = join(dir, 'joint-cut-last.ckpt');
    let steps = 0;
    const cut = await run(first, {
      epochs: 3,
      onState: (s) => saveTrainState(path, first, s, { widths }),
      observer: { onStep: () => void steps++, shouldStop: () => steps >= 5 }, // 32 images, batch 8: inside epoch 2
    });
    expect(cut.interrupted).toBe(true);
    const second = new ResUNet({ widths, rng: new Rng(5) });
    const { state } = loadTrainState(path, second);
    expect(state.epoch).toBe(1);
    await run(second, { epochs: 3, resume: state });
    expect(weights(second)).toEqual(weights(straight));
  });

  it('annotated images may be size-labelled too (the study at m = all)', async () => {
    const result = await run(new ResUNet({ widths, rng: new Rng(1) }), { epochs: 1, sizeLabelled: train });
    expect(result.history).toHaveLength(1);
    expect(Number.isFinite(result.history[0]!.trainLoss)).toBe(true);
  });

  it('refuses bad options, naming the problem', async () => {
    const model = new ResUNet({ widths, rng: new Rng(1) });
    const bad = (joint: SizetrainOptions['joint']) => run(model, { epochs: 1, joint });
    await expect(bad({ annotated: [] })).rejects.toThrow(/joint\.annotated is empty/);
    await expect(bad({ annotated: [0, ds.count] })).rejects.toThrow(
      new RegExp(`holds ${ds.count}, which is not an image of the dataset \\(indices 0 to ${ds.count - 1}\\)`),
    );
    await expect(bad({ annotated: [-1] })).rejects.toThrow(/holds -1, which is not an image/);
    await expect(bad({ annotated: [1.5] })).rejects.toThrow(/holds 1\.5, which is not an image/);
    await expect(bad({ annotated: [train[0]!, train[0]!] })).rejects.toThrow(/more than once/);
    await expect(bad({ annotated: [train[0]!, val[2]!] })).rejects.toThrow(
      new RegExp(`holds image ${val[2]}, a validation image`),
    );
    for (const lambda of [0, -1, Number.NaN, Number.POSITIVE_INFINITY])
      await expect(bad({ annotated, lambda })).rejects.toThrow(/joint\.lambda must be a positive finite number/);
  });

  it('refuses to resume a joint run as plain size training, or with another λ, and the other way round', async () => {
    const model = new ResUNet({ widths, rng: new Rng(1) });
    let jointState: TrainState | null = null;
    await run(model, { epochs: 1, onState: (s) => (jointState = s) });
    await expect(run(model, { resume: jointState!, joint: undefined, sizeLabelled: rest })).rejects.toThrow(
      /cannot resume: the run used the joint objective \(10 annotated images, λ = 0\.001\), this one no joint objective/,
    );
    await expect(run(model, { resume: jointState!, joint: { annotated, lambda: 0.01 } })).rejects.toThrow(
      /λ = 0\.001\), this one the joint objective \(10 annotated images, λ = 0\.01\)/,
    );
    let plainState: TrainState | null = null;
    await run(model, { epochs: 1, joint: undefined, onState: (s) => (plainState = s) });
    await expect(run(model, { resume: plainState! })).rejects.toThrow(
      /cannot resume: the run used no joint objective, this one the joint objective/,
    );
  });
});
