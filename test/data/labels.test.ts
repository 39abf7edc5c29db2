/**
 * Labels are validated where they are loaded (the file and the field named), a split without images is an
 * error rather than a result over 0 images, and an all-foreground mask's size follows the same +∞ rule for
 * targets as for sampled masks (2·max(H, W), docs/estimators.md).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Rng, Tensor } from '../../src/autograd/index.js';
import { makeBatch } from '../../src/data/dataset.js';
import { loadPrepared } from '../../src/data/prepared.js';
import { sizeLoss } from '../../src/estimators/sizeLossOp.js';
import { ResUNet } from '../../src/models/resunet.js';
import { saveCheckpoint } from '../../src/train/checkpoint.js';

const N = 6,
  H = 8,
  W = 6,
  V = H * W;

/** A tiny prepared folder; image 0's mask is all foreground. */
function folder(meta: Record<string, unknown> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'sizeseg-labels-'));
  const masks = new Uint8Array(N * V);
  masks.fill(1, 0, V);
  for (let n = 1; n < N; n++) for (let r = 2; r < 5; r++) for (let c = 1; c < 4; c++) masks[n * V + r * W + c] = 1;
  writeFileSync(
    join(dir, 'images.f32'),
    new Uint8Array(Float32Array.from({ length: N * V }, (_, i) => Math.sin(i)).buffer),
  );
  writeFileSync(join(dir, 'masks.u8'), masks);
  writeFileSync(join(dir, 'meta.json'), JSON.stringify({ N, H, W, split_by_volume: [0, 0, 0, 1, 2, 2], ...meta }));
  return dir;
}

describe('labels are validated where they are loaded', () => {
  it('split codes: only the integers 0, 1, 2 (no truncation of 1.5, no "1", no -1)', () => {
    for (const bad of [1.5, '1', -1, null]) {
      const dir = folder({ split_by_volume: [0, 0, 0, bad, 2, 2] });
      expect(() => loadPrepared(dir)).toThrow(
        new RegExp(
          `${dir}/meta\\.json "split_by_volume"\\[3\\] is ${JSON.stringify(bad)?.replace(/[.[\]]/g, '\\$&')}; split codes`,
        ),
      );
    }
  });

  it('sizes: numbers from 0 to 2·max(H, W); null only for an all-foreground mask', () => {
    const sizes = (s3: unknown, s0: unknown = 16) => folder({ size: [s0, 4, 4, s3, 4, 4] });
    for (const bad of [-2, 'big', 1e9, true])
      expect(() => loadPrepared(sizes(bad))).toThrow(/meta\.json "size"\[3\] is .*; a size is a number from 0 to 16/);
    expect(() => loadPrepared(sizes(null))).toThrow(/"size"\[3\] is null, but mask 3 is not all foreground/);
    expect(loadPrepared(sizes(4, null)).sizes[0]).toBe(16);
  });

  it('an all-foreground mask is a finite target, 2·max(H, W), as a sampled all-foreground mask is', () => {
    const ds = loadPrepared(folder());
    expect(ds.sizes[0]).toBe(2 * Math.max(H, W));
    // size training accepts it (an infinite target was refused at step 1 with a message naming no file)
    const b = makeBatch(ds, [0, 1]);
    const logits = new Tensor(new Float32Array(2 * V).fill(5), [2, 1, H, W]).requiresGrad_();
    const loss = sizeLoss(logits, b.sizes, { rng: new Rng(0), samples: 1 });
    expect(Number.isFinite(loss.item())).toBe(true);
  });

  it('evaluate on a split without images is an error that names the split and the fix', () => {
    const dir = folder({ split_by_volume: [0, 0, 0, 0, 2, 2] });
    const ckpt = join(dir, 'm.ckpt');
    saveCheckpoint(ckpt, new ResUNet({ widths: [2, 4], rng: new Rng(1) }), {
      config: { widths: [2, 4] },
      epoch: 1,
      phase: 'pretrain',
      metrics: {},
    });
    const r = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/cli/main.ts',
        'evaluate',
        '--data',
        `prepared:${dir}`,
        '--checkpoint',
        ckpt,
        '--split',
        'val',
        '--quiet',
      ],
      { encoding: 'utf8' },
    );
    expect(r.stdout).toBe('');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(
      /^sizeseg: error: the val split of --data prepared:.* has no images \(6 images: train 4, val 0, test 2\); pick another --split/,
    );
  });
});
