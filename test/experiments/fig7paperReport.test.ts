/**
 * The paper-scale Fig. 7 report (src/experiments/fig7paperReport.ts): its numbers against values worked
 * out by hand for three made-up runs, so a wrong mean, standard error, column or missing-seed mark fails.
 */
import { describe, expect, it } from 'vitest';
import { buildTable, plotFig7Paper, type Fig7PaperRun } from '../../src/experiments/fig7paper.js';
import { fig7PaperReport } from '../../src/experiments/fig7paperReport.js';

function run(
  m: number,
  seed: number,
  arm: Fig7PaperRun['arm'],
  before: number,
  after: number,
  seconds: number,
): Fig7PaperRun {
  const rec = (iou: number) => ({ iou, dice: iou + 0.1, E: 2, count: 10, fgPred: 0.1, fgTrue: 0.09 });
  return {
    m,
    mLabel: String(m),
    seed,
    arm,
    annotated: m,
    trainImages: 100,
    pretrain: { epochs: 4, bestEpoch: 2, seconds: 3600, val: { iou: before, dice: 0, E: 0, count: 5 } as never },
    before: rec(before),
    after: rec(after),
    phase: { epochs: 6, bestEpoch: 3, trainSeconds: 0, valSeconds: 0, valStart: null, history: [] },
    seconds,
    finishedAt: '2026-12-02T00:00:00Z',
  };
}

describe('fig7PaperReport', () => {
  const runs = [
    run(10, 0, 'size', 0.4, 0.5, 1800),
    run(10, 1, 'size', 0.3, 0.46, 1800),
    run(10, 0, 'joint', 0.4, 0.55, 3600),
  ];
  const text = fig7PaperReport({
    preset: 'paper',
    runsDone: 3,
    runsTotal: 36,
    config: { ms: [10, 20], seeds: 3 },
    table: buildTable(runs, [10, 20]),
    runs,
    machine: { cpuModel: 'Test CPU', cores: 2 },
  });

  it('gives mean ± standard error over the seeds, and no error term for one seed', () => {
    // size, m = 10: before (40 + 30) / 2 = 35.0, s.e. |40 − 30| / 2 = 5.0; after 48.0 ± 2.0; gain (10 + 16) / 2 = +13.0 ± 3.0
    expect(text).toContain('| size | 10 | 2 | 35.0 ± 5.0 | 48.0 ± 2.0 | +13.0 ± 3.0 |');
    expect(text).toContain('| joint | 10 | 1 | 40.0 | 55.0 | +15.0 |');
    expect(text).not.toMatch(/\| size \| 20 \|/); // nothing finished at m = 20
  });

  it('lists each seed, with a dash where a seed has not finished', () => {
    expect(text).toContain('| 10 | size | 40.0 → 50.0 | 30.0 → 46.0 | — |');
    expect(text).toContain('| 10 | joint | 40.0 → 55.0 | — | — |');
  });

  it('says how much is done and counts the shared pre-training once per (m, seed)', () => {
    expect(text).toContain('partial: 3 of 36 runs');
    // pre-training: two size runs × 1 h; arms: 0.5 + 0.5 + 1 h
    expect(text).toContain(
      '4.0 h of training and evaluation: 2.0 h pre-training, 2.0 h in the arms. The machine that wrote this summary (after its latest run): Test CPU, 2 cores;',
    );
  });

  it('counts the runs that record their CPU and commit, per place, and says so only when some do', () => {
    expect(text).not.toContain('record where they trained'); // the runs above predate the record
    const placed = [
      { ...run(10, 0, 'size', 0.4, 0.5, 60), cpuModel: 'CPU A', codeVersion: 'aaa' },
      { ...run(10, 1, 'size', 0.3, 0.4, 60), cpuModel: 'CPU A', codeVersion: 'aaa' },
      { ...run(10, 2, 'size', 0.3, 0.4, 60), cpuModel: 'CPU B', codeVersion: 'bbb' },
      run(20, 0, 'size', 0.3, 0.4, 60),
    ];
    const report = fig7PaperReport({
      preset: 'paper',
      runsDone: 4,
      runsTotal: 4,
      config: { ms: [10, 20], seeds: 3 },
      table: buildTable(placed, [10, 20]),
      runs: placed,
    });
    expect(report).toContain(
      'Runs that record where they trained (3 of 4): 2 on CPU A, code aaa; 1 on CPU B, code bbb.',
    );
  });

  it('lists every run with its epochs, metrics before → after and minutes', () => {
    // made-up run: pre-training 4 epochs (best 2), arm 6 (best 3), Dice = IoU + 10 points, E 2, foreground 10 % (true 9 %), 3600 s / 1800 s
    expect(text).toContain(
      '| m | seed | arm | pre-training epochs (best) | arm epochs (best) | IoU | Dice | E | foreground (true 9.0) | minutes: pre-training / arm |',
    );
    expect(text).toContain(
      '| 10 | 1 | size | 4 (2) | 6 (3) | 30.0 → 46.0 | 40.0 → 56.0 | 2.00 → 2.00 | 10.0 → 10.0 | 60 / 30 |',
    );
  });

  it('pairs the arms within a seed: joint − size from the one seed that has both', () => {
    // m = 10 seed 0: joint 55 − size 50 = +5.0; seed 1 has no joint run
    expect(text).toContain(
      '| joint − size loss: what keeping BCE on the m annotated images adds | 10 | 1 | +5.0 | +5.0 | — | — |',
    );
    expect(text).not.toContain('true − shuffled sizes'); // no shuffled run yet
  });
});

describe('fig7PaperReport paired differences over seeds', () => {
  const runs = [
    run(10, 0, 'size', 0.4, 0.5, 1),
    run(10, 1, 'size', 0.3, 0.46, 1),
    run(10, 0, 'shuffled', 0.4, 0.44, 1),
    run(10, 1, 'shuffled', 0.3, 0.44, 1),
  ];
  const text = fig7PaperReport({
    preset: 'paper',
    runsDone: 4,
    runsTotal: 4,
    config: { ms: [10], seeds: 3 },
    table: buildTable(runs, [10]),
    runs,
  });

  it('gives the mean ± standard error of the per-seed differences', () => {
    // differences +6.0 and +2.0: mean +4.0; sample s.d. √((2² + 2²) / 1) = 2√2, s.e. 2√2 / √2 = 2.0
    expect(text).toContain(
      '| true − shuffled sizes: what the size labels themselves add | 10 | 2 | +4.0 ± 2.0 | +6.0 | +2.0 | — |',
    );
    expect(text).toContain('all 4 runs');
  });
});

describe('plotFig7Paper', () => {
  const rec = (iou: number, fg: number) => ({ iou, dice: iou, E: 2, count: 10, fgPred: fg, fgTrue: 0.091 });
  const r = (m: number, seed: number, arm: Fig7PaperRun['arm'], fgAfter: number): Fig7PaperRun => ({
    ...run(m, seed, arm, 0.4, 0.5, 1),
    before: rec(0.4, 0.11),
    after: rec(0.5, fgAfter),
  });
  const runs = [r(10, 0, 'size', 0.07), r(10, 1, 'size', 0.09), r(50, 0, 'size', 0.08)];
  const files = plotFig7Paper({
    preset: 'paper',
    config: { seeds: 2 },
    runsDone: 3,
    runsTotal: 4,
    table: buildTable(runs, [10, 50]),
  });

  it('draws IoU and the foreground fractions, with the true fraction as a dashed line', () => {
    expect(Object.keys(files).sort()).toEqual(['fig7-paper-foreground.svg', 'fig7-paper.svg']);
    const fg = files['fig7-paper-foreground.svg']!;
    expect(fg).toContain('true foreground (test split)');
    expect(fg).toContain('stroke-dasharray');
    expect(fg).toContain('partial: 3/4 runs');
    expect(files['fig7-paper.svg']).not.toContain('true foreground');
  });

  it("names the seeds behind the means, as a range where rows have different counts (not the protocol's)", () => {
    // m = 10 has seeds 0 and 1, m = 50 only seed 0; the protocol's config says 2
    expect(files['fig7-paper.svg']).toContain('(paper, 1–2 seeds, partial: 3/4 runs)');
    // nothing finished yet: the protocol's count
    const empty = plotFig7Paper({ preset: 'paper', config: { seeds: 2 }, table: [] });
    expect(empty['fig7-paper.svg']).toContain('(paper, 2 seeds)');
  });
});
