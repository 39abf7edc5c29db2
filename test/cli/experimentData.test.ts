/**
 * `npm run experiment`: the default data is the downloaded copy (without it: one line naming the download
 * command); with --data synthetic the notes say what the data is instead of describing the real slices, and
 * which m values are the same run there.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { experimentMain } from '../../src/cli/experiment.js';
import { syntheticNotes } from '../../src/cli/experimentData.js';
import { PRESETS } from '../../src/experiments/common.js';
import { FIG7_PROTOCOLS } from '../../src/experiments/fig7paper.js';

const REAL = /real|hippocampus|6103|meta\.json|\d+-image pool/;

/** experimentMain with what it writes to stderr. */
async function withStderr(run: () => Promise<number>): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string) => {
    stderr += String(chunk);
    return true;
  }) as typeof process.stderr.write;
  try {
    return { code: await run(), stderr };
  } finally {
    process.stderr.write = write;
  }
}

describe('experiment data', () => {
  it('defaults to the downloaded copy; without it, one line names the download command', async () => {
    const saved = process.env.SIZESEG_HOME;
    process.env.SIZESEG_HOME = mkdtempSync(join(tmpdir(), 'sizeseg-empty-cache-'));
    try {
      const r = await withStderr(() =>
        experimentMain(['fig7', '--preset', 'smoke', '--quiet', '--out', mkdtempSync(join(tmpdir(), 'sizeseg-exp-'))]),
      );
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(
        /^experiment: no downloaded copy of msd-task04 in .*; run 'npx sizeseg data download msd-task04' first .*--data synthetic/,
      );
      // --count is for generated data only
      expect((await withStderr(() => experimentMain(['fig7', '--preset', 'smoke', '--count', '50']))).stderr).toMatch(
        /--count is for --data synthetic/,
      );
    } finally {
      if (saved === undefined) delete process.env.SIZESEG_HOME;
      else process.env.SIZESEG_HOME = saved;
    }
  });

  it('synthetic notes say what the data is and which runs coincide, for every preset and protocol', () => {
    // 150 images split 70/10/20: 105 train, 15 val, 30 test; the quick preset caps the pools at 480/120/300
    const quick = syntheticNotes(PRESETS.quick.notes, 150, { train: 480, val: 120, test: 300 }, PRESETS.quick.fig7.ms);
    expect(quick[0]).toMatch(
      /^data: SYNTHETIC, not the real hippocampus slices — 150 generated 48×32 images .*pools of 105 training \(size-labelled\), 15 validation and 30 test images; the runs with m = 200 and m = all each take the whole 105-image training pool, so they are identical\./,
    );
    const smoke = syntheticNotes(PRESETS.smoke.notes, 150, { train: 48, val: 16, test: 16 }, PRESETS.smoke.fig7.ms);
    expect(smoke[0]).toMatch(/pools of 48 training .*15 validation and 16 test images\. The numbers test the code/); // m ∈ {10, all}: no two alike
    for (const p of Object.values(PRESETS)) {
      const notes = syntheticNotes(p.notes, 150, { train: p.trainPool, val: p.valCount, test: p.testCount }, p.fig7.ms);
      expect(notes).toHaveLength(p.notes.length + 1);
      for (const n of notes.slice(1)) expect(n).not.toMatch(REAL);
    }
    for (const p of Object.values(FIG7_PROTOCOLS)) {
      for (const n of syntheticNotes(p.notes, 150, p.pools, p.ms).slice(1)) expect(n).not.toMatch(REAL);
    }
  });

  it('a synthetic run stores those notes', async () => {
    const out = mkdtempSync(join(tmpdir(), 'sizeseg-exp-synthetic-'));
    expect(
      await experimentMain([
        'fig7',
        '--preset',
        'smoke',
        '--data',
        'synthetic',
        '--seeds',
        '1',
        '--out',
        out,
        '--quiet',
      ]),
    ).toBe(0);
    const notes = JSON.parse(readFileSync(join(out, 'fig7-smoke', 'fig7.json'), 'utf8')).presetNotes as string[];
    expect(notes[0]).toMatch(/^data: SYNTHETIC/);
    for (const n of notes.slice(1)) expect(n).not.toMatch(REAL);
  });
});
