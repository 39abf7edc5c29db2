/**
 * Fig. 7 at paper scale (src/experiments/fig7paper.ts), on its miniature protocol `paper-smoke` and generated data:
 * the plan, the saveable joint stream, the dry run, and — in child processes killed with SIGKILL at chosen
 * checkpoints — that re-running the command resumes and ends with the numbers of an uninterrupted run, and that
 * a re-run with everything finished does nothing. The split test reads the real slices and skips without them.
 */
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src/autograd/rng.js';
import { experimentMain } from '../../src/cli/experiment.js';
import { Progress } from '../../src/cli/progress.js';
import { generateSynthetic } from '../../src/data/index.js';
import { PRESETS, type ExperimentContext } from '../../src/experiments/common.js';
import {
  FIG7_PROTOCOLS,
  buildTable,
  loadVolumePools,
  planRuns,
  runFig7Paper,
} from '../../src/experiments/fig7paper.js';
import { AnnotatedBatches } from '../../src/experiments/objectives.js';
import { capture, experimentCli, numbersOnly, readJson } from '../_helpers/experimentRuns.js';
import { sharedDataNote } from '../_helpers/skipNote.js';

const root = resolve(import.meta.dirname, '../..');
const out = mkdtempSync(join(tmpdir(), 'sizeseg-fig7paper-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('fig7 paper protocol', () => {
  it('plans every m with every seed for the size arm, and joint / shuffled where listed, seed by seed', () => {
    const p = FIG7_PROTOCOLS.paper;
    expect(p.widths).toEqual([16, 32, 64, 128]);
    expect(p.batch).toBe(32);
    expect(p.size).toMatchObject({ samples: 1, estimator: 'fast', patience: 3, epochs: 10 });
    const runs = planRuns(p);
    const count = (arm: string) => runs.filter((r) => r.arm === arm).length;
    // 36 runs of 3 seeds, then seeds 3 and 4 of the size arm alone at m = 20, 50, 85 (issue 23)
    expect(runs).toHaveLength(42);
    expect([count('size'), count('joint'), count('shuffled')]).toEqual([27, 9, 6]);
    expect(runs.slice(36).map((r) => `${r.mLabel}/${r.seed}/${r.arm}`)).toEqual([
      '20/3/size',
      '50/3/size',
      '85/3/size',
      '20/4/size',
      '50/4/size',
      '85/4/size',
    ]);
    expect(planRuns(p, 5)).toHaveLength(60); // with --seeds 5 the extra seeds are ordinary seeds
    expect(
      runs
        .filter((r) => r.arm === 'size')
        .map((r) => r.mLabel)
        .slice(0, 7),
    ).toEqual(['10', '20', '50', '85', '200', '500', 'all']);
    expect(runs.slice(0, 12).every((r) => r.seed === 0)).toBe(true);
    expect(new Set(runs.map((r) => `${r.mLabel}/${r.seed}/${r.arm}`)).size).toBe(42);
  });

  it("the joint objective's annotated batches continue exactly from a saved state", () => {
    const ds = generateSynthetic({ count: 30, seed: 3 });
    const annotated = [1, 4, 5, 9, 12, 17, 20];
    const a = new AnnotatedBatches(ds, annotated, 3, new Rng(5));
    for (let i = 0; i < 4; i++) a.next();
    const state = JSON.parse(JSON.stringify(a.getState()));
    const restored = new AnnotatedBatches(ds, annotated, 3, new Rng(999), state);
    for (let i = 0; i < 5; i++) {
      const x = a.next();
      const y = restored.next();
      expect(y.indices).toEqual(x.indices);
      expect(y.images).toEqual(x.images); // the same flips
    }
  });

  it('the table has one entry per m and arm with means and standard errors', () => {
    const rec = (m: number, seed: number, arm: 'size' | 'joint', iou: number) => ({
      m,
      mLabel: String(m),
      seed,
      arm,
      annotated: m,
      trainImages: 100,
      pretrain: { epochs: 4, bestEpoch: 2, seconds: 1, val: { iou: 0, dice: 0, E: 0, count: 1 } },
      before: { iou: 0.5, dice: 0.6, E: 2, count: 1, fgPred: 0.1, fgTrue: 0.12 },
      after: { iou, dice: 0.6, E: 1, count: 1, fgPred: 0.2, fgTrue: 0.12 },
      phase: { epochs: 3, bestEpoch: 1, trainSeconds: 1, valSeconds: 1, valStart: null, history: [] },
      seconds: 1,
      finishedAt: '',
    });
    const t = buildTable([rec(10, 0, 'size', 0.6), rec(10, 1, 'size', 0.7), rec(10, 0, 'joint', 0.55)], [10, 20]);
    expect(t.map((r) => `${r.arm}/${r.mLabel}/${r.seeds}`)).toEqual(['size/10/2', 'joint/10/1']);
    expect(t[0]!.iouGain.mean).toBeCloseTo(0.15, 12);
    expect(t[0]!.fgAfter.mean).toBeCloseTo(0.2, 12);
  });

  it('--dry-run lists the runs and estimates the time without training or writing anything', async () => {
    const { progress, lines } = capture();
    const ctx: ExperimentContext = {
      preset: PRESETS.smoke,
      dataSpec: 'synthetic',
      syntheticCount: 150,
      out: join(out, 'dry'),
      progress,
    };
    const r = await runFig7Paper(ctx, FIG7_PROTOCOLS['paper-smoke'], { dryRun: true });
    expect(r.summary['runs']).toBe(10);
    expect(lines.filter((l) => /^\s+\d+\. m = /.test(l))).toHaveLength(10);
    expect(lines.some((l) => /^estimate for the 10 runs not finished: .* expected .* at most/.test(l))).toBe(true);
    expect(r.summary['upperBoundSeconds']).toBeGreaterThanOrEqual(r.summary['expectedSeconds'] as number);
    expect(existsSync(join(out, 'dry'))).toBe(false);
    // --dry-run belongs to the paper-scale fig7 only
    expect(await experimentMain(['fig5', '--preset', 'smoke', '--dry-run', '--quiet'])).toBe(2);
  });

  it('killed (SIGKILL) mid-phase three times and re-run, it ends with the numbers of an uninterrupted run; a re-run then does nothing', () => {
    const cli = (dir: string, killAfter?: number) =>
      experimentCli(
        ['fig7', '--preset', 'paper-smoke', '--data', 'synthetic', '--seeds', '1', '--out', dir, '--quiet'],
        killAfter,
      );
    const whole = join(out, 'whole');
    const cut = join(out, 'cut');
    expect(cli(whole).status).toBe(0);
    const units = join(cut, 'fig7-paper-smoke', 'runs');
    // checkpoints per process: pre-training m=10 epochs 1–3, size 1–2, joint 1–2, shuffled 1–2, pre-training m=20 1–3, size 1–2, …
    let r = cli(cut, 2); // dies after pre-training epoch 2 of m = 10
    expect(r.signal).toBe('SIGKILL');
    expect(existsSync(join(units, 'm10-s0', 'pretrain.last.ckpt'))).toBe(true);
    r = cli(cut, 4); // pre-training epoch 3, size 1–2, joint epoch 1: dies in the middle of the joint arm
    expect(r.signal).toBe('SIGKILL');
    expect(existsSync(join(units, 'm10-s0', 'size.json'))).toBe(true);
    expect(existsSync(join(units, 'm10-s0', 'joint.last.ckpt'))).toBe(true);
    r = cli(cut, 7); // joint epoch 2, shuffled 1–2, pre-training m = 20 1–3, size epoch 1
    expect(r.signal).toBe('SIGKILL');
    expect(existsSync(join(units, 'm20-s0', 'size.last.ckpt'))).toBe(true);
    r = cli(cut);
    expect(r.status).toBe(0);
    const a = readJson(join(whole, 'fig7-paper-smoke', 'fig7-paper-smoke.json'));
    const b = readJson(join(cut, 'fig7-paper-smoke', 'fig7-paper-smoke.json'));
    expect(b.complete).toBe(true);
    expect(b.runs).toHaveLength(5);
    // each run records the commit and the CPU it trained on (a resumed experiment may span several)
    for (const run of b.runs) {
      expect(run.codeVersion).toMatch(/^[0-9a-f]{12}(\+dirty)?$/);
      expect(typeof run.cpuModel).toBe('string');
    }
    expect(numbersOnly(b.table)).toEqual(numbersOnly(a.table));
    expect(numbersOnly(b.runs)).toEqual(numbersOnly(a.runs));
    // the checkpoints of finished phases are gone; the pre-trained networks stay for the arms
    expect(existsSync(join(units, 'm20-s0', 'size.last.ckpt'))).toBe(false);
    expect(existsSync(join(units, 'm20-s0', 'pretrained.ckpt'))).toBe(true);
    // everything finished: nothing is trained or rewritten
    const summary = join(cut, 'fig7-paper-smoke', 'fig7-paper-smoke.json');
    const before = statSync(summary).mtimeMs;
    const again = experimentCli([
      'fig7',
      '--preset',
      'paper-smoke',
      '--data',
      'synthetic',
      '--seeds',
      '1',
      '--out',
      cut,
    ]);
    expect(again.status).toBe(0);
    expect(again.stdout).toMatch(/nothing to do: all 5 runs of fig7 paper-smoke are finished/);
    expect(statSync(summary).mtimeMs).toBe(before);
    // the table has fig7.json's columns, per arm, and the split in the config
    expect(b.table[0]).toMatchObject({ arm: 'size', mLabel: '10', seeds: 1 });
    for (const k of ['iouBefore', 'iouAfter', 'iouGain', 'EBefore', 'EAfter', 'fgBefore', 'fgAfter', 'fgTrue'])
      expect(b.table[0][k]).toHaveProperty('mean');
    expect(b.config.split.mode).toMatch(/^image/); // generated data has no volumes to split by
    expect(existsSync(join(cut, 'fig7-paper-smoke', 'fig7-paper-smoke.svg'))).toBe(true);
  }, 300_000);

  it('refuses to continue a folder started with another protocol', async () => {
    const dir = join(out, 'whole', 'fig7-paper-smoke');
    const fp = readJson(join(dir, 'protocol.json'));
    writeFileSync(join(dir, 'protocol.json'), JSON.stringify({ ...fp, protocol: { ...fp.protocol, batch: 99 } }));
    const ctx: ExperimentContext = {
      preset: PRESETS.smoke,
      dataSpec: 'synthetic',
      syntheticCount: 150,
      out: join(out, 'whole'),
      seeds: 1,
      progress: new Progress({ quiet: true }),
    };
    await expect(runFig7Paper(ctx, FIG7_PROTOCOLS['paper-smoke'])).rejects.toThrow(/another protocol or data/);
  });
});

const real = resolve(root, '../shared/data/hippocampus');
describe.skipIf(!existsSync(join(real, 'meta.json')))(
  'fig7 paper protocol on the real slices',
  sharedDataNote(real),
  () => {
    it('splits by volume 4244 / 639 / 1220 with no volume in two splits, and uses the whole splits', async () => {
      const ctx: ExperimentContext = {
        preset: PRESETS.paper,
        dataSpec: real,
        out,
        progress: new Progress({ quiet: true }),
      };
      const pools = await loadVolumePools(ctx, FIG7_PROTOCOLS.paper);
      expect(pools.split['counts']).toEqual({ train: 4244, val: 639, test: 1220 });
      expect(pools.split['volumesInTwoSplits']).toBe(0);
      expect(pools.split['mode']).toBe('volume');
      expect([pools.train.length, pools.val.length, pools.test.length]).toEqual([4244, 639, 1220]);
      const volumes = (idx: number[]) => new Set(idx.map((i) => pools.ds.volumeId![i]));
      const tr = volumes(pools.train);
      expect([...volumes(pools.test)].some((v) => tr.has(v))).toBe(false);
    });
  },
);
