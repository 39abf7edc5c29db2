/**
 * kill -9 inside every kind of write a run makes (config.json, metrics.jsonl appended and rewritten,
 * best.ckpt, last.ckpt, the SVG curves, predictions.png), through the SIZESEG_TEST_CRASH_AT hook that
 * kills the process after part of the file's bytes are out (src/train/files.ts). After each kill every file
 * is whole (old or new), and the run, resumed, ends exactly as an uninterrupted one.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCheckpoint } from '../../src/train/checkpoint.js';
import { expectSameRun } from '../_helpers/runFolder.js';
import { readCompleteLines } from '../../src/train/files.js';

const out = mkdtempSync(join(tmpdir(), 'sizeseg-crash-'));
function sizeseg(crashAt: string | null, ...args: string[]) {
  const env: Record<string, string | undefined> = {
    ...process.env,
    SIZESEG_THREADS: '1',
    SIZESEG_TEST_CRASH_AT: crashAt ?? undefined,
  };
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args, '--quiet'], {
    encoding: 'utf8',
    env,
  });
  return { code: r.status, signal: r.signal, stderr: r.stderr };
}
const tiny = [
  '--data',
  'synthetic',
  '--count',
  '120',
  '--widths',
  '2,4',
  '--batch',
  '8',
  '--m',
  '8',
  '--epochs',
  '2',
  '--patience',
  '10',
  '--out',
  out,
];

/** Every file of the folder is usable: config.json parses, checkpoints load, metrics lines parse. */
function expectWhole(dir: string): void {
  expect(() => JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'))).not.toThrow();
  for (const f of ['best.ckpt', 'last.ckpt'])
    if (existsSync(join(dir, f))) expect(() => readCheckpoint(join(dir, f))).not.toThrow();
  for (const line of readCompleteLines(join(dir, 'metrics.jsonl'))) expect(() => JSON.parse(line)).not.toThrow();
}

describe('kill -9 inside each write', () => {
  it('leaves whole files, and --resume ends where an uninterrupted run ends', () => {
    expect(sizeseg(null, 'pretrain', ...tiny, '--name', 'straight').code).toBe(0);
    const dir = join(out, 'cut');
    const killed = (r: ReturnType<typeof sizeseg>) => expect([r.signal, r.stderr]).toEqual(['SIGKILL', '']);

    // inside config.json of a new run: nothing else written yet, so the name is free again (stale lock, temporary)
    killed(sizeseg('config.json', 'pretrain', ...tiny, '--name', 'cut'));
    expect(readdirSync(dir).some((f) => f.includes('.tmp-'))).toBe(true);
    // inside best.ckpt of epoch 1, before last.ckpt exists: nothing to resume, and said so
    killed(sizeseg('best.ckpt', 'pretrain', ...tiny, '--name', 'cut'));
    expect(existsSync(join(dir, 'best.ckpt'))).toBe(false);
    expect(sizeseg(null, 'pretrain', '--resume', dir).stderr).toMatch(
      /no last\.ckpt there.*nothing to resume.*--overwrite/,
    );
    expect(sizeseg(null, 'pretrain', ...tiny, '--name', 'cut').stderr).toMatch(
      /stopped before its first epoch ended.*--overwrite/,
    );
    // inside last.ckpt of epoch 2: epoch 1 is saved
    killed(sizeseg('last.ckpt:2', 'pretrain', ...tiny, '--name', 'cut', '--overwrite'));
    expectWhole(dir);
    expect(readCheckpoint(join(dir, 'last.ckpt')).header.epoch).toBe(1);
    // resumed, inside: the rewrite of metrics.jsonl, config.json, the append of epoch 2's line, the pictures
    for (const at of ['metrics.jsonl:1', 'config.json', 'metrics.jsonl:2', 'pretrain-loss.svg', 'predictions.png']) {
      killed(sizeseg(at, 'pretrain', '--resume', dir));
      expectWhole(dir);
      // a cut line is left by the append (the next resume cuts it and restores the saved epoch's record)
      if (at === 'metrics.jsonl:2') expect(readFileSync(join(dir, 'metrics.jsonl'), 'utf8').endsWith('\n')).toBe(false);
    }
    const resumed = sizeseg(null, 'pretrain', '--resume', dir);
    expect(resumed.stderr).toBe('');
    expect(resumed.code).toBe(0);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-') || f === '.lock')).toEqual([]);

    expectSameRun(dir, join(out, 'straight'));
    expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'))).toEqual(
      JSON.parse(readFileSync(join(out, 'straight', 'config.json'), 'utf8')),
    );
  });
});
