/**
 * What `npm run experiment -- … --data synthetic` means, said where the presets speak of the real slices.
 *
 * The presets' notes (src/experiments/common.ts, fig7paper.ts) describe the real hippocampus slices. On
 * synthetic data the experiments run the same code on `--count` generated images (default 150) split 70/10/20
 * by image, so the pools are far smaller than the notes say, and every m at or above the training pool is the
 * whole pool: those runs (e.g. fig7's m = 200 and m = all) are one and the same run. The notes are rewritten
 * here rather than in the presets, which stay the paper's description.
 */
import { splitCounts } from '../data/index.js';

/** Images the experiments generate for --data synthetic unless --count says otherwise. */
export const EXPERIMENT_SYNTHETIC_COUNT = 150;

/** Phrases of the presets' notes that describe the real data, and what they say on synthetic data. */
const REAL_DATA_PHRASES: readonly [RegExp, string][] = [
  [
    /all 6103 real slices split by volume \(split_by_volume of meta\.json: no patient in two splits\)/g,
    'all the generated images, split by image (synthetic images have no volumes)',
  ],
  [/all 6103 (real )?slices/g, 'all the generated images'],
  [/real hippocampus slices/g, 'generated synthetic images'],
  [/\b\d+-image pool\b/g, 'pool'],
];

/**
 * The notes of a preset or protocol for synthetic data: first what the data is and which runs coincide, then
 * the preset's notes with their statements about the real slices replaced.
 */
export function syntheticNotes(
  notes: readonly string[],
  count: number,
  pools: { train?: number; val?: number; test?: number },
  ms: readonly (number | 'all')[],
): string[] {
  const [train, val, test] = splitCounts(count);
  const pool = {
    train: Math.min(train, pools.train ?? train),
    val: Math.min(val, pools.val ?? val),
    test: Math.min(test, pools.test ?? test),
  };
  const same = ms.filter((m) => m === 'all' || m >= pool.train).map(String);
  const data = `data: SYNTHETIC, not the real hippocampus slices — ${count} generated 48×32 images (--count N for more), split 70/10/20 by image: pools of ${pool.train} training (size-labelled), ${pool.val} validation and ${pool.test} test images`;
  const coincide =
    same.length > 1
      ? `; the runs with m = ${same.join(' and m = ')} each take the whole ${pool.train}-image training pool, so they are identical`
      : '';
  return [
    `${data}${coincide}. The numbers test the code, not the method on real data.`,
    ...notes.map((n) => REAL_DATA_PHRASES.reduce((text, [from, to]) => text.replace(from, to), n)),
  ];
}
