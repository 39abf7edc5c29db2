/**
 * The checkpoint's checksum covers everything a resume reads: the optimiser step, the random streams, the
 * history and the settings in the header, not only the weights. An edit to any of them is refused.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/autograd/index.js';
import { generateSynthetic, indicesOf } from '../../src/data/index.js';
import { ResUNet } from '../../src/models/resunet.js';
import { readCheckpoint } from '../../src/train/checkpoint.js';
import { loadTrainState, saveTrainState } from '../../src/train/resume.js';
import { pretrain, type TrainState } from '../../src/train/trainer.js';

const dir = mkdtempSync(join(tmpdir(), 'sizeseg-integrity-'));

/** The file with the first match of `pattern` in its header replaced by `by` (same length: the layout stays valid). */
function edited(bytes: Buffer, pattern: RegExp, by: (match: string) => string): Buffer {
  const headerLength = bytes.readUInt32LE(8);
  const header = bytes.toString('latin1', 12, 12 + headerLength);
  const match = pattern.exec(header);
  if (!match) throw new Error(`test: ${pattern} not in the header`);
  const replacement = by(match[0]);
  expect(replacement).toHaveLength(match[0].length);
  expect(replacement).not.toBe(match[0]);
  const out = Buffer.from(bytes);
  out.write(replacement, 12 + match.index, 'latin1');
  return out;
}
const bump = (s: string) => s.replace(/\d(?=\D*$)/, (d) => String((Number(d) + 1) % 10));

describe('the checksum covers the training state', () => {
  it('an edited optimiser step, random stream, history or setting is refused', async () => {
    const ds = generateSynthetic({ count: 40, height: 16, width: 16, seed: 1 });
    const model = new ResUNet({ widths: [2, 4], rng: new Rng(1) });
    let saved: TrainState | null = null;
    await pretrain(model, ds, {
      annotated: indicesOf(ds, 'train').slice(0, 8),
      valIndices: indicesOf(ds, 'val'),
      epochs: 1,
      patience: 5,
      batch: 4,
      lr: 1e-3,
      seed: 3,
      onState: (s) => (saved = s),
    });
    const path = join(dir, 'last.ckpt');
    saveTrainState(path, model, saved!, { widths: [2, 4] }, { runConfig: { lr: 0.001 } });
    const good = readFileSync(path);
    expect(() => loadTrainState(path, new ResUNet({ widths: [2, 4] }))).not.toThrow();
    for (const pattern of [
      /"optimizerStep":\d+/,
      /"batches":\{"words":\[\d+/,
      /"trainLoss":[\d.]+/,
      /"sinceBest":\d/,
      /"lr":[\d.]+/,
      /"epoch":\d/,
    ]) {
      const bad = join(dir, 'edited.ckpt');
      writeFileSync(bad, edited(good, pattern, bump));
      expect(() => loadTrainState(bad, new ResUNet({ widths: [2, 4] })), String(pattern)).toThrow(
        /do not match their sha256 \(the file is corrupt or was edited/,
      );
      expect(() => readCheckpoint(bad)).toThrow(/sha256/);
    }
  });

  it('--resume refuses an edited last.ckpt and an edited config.json', () => {
    const out = join(dir, 'runs');
    const run = (...args: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args, '--quiet'], {
        encoding: 'utf8',
        env: { ...process.env, SIZESEG_THREADS: '1' },
      });
    expect(
      run(
        'pretrain',
        '--count',
        '120',
        '--widths',
        '2,4',
        '--batch',
        '8',
        '--m',
        '8',
        '--epochs',
        '1',
        '--out',
        out,
        '--name',
        'r',
      ).status,
    ).toBe(0);
    const last = join(out, 'r', 'last.ckpt');
    const good = readFileSync(last);
    writeFileSync(last, edited(good, /"optimizerStep":\d+/, bump));
    const r1 = run('pretrain', '--resume', join(out, 'r'), '--epochs', '2');
    expect(r1.status).toBe(1);
    expect(r1.stderr).toMatch(/last\.ckpt is not usable: its contents do not match their sha256/);
    writeFileSync(last, good);
    const config = join(out, 'r', 'config.json');
    writeFileSync(config, readFileSync(config, 'utf8').replace('"lr": 0.003', '"lr": 0.03'));
    const r2 = run('pretrain', '--resume', join(out, 'r'), '--epochs', '2');
    expect(r2.status).toBe(1);
    expect(r2.stderr).toMatch(/config\.json does not match the settings the run saved in last\.ckpt \(it was edited\)/);
  });
});
