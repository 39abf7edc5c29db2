/**
 * Reading a CLI run's folder in tests: its checkpoints' weights and its epoch records without wall times, and the
 * check the resume tests share — a run cut and resumed ends exactly as an uninterrupted one.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { readCheckpoint } from '../../src/train/checkpoint.js';

/** Every tensor of a checkpoint, as plain numbers (compared with toEqual: bit for bit on float32 values). */
export function weightsOf(dir: string, file: 'last.ckpt' | 'best.ckpt'): number[][] {
  return [...readCheckpoint(join(dir, file)).state.values()].map((t) => Array.from(t.values()));
}

/** The epoch records of metrics.jsonl (not the run's other lines), without their wall times. */
export function epochRecordsOf(dir: string): Record<string, unknown>[] {
  return readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((r) => r['epoch'] !== undefined)
    .map(({ seconds: _s, ...r }) => r);
}

/** The run in `resumed` ended exactly as the one in `straight`: both checkpoints and every epoch record. */
export function expectSameRun(resumed: string, straight: string): void {
  expect(weightsOf(resumed, 'last.ckpt')).toEqual(weightsOf(straight, 'last.ckpt'));
  expect(weightsOf(resumed, 'best.ckpt')).toEqual(weightsOf(straight, 'best.ckpt'));
  expect(epochRecordsOf(resumed)).toEqual(epochRecordsOf(straight));
}
