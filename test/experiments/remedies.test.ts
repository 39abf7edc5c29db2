/**
 * The remedies experiment (src/experiments/remedies.ts, thresholdChoice.ts) on its miniature protocol
 * `paper-smoke` and generated data: the threshold choice on hand-made logits and its blindness to every mask,
 * the table and recommendation against hand-worked numbers, the dry run, and — in child processes killed with
 * SIGKILL at chosen checkpoints — that re-running resumes and ends with the numbers of an uninterrupted run.
 */
import { cpSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src/autograd/rng.js';
import { generateSynthetic, indicesOf } from '../../src/data/index.js';
import { PRESETS, type ExperimentContext } from '../../src/experiments/common.js';
import {
  REMEDIES_PROTOCOLS,
  buildRemediesTable,
  planUnits,
  recommendArm,
  runRemedies,
  thresholdArm,
  type RemedyRun,
} from '../../src/experiments/remedies.js';
import { THRESHOLD_GRID, chooseThreshold, logitOf } from '../../src/experiments/thresholdChoice.js';
import { ResUNet } from '../../src/models/resunet.js';
import { capture, experimentCli, numbersOnly, readJson } from '../_helpers/experimentRuns.js';

const out = mkdtempSync(join(tmpdir(), 'sizeseg-remedies-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('threshold chosen by validation E', () => {
  it('picks, on hand-made logits, the threshold whose masks have the target size, nearest ½ among equals', () => {
    // one 8×8 image: a 2×2 core with p = σ(3) ≈ 0.953, the ring around it up to 4×4 with p = 0.28 (off the grid), the rest p = 0.01.
    // σ > t keeps the 4×4 square for t ≤ 0.25 (g = 2·max Chebyshev distance = 4) and the 2×2 core for
    // 0.3 ≤ t ≤ 0.95 (g = 2). With target size 4: E = 0 for t ≤ 0.25, (4 − 2)² = 4 above; nearest ½ with E = 0: 0.25.
    const H = 8;
    const W = 8;
    const logits = new Float32Array(H * W).fill(logitOf(0.01));
    for (let r = 2; r < 6; r++) for (let c = 2; c < 6; c++) logits[r * W + c] = logitOf(0.28);
    for (let r = 3; r < 5; r++) for (let c = 3; c < 5; c++) logits[r * W + c] = 3;
    const choice = chooseThreshold(logits, [4], H, W);
    expect(choice.t).toBe(0.25);
    expect(choice.logit).toBeCloseTo(Math.log(0.25 / 0.75), 12);
    expect(choice.grid.map((g) => g.E)).toEqual(THRESHOLD_GRID.map((t) => (t <= 0.25 ? 0 : 4)));
    expect(choice.grid.find((g) => g.t === 0.25)!.fg).toBeCloseTo(16 / 64, 12);
    // target size 2: every t ≥ 0.3 gives E = 0; the nearest to ½ is ½ itself
    expect(chooseThreshold(logits, [2], H, W).t).toBe(0.5);
  });

  it('sees no mask: scrambling every validation and test mask leaves the choice and its validation curve unchanged', async () => {
    const ds = generateSynthetic({ count: 60, seed: 11 });
    const val = indicesOf(ds, 'val');
    const test = indicesOf(ds, 'test');
    const model = new ResUNet({ widths: [2, 4], rng: new Rng(3), headBias: -1 });
    const a = await thresholdArm(model, ds, val, test, THRESHOLD_GRID);
    const rng = new Rng(99);
    const scrambled = { ...ds, masks: Uint8Array.from(ds.masks, () => (rng.uniform() < 0.3 ? 1 : 0)) };
    const b = await thresholdArm(model, scrambled, val, test, THRESHOLD_GRID);
    expect(b.threshold.t).toBe(a.threshold.t);
    expect(b.threshold.grid).toEqual(a.threshold.grid);
    // the masks did change what is measured on the test split (so the test above could have failed)
    expect(b.after.iou).not.toBe(a.after.iou);
  });
});

describe('remedies table and recommendation', () => {
  const run = (
    mLabel: string,
    seed: number,
    arm: RemedyRun['arm'],
    before: number,
    after: number,
    t: number | null = null,
  ): RemedyRun => ({
    m: mLabel === 'all' ? 4244 : Number(mLabel),
    mLabel,
    seed,
    arm,
    annotated: 0,
    trainImages: 0,
    before: { iou: before, dice: 0, E: 2, count: 1, fgPred: 0.1, fgTrue: 0.09 },
    after: { iou: after, dice: 0, E: 1, count: 1, fgPred: 0.08, fgTrue: 0.09 },
    phase: null,
    threshold: t === null ? null : { t, logit: logitOf(t), grid: [], testCurve: [] },
    network: '',
    codeVersion: 'x',
    seconds: 1,
    finishedAt: '',
  });

  it('means and standard errors per arm and m, worked by hand', () => {
    // gains 5, 2 and 0 points: mean 2.333…, s.d. √((2.667² + 0.333² + 2.333²) / 2) = 2.5166, s.e. = 2.5166/√3 = 1.45297
    const runs = [
      run('10', 0, 'size', 0.5, 0.55),
      run('10', 1, 'size', 0.6, 0.62),
      run('10', 2, 'size', 0.7, 0.7),
      run('10', 0, 'size+threshold', 0.5, 0.6, 0.3),
      run('10', 1, 'size+threshold', 0.6, 0.6, 0.4),
    ];
    const t = buildRemediesTable(runs, [200, 10]);
    expect(t.map((r) => `${r.arm}/${r.mLabel}/${r.seeds}`)).toEqual(['size/10/3', 'size+threshold/10/2']);
    expect(t[0]!.iouGain.mean).toBeCloseTo(0.0233333333, 9);
    expect(t[0]!.iouGain.se).toBeCloseTo(0.0145296631, 9);
    expect(t[0]!.iouBefore.mean).toBeCloseTo(0.6, 12);
    expect(t[0]!.threshold.mean).toBe(0.5); // trained arms evaluate at ½
    expect(t[1]!.threshold).toEqual({ mean: 0.35, se: expect.closeTo(0.05, 12) });
    expect(t[1]!.iouGain.mean).toBeCloseTo(0.05, 12);
  });

  it("recommends the arm with the best worst-case gain, and checks the issue's bar", () => {
    const runs: RemedyRun[] = [];
    for (let seed = 0; seed < 3; seed++) {
      // size: +12 at m = 10, −2 at m = all; anchor: +11 and −0.3; joint has no m = all yet
      runs.push(run('10', seed, 'size', 0.4, 0.52), run('all', seed, 'size', 0.76, 0.74));
      runs.push(run('10', seed, 'anchor', 0.4, 0.51), run('all', seed, 'anchor', 0.76, 0.757));
      runs.push(run('10', seed, 'joint', 0.4, 0.6));
    }
    const rec = recommendArm(buildRemediesTable(runs, ['all', 10]), ['all', 10]);
    expect(rec.arm).toBe('anchor');
    expect(rec.worstGain).toBeCloseTo(-0.003, 12);
    expect(rec.smallestMGain).toBeCloseTo(0.11, 12);
    expect(rec.meetsBar).toBe(true);
    // two seeds are not enough for the bar
    const two = recommendArm(
      buildRemediesTable(
        runs.filter((r) => r.seed < 2),
        ['all', 10],
      ),
      ['all', 10],
    );
    expect(two.arm).toBe('anchor');
    expect(two.meetsBar).toBe(false);
  });
});

describe('remedies paper-smoke', () => {
  it('plans seed by seed, m in the protocol order, three trained arms each', () => {
    const p = REMEDIES_PROTOCOLS.paper;
    const units = planUnits(p);
    expect(units).toHaveLength(36);
    expect(units.slice(0, 6).map((u) => `${u.mLabel}/${u.arm}`)).toEqual([
      '200/size',
      '200/anchor',
      '200/joint',
      'all/size',
      'all/anchor',
      'all/joint',
    ]);
    expect(units.slice(0, 12).every((u) => u.seed === 0)).toBe(true);
    expect(p.fig7.extraSizeSeeds).toEqual({ seeds: [3, 4], ms: [20, 50, 85] });
  });

  it('--dry-run lists the units and estimates the time without training or writing anything', async () => {
    const { progress, lines } = capture();
    const ctx: ExperimentContext = {
      preset: PRESETS.smoke,
      dataSpec: 'synthetic',
      syntheticCount: 150,
      out: join(out, 'dry'),
      progress,
    };
    const r = await runRemedies(ctx, REMEDIES_PROTOCOLS['paper-smoke'], { dryRun: true });
    expect(r.summary['units']).toBe(6);
    expect(lines.filter((l) => /^\s+\d+\. m = /.test(l))).toHaveLength(6);
    expect(lines.some((l) => /^estimate for the 6 units not finished: .* expected/.test(l))).toBe(true);
    expect(existsSync(join(out, 'dry'))).toBe(false);
  });

  it('killed (SIGKILL) mid-arm twice and re-run, it ends with the numbers of an uninterrupted run; a re-run then does nothing', () => {
    const cli = (dir: string, killAfter?: number) =>
      experimentCli(['remedies', '--preset', 'paper-smoke', '--data', 'synthetic', '--out', dir, '--quiet'], killAfter);
    const whole = join(out, 'whole');
    const cut = join(out, 'cut');
    expect(cli(whole).status).toBe(0);
    // start from the same pre-trained networks, as the paper preset starts from the committed ones
    cpSync(join(whole, 'fig7-paper-smoke'), join(cut, 'fig7-paper-smoke'), { recursive: true });
    const unit = join(cut, 'remedies-paper-smoke', 'runs', 'mall-s0');
    // checkpoints per process (2 epochs per arm): m = all size 1–2, anchor 1–2, joint 1–2, then m = 10 …
    let r = cli(cut, 3); // dies after the anchor arm's first epoch
    expect(r.signal).toBe('SIGKILL');
    expect(existsSync(join(unit, 'size.json'))).toBe(true);
    expect(existsSync(join(unit, 'size+threshold.json'))).toBe(true);
    expect(existsSync(join(unit, 'anchor.last.ckpt'))).toBe(true);
    r = cli(cut, 2); // anchor epoch 2, joint epoch 1: dies in the middle of the joint arm
    expect(r.signal).toBe('SIGKILL');
    expect(existsSync(join(unit, 'anchor+threshold.json'))).toBe(true);
    expect(existsSync(join(unit, 'joint.last.ckpt'))).toBe(true);
    r = cli(cut);
    expect(r.status).toBe(0);
    const a = readJson(join(whole, 'remedies-paper-smoke', 'remedies-paper-smoke.json'));
    const b = readJson(join(cut, 'remedies-paper-smoke', 'remedies-paper-smoke.json'));
    expect(b.complete).toBe(true);
    expect(b.runs).toHaveLength(14); // 2 m × (3 trained + 3 threshold + pre-trained threshold)
    expect(numbersOnly(b.runs)).toEqual(numbersOnly(a.runs));
    expect(numbersOnly(b.table)).toEqual(numbersOnly(a.table));
    expect(existsSync(join(unit, 'joint.last.ckpt'))).toBe(false);
    expect(existsSync(join(unit, 'joint.ckpt'))).toBe(true);
    // the JSON holds the split, the code version, the table and a recommendation
    expect(b.config.split.mode).toMatch(/^image/);
    expect(typeof b.config.codeVersion).toBe('string');
    expect(b.table[0]).toMatchObject({ arm: 'size', seeds: 1 });
    expect(b.recommended).toHaveProperty('arm');
    expect(existsSync(join(cut, 'remedies-paper-smoke', 'remedies-paper-smoke.svg'))).toBe(true);
    // everything finished: nothing is trained or rewritten
    const summary = join(cut, 'remedies-paper-smoke', 'remedies-paper-smoke.json');
    const before = statSync(summary).mtimeMs;
    const again = experimentCli(['remedies', '--preset', 'paper-smoke', '--data', 'synthetic', '--out', cut]);
    expect(again.status).toBe(0);
    expect(again.stdout).toMatch(/nothing to do: all 6 units of remedies paper-smoke are finished/);
    expect(statSync(summary).mtimeMs).toBe(before);
  }, 300_000);
});
