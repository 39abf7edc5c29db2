/**
 * Resuming a run: training 2 epochs, saving `last.ckpt`, and continuing in a fresh model and optimiser
 * must give bit for bit the weights and history of 4 uninterrupted epochs (the reference is the
 * uninterrupted run of the same code path — resuming adds nothing to the numerics, so equality is exact).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/autograd/index.js';
import { generateSynthetic, indicesOf, type SegDataset } from '../../src/data/index.js';
import { ResUNet } from '../../src/models/resunet.js';
import { saveCheckpoint } from '../../src/train/checkpoint.js';
import { loadTrainState, saveTrainState } from '../../src/train/resume.js';
import { pretrain, sizetrain, type EpochRecord, type TrainOptions, type TrainState } from '../../src/train/trainer.js';

const dir = mkdtempSync(join(tmpdir(), 'sizeseg-resume-'));
const ds: SegDataset = generateSynthetic({ count: 60, height: 16, width: 16, seed: 4 });
const train = indicesOf(ds, 'train');
const val = indicesOf(ds, 'val');
const widths = [2, 4];

const weights = (m: ResUNet) => [...m.stateDict().values()].map((t) => Array.from(t.values()));
const strip = (h: EpochRecord[]) => h.map(({ seconds: _s, ...r }) => r);

type Phase = 'pretrain' | 'sizetrain';
function run(phase: Phase, model: ResUNet, extra: Partial<TrainOptions>) {
  const base = { epochs: 4, patience: 10, batch: 8, lr: 3e-3, seed: 7, valIndices: val, ...extra };
  return phase === 'pretrain'
    ? pretrain(model, ds, { ...base, annotated: train.slice(0, 12), minImagesPerEpoch: 24 })
    : sizetrain(model, ds, { ...base, sizeLabelled: train, samples: 1, estimator: 'fast', lr: 1e-3 });
}

describe.each(['pretrain', 'sizetrain'] as const)('resuming %s', (phase) => {
  it('2 epochs + last.ckpt + 2 resumed epochs = 4 uninterrupted epochs, bit for bit', async () => {
    const straight = new ResUNet({ widths, rng: new Rng(1) });
    const full = await run(phase, straight, {});

    const first = new ResUNet({ widths, rng: new Rng(1) });
    const path = join(dir, `${phase}-last.ckpt`);
    await run(phase, first, { epochs: 2, onState: (s) => saveTrainState(path, first, s, { widths }) });

    const second = new ResUNet({ widths, rng: new Rng(99) }); // different init: everything must come from the file
    const { state } = loadTrainState(path, second);
    expect(state.epoch).toBe(2);
    const resumed = await run(phase, second, { resume: state });

    expect(strip(resumed.history)).toEqual(strip(full.history));
    expect(resumed.best?.epoch).toBe(full.best?.epoch);
    expect(weights(second)).toEqual(weights(straight));
  });
});

describe('resume edge cases', () => {
  it('an interruption mid-epoch resumes from the last completed epoch', async () => {
    const straight = new ResUNet({ widths, rng: new Rng(1) });
    const full = await run('pretrain', straight, { epochs: 3 });

    const first = new ResUNet({ widths, rng: new Rng(1) });
    const path = join(dir, 'interrupted-last.ckpt');
    let steps = 0;
    const cut = await run('pretrain', first, {
      epochs: 3,
      onState: (s) => saveTrainState(path, first, s, { widths }),
      observer: { onStep: () => void steps++, shouldStop: () => steps >= 4 }, // epoch 2 has 3 steps: stop inside epoch 2
    });
    expect(cut.interrupted).toBe(true);
    const second = new ResUNet({ widths, rng: new Rng(5) });
    const { state } = loadTrainState(path, second);
    expect(state.epoch).toBe(1);
    await run('pretrain', second, { epochs: 3, resume: state });
    expect(weights(second)).toEqual(weights(straight));
    expect(full.history.length).toBe(3);
  });

  it('a run that had stopped early does not train further', async () => {
    const model = new ResUNet({ widths, rng: new Rng(1) });
    let last: TrainState | null = null;
    await run('sizetrain', model, { epochs: 2, onState: (s) => (last = s) });
    const done = { ...last!, sinceBest: 10 };
    const again = await run('sizetrain', model, { resume: done, patience: 10 });
    expect(again.history.length).toBe(2);
    expect(again.stoppedEarly).toBe(true);
  });

  it('refuses a weights-only checkpoint, another phase, and changed settings, naming the problem', async () => {
    const model = new ResUNet({ widths, rng: new Rng(1) });
    const weightsOnly = join(dir, 'best.ckpt');
    saveCheckpoint(weightsOnly, model, { config: { widths }, epoch: 1, phase: 'pretrain', metrics: {} });
    expect(() => loadTrainState(weightsOnly, model)).toThrow(/weights only.*last\.ckpt/);

    let last: TrainState | null = null;
    await run('pretrain', model, { epochs: 1, onState: (s) => (last = s) });
    await expect(run('sizetrain', model, { resume: last! })).rejects.toThrow(/from pretrain, not sizetrain/);
    await expect(run('pretrain', model, { resume: last!, batch: 4 })).rejects.toThrow(/batch 8, this one 4/);
  });
});
