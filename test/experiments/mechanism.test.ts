/**
 * The geometry of the mechanism study (src/experiments/mechanism.ts): distances to the largest inscribed squares
 * on a hand-drawn mask, and the whole study on the paper-smoke miniature (its files, and that it reads
 * what the remedies run left).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Progress } from '../../src/cli/progress.js';
import { PRESETS, type ExperimentContext } from '../../src/experiments/common.js';
import { DT_INF } from '../../src/estimators/distanceTransform.js';
import { distanceToInscribedSquares, runMechanism } from '../../src/experiments/mechanism.js';
import { REMEDIES_PROTOCOLS, runRemedies } from '../../src/experiments/remedies.js';

const out = mkdtempSync(join(tmpdir(), 'sizeseg-mechanism-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('distance to the largest inscribed squares', () => {
  it('is 0 on the 4×4 square, and counts Chebyshev steps along a one-pixel tail and into the background', () => {
    // 8×10: a 4×4 square (rows 1–4, columns 1–4) with a tail along row 2 from column 5 to 8.
    // Distance transform: 2 on the square's inner 2×2, so D = 2 and the maximal squares (radius 1 around
    // those four centres) cover exactly the 4×4 square; the tail does not enlarge g.
    const H = 8;
    const W = 10;
    const mask = new Uint8Array(H * W);
    for (let r = 1; r <= 4; r++) for (let c = 1; c <= 4; c++) mask[r * W + c] = 1;
    for (let c = 5; c <= 8; c++) mask[2 * W + c] = 1;
    const d = distanceToInscribedSquares(mask, 0, H, W);
    for (let r = 1; r <= 4; r++) for (let c = 1; c <= 4; c++) expect(d[r * W + c]).toBe(0);
    expect([5, 6, 7, 8].map((c) => d[2 * W + c])).toEqual([1, 2, 3, 4]);
    expect(d[7 * W + 9]).toBe(5); // max(|7 − 4|, |9 − 4|)
    expect(d[0]).toBe(1);
    expect(distanceToInscribedSquares(new Uint8Array(H * W), 0, H, W).every((v) => v === DT_INF)).toBe(true);
  });

  it('runs on the networks a paper-smoke remedies run left and writes its JSON and figures', async () => {
    const ctx: ExperimentContext = {
      preset: PRESETS.smoke,
      dataSpec: 'synthetic',
      syntheticCount: 150,
      out,
      seeds: 1,
      progress: new Progress({ quiet: true }),
    };
    await runRemedies(ctx, REMEDIES_PROTOCOLS['paper-smoke']);
    const r = await runMechanism(ctx, REMEDIES_PROTOCOLS['paper-smoke'], { ms: ['all'], samples: 2 });
    const dir = join(out, 'remedies-paper-smoke', 'mechanism');
    for (const f of [
      'mechanism.json',
      'mechanism-recall.svg',
      'mechanism-probabilities.svg',
      'mechanism-gradient.svg',
      'mechanism-gradient-touched.svg',
      'mechanism-examples-mall-s0.png',
    ])
      expect(existsSync(join(dir, f))).toBe(true);
    const j = JSON.parse(readFileSync(join(dir, 'mechanism.json'), 'utf8'));
    expect(j.units).toHaveLength(1);
    expect(j.units[0].networks.map((n: { name: string }) => n.name)).toEqual([
      'pre-trained',
      'size',
      'anchor',
      'joint',
    ]);
    // every foreground pixel of the truth is in exactly one region, the same count for every network
    const counts = j.units[0].networks.map((n: { fgCounts: number[] }) => n.fgCounts.reduce((a, b) => a + b, 0));
    expect(new Set(counts).size).toBe(1);
    expect(r.files.length).toBe(6);
  }, 120_000);
});
