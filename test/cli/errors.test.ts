/**
 * Errors name the file or flag, the cause and a fix a command-line user can apply: a NaN voxel is not called
 * "constant", a folder as --checkpoint is not a bare EISDIR, a full disk names the file, flags too large for
 * memory are refused up front with their limit, and no message points at an API function.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { loadMsd } from '../../src/data/msd.js';
import { NIFTI_DT, encodeNifti } from '../../src/data/nifti.js';

const out = mkdtempSync(join(tmpdir(), 'sizeseg-errors-'));
function sizeseg(env: Record<string, string>, ...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args, '--quiet'], {
    encoding: 'utf8',
    env: { ...process.env, SIZESEG_THREADS: '1', ...env },
  });
  return { code: r.status, stderr: r.stderr };
}
const tiny = ['--data', 'synthetic', '--count', '120', '--widths', '2,4', '--batch', '8', '--out', out];

/** One line, `sizeseg: error: …`, matching `pattern`, naming no API function and no bare error code. */
function expectOneLine(stderr: string, pattern: RegExp): void {
  expect(stderr.trim().split('\n')).toHaveLength(1);
  expect(stderr).toMatch(/^sizeseg: error: /);
  expect(stderr).toMatch(pattern);
  expect(stderr).not.toMatch(
    /^sizeseg: error: E[A-Z]+:|selectAnnotated|makeBatch|loadStateDict|model\.to\(|Invalid typed array|reshape\(/,
  );
}

describe('errors name the cause and the fix', () => {
  it('a NIfTI volume with a NaN voxel is reported as damaged at that voxel, not as constant', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sizeseg-nan-'));
    mkdirSync(join(dir, 'imagesTr'));
    mkdirSync(join(dir, 'labelsTr'));
    const [I, J, K] = [32, 48, 2];
    const img = Array.from({ length: I * J * K }, (_, v) => v % 7);
    img[I * 3 + 5] = Number.NaN;
    const lab = Array.from({ length: I * J * K }, (_, v) =>
      v % I > 10 && v % I < 20 && Math.floor(v / I) % J > 10 && Math.floor(v / I) % J < 20 ? 1 : 0,
    );
    writeFileSync(
      join(dir, 'imagesTr', 'hippocampus_001.nii.gz'),
      gzipSync(encodeNifti(img, [I, J, K], { datatype: NIFTI_DT.FLOAT32 })),
    );
    writeFileSync(
      join(dir, 'labelsTr', 'hippocampus_001.nii.gz'),
      gzipSync(encodeNifti(lab, [I, J, K], { datatype: NIFTI_DT.UINT8 })),
    );
    expect(() => loadMsd(dir, { meta: false })).toThrow(
      /hippocampus_001\.nii\.gz has a non-finite voxel \(NaN\) at \(5, 3, 0\); the file is damaged: replace it/,
    );
  });

  it('a folder as --checkpoint, a file as --resume', () => {
    const ev = sizeseg({}, 'evaluate', '--checkpoint', out);
    expect(ev.code).toBe(1);
    expectOneLine(ev.stderr, /checkpoint .* is a folder, not a \.ckpt file; pass the file/);
    const file = join(out, 'x.ckpt');
    writeFileSync(file, 'x');
    const re = sizeseg({}, 'pretrain', '--resume', file);
    expect(re.code).toBe(2);
    expectOneLine(re.stderr, /--resume .*x\.ckpt is a file; pass the run folder that holds it/);
  });

  it('a full disk names the file it could not write and what to do', () => {
    const r = sizeseg(
      { SIZESEG_TEST_FAIL_AT: 'last.ckpt:ENOSPC' },
      'pretrain',
      ...tiny,
      '--m',
      '8',
      '--epochs',
      '1',
      '--name',
      'full',
    );
    expect(r.code).toBe(1);
    expectOneLine(
      r.stderr,
      /cannot write .*full\/last\.ckpt: the disk is full \(ENOSPC\); free some space, or pass --out a folder on another disk/,
    );
  });

  it('flags beyond what fits in memory are refused up front with the limit', () => {
    for (const [args, pattern] of [
      [['--count', '1e9'], /--count must be at most 200000, got '1e9'/],
      [['--widths', '2,100000'], /--widths allows at most 6 levels of at most 1024 channels, got '2,100000'/],
      [['--samples', '1000000'], /--samples must be at most 1000/],
      [['--batch', '1e7'], /--batch must be at most 4096/],
    ] as const) {
      const r = sizeseg(
        {},
        ...(args[0] === '--samples' ? ['sizetrain', '--checkpoint', 'x.ckpt'] : ['pretrain']),
        ...args,
        '--name',
        'never',
      );
      expect(r.code).toBe(2);
      expectOneLine(r.stderr, pattern);
    }
  });

  it('errors a user can fix with a flag name the flag, not an API function', () => {
    const m = sizeseg({}, 'pretrain', ...tiny, '--m', '500', '--epochs', '1', '--name', 'too-many');
    expect(m.code).toBe(2);
    expectOneLine(m.stderr, /--m 500: the training split of --data synthetic has only 84 images; pass --m 84 or fewer/);
    const deep = sizeseg({}, 'pretrain', ...tiny, '--widths', '2,4,8,16,32,64', '--name', 'too-deep');
    expect(deep.code).toBe(2);
    expectOneLine(
      deep.stderr,
      /--widths 2,4,8,16,32,64 has 6 levels.*48×32 images, which allow at most 5 levels, e.g. --widths 2,4,8,16,32\./,
    );
    expect(existsSync(join(out, 'too-deep'))).toBe(false); // refused before anything was written: no folder left
  });
});
