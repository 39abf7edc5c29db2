/**
 * Smoke runs of every experiment (`npm run experiment -- NAME --preset smoke`) on generated data: each writes its
 * JSON, CSV and SVG files with the fields docs/results.md relies on. Seconds each on 2 cores.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src/autograd/rng.js';
import { Tensor } from '../../src/autograd/tensor.js';
import { experimentMain } from '../../src/cli/experiment.js';
import { Progress } from '../../src/cli/progress.js';
import { generateSynthetic, makeBatch } from '../../src/data/index.js';
import { PRESETS, annotatedSubset, mean, stdErr, type ExperimentContext } from '../../src/experiments/common.js';
import { runBeyond } from '../../src/experiments/beyond.js';
import { runControl } from '../../src/experiments/control.js';
import { runFig3 } from '../../src/experiments/fig3.js';
import { runFig5 } from '../../src/experiments/fig5.js';
import { runFig7 } from '../../src/experiments/fig7.js';
import { areaPerSizeSquared, estimatorSizeLoss } from '../../src/experiments/objectives.js';

const out = mkdtempSync(join(tmpdir(), 'sizeseg-exp-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));
const ctx = (): ExperimentContext => ({
  preset: PRESETS.smoke,
  dataSpec: 'synthetic',
  syntheticCount: 150,
  out,
  progress: new Progress({ quiet: true }),
});
// biome-ignore lint/suspicious/noExplicitAny: the run's JSON, read back; the expectations check its shape.
const readJson = (p: string): Record<string, any> => JSON.parse(readFileSync(p, 'utf8'));

describe('helpers', () => {
  it('mean and standard error', () => {
    expect(mean([1, 2, 3])).toBe(2);
    expect(stdErr([1, 2, 3])).toBeCloseTo(1 / Math.sqrt(3), 12);
    expect(stdErr([5])).toBe(0);
  });
  it('annotated subsets are nested in m and seeded', () => {
    const pool = Array.from({ length: 50 }, (_, i) => i * 2);
    const a10 = annotatedSubset(pool, 10, 1);
    const a20 = annotatedSubset(pool, 20, 1);
    expect(a10.every((i) => a20.includes(i))).toBe(true);
    expect(annotatedSubset(pool, 10, 1)).toEqual(a10);
    expect(annotatedSubset(pool, 'all', 0)).toEqual(pool);
  });
  it('REINFORCE and straight-through size losses back-propagate finite gradients; area ratio is positive', () => {
    const ds = generateSynthetic({ count: 4, seed: 1 });
    const b = makeBatch(ds, [0, 1, 2, 3]);
    for (const estimator of ['lemma1', 'reinforce', 'straight-through'] as const) {
      // noisy logits around the true masks: the samples differ in size, so every estimator has something to say
      const values = Float32Array.from(b.masks, (m, i) => (m ? 3 : -3) + Math.sin(i));
      const logits = new Tensor(values, [4, 1, ds.height, ds.width], undefined, 0);
      logits.requiresGrad = true;
      const loss = estimatorSizeLoss(logits, b.sizes, { rng: new Rng(0), samples: 4, estimator });
      loss.backward();
      expect(Number.isFinite(loss.item())).toBe(true);
      const g = logits.grad!.values();
      expect(g.every((v) => Number.isFinite(v))).toBe(true);
      expect(g.some((v) => v !== 0)).toBe(true);
    }
    expect(areaPerSizeSquared(ds, [0, 1, 2, 3])).toBeGreaterThan(0);
  });
});

describe('experiments (smoke preset, synthetic data)', () => {
  it('fig3 writes the figure, the numbers and a summary', async () => {
    const r = await runFig3(ctx());
    for (const f of ['fig3.svg', 'fig3.json', 'fig3.csv', 'fig3-summary.json'])
      expect(existsSync(join(r.dir, f))).toBe(true);
    const s = readJson(join(r.dir, 'fig3-summary.json'));
    expect(s.rmseToExact).toHaveLength(4);
  });

  it('fig5/fig6: timing per method and n, quality curves per n', async () => {
    const r = await runFig5(ctx());
    for (const f of ['fig5.svg', 'fig6-E.svg', 'fig6-IoU.svg', 'fig5.csv', 'fig6.csv', 'fig5.json'])
      expect(existsSync(join(r.dir, f))).toBe(true);
    const j = readJson(join(r.dir, 'fig5.json'));
    expect(j.preset).toBe('smoke');
    expect(j.machine.start.loadAverage).toHaveLength(3);
    // the timings mean something only with the backend that produced them
    expect(j.backend).toMatchObject({ name: 'cpu' });
    const ns = PRESETS.smoke.fig5.ns;
    expect(j.timing).toHaveLength(1 + 2 * ns.length);
    for (const t of j.timing) {
      expect(t.epochSeconds).toHaveLength(PRESETS.smoke.fig5.timingEpochs);
      expect(t.mean).toBeGreaterThan(0);
      expect(t.se).toBeGreaterThanOrEqual(0);
    }
    expect(j.quality.map((q: { n: number }) => q.n)).toEqual(ns);
    for (const q of j.quality) {
      expect(q.epochs[0].epoch).toBe(0);
      expect(q.epochs).toHaveLength(1 + PRESETS.smoke.fig5.qualityEpochs);
      expect(typeof q.epochs[1].E).toBe('number');
      expect(q.epochs[1].iou).toBeGreaterThanOrEqual(0);
    }
    expect(readFileSync(join(r.dir, 'fig5.csv'), 'utf8').split('\n')[0]).toBe('method,n,epoch,images,seconds');
    expect(readFileSync(join(r.dir, 'fig5.svg'), 'utf8')).toContain('<svg');
  });

  it('fig7: before/after per m and seed, summary with standard errors', async () => {
    const r = await runFig7(ctx());
    for (const f of ['fig7.svg', 'fig7-runs.csv', 'fig7-summary.csv', 'fig7.json'])
      expect(existsSync(join(r.dir, f))).toBe(true);
    const j = readJson(join(r.dir, 'fig7.json'));
    const { ms, seeds } = PRESETS.smoke.fig7;
    expect(j.runs).toHaveLength(ms.length * seeds);
    expect(j.table).toHaveLength(ms.length);
    for (const t of j.table) {
      expect(t.seeds).toBe(seeds);
      for (const k of ['iouBefore', 'iouAfter', 'iouGain', 'EBefore', 'EAfter'])
        expect(typeof t[k].mean).toBe('number');
    }
    for (const run of j.runs) {
      expect(run.before.iou).toBeGreaterThanOrEqual(0);
      expect(run.after.iou).toBeLessThanOrEqual(1);
      expect(run.size.epochs).toBeGreaterThanOrEqual(1);
    }
    expect(readFileSync(join(r.dir, 'fig7-runs.csv'), 'utf8').trim().split('\n')).toHaveLength(1 + ms.length * seeds);
    // the JSON says which code made it (numbers move when kernels change their rounding): this checkout's commit
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
    expect(j.machine.start.codeVersion).toMatch(/^[0-9a-f]{12}(\+dirty)?$/);
    expect(head.startsWith(j.machine.start.codeVersion.replace('+dirty', ''))).toBe(true);
  });

  it('beyond: variants per m and seed, estimator comparison', async () => {
    const r = await runBeyond(ctx());
    for (const f of [
      'beyond-variants.svg',
      'beyond-estimators-E.svg',
      'beyond-estimators-IoU.svg',
      'beyond-runs.csv',
      'beyond-estimators.csv',
      'beyond.json',
    ]) {
      expect(existsSync(join(r.dir, f))).toBe(true);
    }
    const j = readJson(join(r.dir, 'beyond.json'));
    expect(j.runs.map((x: { variant: string }) => x.variant)).toEqual(['size', 'joint', 'size+area']);
    expect(j.estimators.runs.map((x: { estimator: string }) => x.estimator)).toEqual([
      'lemma1',
      'reinforce',
      'straight-through',
    ]);
    for (const e of j.estimators.runs) expect(typeof e.after.iou).toBe('number');
    expect(j.config.objectives['size+area']).toContain('k·s');
  });

  it('control: true vs shuffled size labels from the same pre-trained network', async () => {
    const r = await runControl(ctx());
    for (const f of ['control.svg', 'control-runs.csv', 'control.json']) expect(existsSync(join(r.dir, f))).toBe(true);
    const j = readJson(join(r.dir, 'control.json'));
    expect(j.runs.map((x: { labels: string }) => x.labels)).toEqual(['size', 'shuffled', 'size', 'shuffled']);
    expect(j.table.every((t: { iouGain: { mean: number } }) => typeof t.iouGain.mean === 'number')).toBe(true);
  });

  it('the command line validates its arguments and runs an experiment', async () => {
    expect(await experimentMain(['nope'])).toBe(2);
    expect(await experimentMain(['fig7', '--preset', 'huge'])).toBe(2);
    expect(await experimentMain(['fig7', '--seeds', '0'])).toBe(2);
    expect(await experimentMain(['fig3', '--preset', 'smoke', '--out', out, '--quiet'])).toBe(0);
    expect(existsSync(join(out, 'fig3-smoke', 'fig3.svg'))).toBe(true);
  });

  it('--replot redraws the figures of an earlier run from its JSON', async () => {
    rmSync(join(out, 'fig7-smoke', 'fig7.svg'), { force: true });
    expect(await experimentMain(['fig7', '--preset', 'smoke', '--out', out, '--replot'])).toBe(0);
    expect(readFileSync(join(out, 'fig7-smoke', 'fig7.svg'), 'utf8')).toContain('<svg');
  });
});
