/**
 * `sizeseg sizetrain --joint [--joint-lambda X]`, run as a user would: the annotated images are the ones pretrain
 * chose (its config.json), config.json records the setting, --resume continues a joint run to the weights of an
 * uninterrupted one, and wrong uses are one-line errors that name the fix.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { epochRecordsOf, expectSameRun, weightsOf } from '../_helpers/runFolder.js';

const out = mkdtempSync(join(tmpdir(), 'sizeseg-cli-joint-'));
function sizeseg(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    encoding: 'utf8',
    env: { ...process.env, SIZESEG_THREADS: '1' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const data = ['--data', 'synthetic', '--count', '120', '--quiet'];
const pre = join(out, 'pre', 'best.ckpt');
const sizetrain = (...args: string[]) =>
  sizeseg('sizetrain', '--checkpoint', pre, '--quiet', '--out', out, '--batch', '8', ...args);
const config = (name: string) => JSON.parse(readFileSync(join(out, name, 'config.json'), 'utf8'));
const modelOf = (name: string, file: 'last.ckpt' | 'best.ckpt') => weightsOf(join(out, name), file);

beforeAll(() => {
  const r = sizeseg(
    'pretrain',
    ...data,
    '--out',
    out,
    '--widths',
    '2,4',
    '--batch',
    '8',
    '--m',
    '8',
    '--epochs',
    '1',
    '--name',
    'pre',
  );
  expect(r.stderr).toBe('');
}, 60_000);

describe('sizeseg sizetrain --joint', () => {
  it("trains BCE on pretrain's annotated images + λ·size on the rest; config.json records it; --resume continues it bit for bit", () => {
    const straight = sizetrain('--joint', '--epochs', '2', '--patience', '10', '--name', 'joint');
    expect(straight.stderr).toBe('');
    expect(straight.code).toBe(0);
    const annotated = config('pre').annotated as number[];
    expect(annotated).toHaveLength(8);
    expect(config('joint').joint).toEqual({ lambda: 0.001, annotated });
    expect(readFileSync(join(out, 'joint', 'sizetrain-loss.svg'), 'utf8')).toContain('BCE + 0.001·size loss (train)');
    expect(epochRecordsOf(join(out, 'joint')).map((r) => [r.phase, r.epoch])).toEqual([
      ['sizetrain', 1],
      ['sizetrain', 2],
    ]);

    const cut = sizetrain('--joint', '--joint-lambda', '0.001', '--epochs', '1', '--patience', '10', '--name', 'jcut');
    expect(cut.code).toBe(0);
    const changed = sizeseg('sizetrain', '--resume', join(out, 'jcut'), '--joint-lambda', '0.01');
    expect(changed.code).toBe(2);
    expect(changed.stderr).toMatch(/--joint-lambda cannot change when resuming.*only --epochs and --patience/);
    const resumed = sizeseg('sizetrain', '--resume', join(out, 'jcut'), '--epochs', '2', '--quiet');
    expect(resumed.stderr).toBe('');
    expect(resumed.code).toBe(0);
    expectSameRun(join(out, 'jcut'), join(out, 'joint'));

    // plain size training from the same checkpoint makes other weights (the option is not ignored)
    const plain = sizetrain('--epochs', '2', '--patience', '10', '--name', 'plain');
    expect(plain.code).toBe(0);
    expect(config('plain').joint).toBeUndefined();
    expect(readFileSync(join(out, 'plain', 'sizetrain-loss.svg'), 'utf8')).toContain('>size loss (train)');
    expect(modelOf('plain', 'last.ckpt')).not.toEqual(modelOf('joint', 'last.ckpt'));
    // a joint run's checkpoint is no pretrain checkpoint: --joint from it is refused
    const again = sizeseg(
      'sizetrain',
      '--checkpoint',
      join(out, 'joint', 'best.ckpt'),
      '--joint',
      '--quiet',
      '--out',
      out,
    );
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/comes from 'sizetrain'.*start from the pretrain run's checkpoint/);
  }, 120_000);

  it('wrong uses: one line naming the fix', () => {
    for (const [args, pattern] of [
      [['--joint-lambda', '0.01'], /--joint-lambda sets λ of the joint objective: add --joint/],
      [['--joint', '--joint-lambda', '0'], /--joint-lambda must be a positive number, got '0'/],
      [['--joint', '--joint-lambda', 'NaN'], /--joint-lambda must be a positive number, got 'NaN'/],
      // other images (seed 1): none of the checkpoint's annotated images is among them
      [['--joint', '--seed', '1'], /--joint: 0 of the 8 images .* needs the data the checkpoint was pre-trained on/],
    ] as const) {
      const r = sizetrain(...args, '--epochs', '1', '--name', 'refused');
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(pattern);
    }
  }, 60_000);

  it('help states the option and its default', () => {
    const help = sizeseg('sizetrain', '--help').stdout.replace(/\s+/g, ' ');
    expect(help).toMatch(/--joint the joint objective: BCE on the checkpoint's pixel-annotated images/);
    expect(help).toMatch(/--joint-lambda X λ of --joint, the size loss's weight \(default 0\.001/);
  });
});
