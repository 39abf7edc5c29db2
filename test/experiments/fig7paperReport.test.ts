/**
 * The paper-scale Fig. 7 report (src/experiments/fig7paperReport.ts): its numbers against values worked
 * out by hand for three made-up runs, so a wrong mean, standard error, column or missing-seed mark fails.
 */
import { describe, expect, it } from 'vitest';
import { buildTable, type Fig7PaperRun } from '../../src/experiments/fig7paper.js';
import { fig7PaperReport } from '../../src/experiments/fig7paperReport.js';

function run(m: number, seed: number, arm: Fig7PaperRun['arm'], before: number, after: number, seconds: number): Fig7PaperRun {
  const rec = (iou: number) => ({ iou, dice: iou + 0.1, E: 2, count: 10, fgPred: 0.1, fgTrue: 0.09 });
  return {
    m, mLabel: String(m), seed, arm, annotated: m, trainImages: 100,
    pretrain: { epochs: 4, bestEpoch: 2, seconds: 3600, val: { iou: before, dice: 0, E: 0, count: 5 } as never },
    before: rec(before), after: rec(after),
    phase: { epochs: 6, bestEpoch: 3, trainSeconds: 0, valSeconds: 0, valStart: null, history: [] },
    seconds, finishedAt: '2026-12-02T00:00:00Z',
  };
}

describe('fig7PaperReport', () => {
  const runs = [run(10, 0, 'size', 0.40, 0.50, 1800), run(10, 1, 'size', 0.30, 0.46, 1800), run(10, 0, 'joint', 0.40, 0.55, 3600)];
  const text = fig7PaperReport({
    preset: 'paper', runsDone: 3, runsTotal: 36, config: { ms: [10, 20], seeds: 3 },
    table: buildTable(runs, [10, 20]), runs, machine: { cpuModel: 'Test CPU', cores: 2 },
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
    expect(text).toContain('4.0 h of training and evaluation on Test CPU (2 cores): 2.0 h pre-training, 2.0 h in the arms.');
  });
});
