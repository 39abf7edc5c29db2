/**
 * The file plumbing of the resumable paper-scale experiments (fig7paper.ts, remedies.ts): atomic writes,
 * JSON that keeps non-finite numbers, and the test hook that kills the process after its N-th checkpoint.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';

/** Write a file atomically (temporary name in the same folder, then rename). */
export function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}
export const jsonText = (v: unknown): string =>
  `${JSON.stringify(v, (_k, x) => (typeof x === 'number' && !Number.isFinite(x) ? String(x) : x), 2)}\n`;
export const readJson = <T>(path: string): T => JSON.parse(readFileSync(path, 'utf8')) as T;

/**
 * Test hook: with SIZESEG_TEST_KILL_AFTER_CHECKPOINTS=N the process SIGKILLs itself right after its N-th
 * checkpoint write — a deterministic point for the resume test to die at (nothing else reads it).
 */
let checkpointsWritten = 0;
export function afterCheckpoint(): void {
  checkpointsWritten++;
  const n = Number(process.env.SIZESEG_TEST_KILL_AFTER_CHECKPOINTS);
  if (Number.isInteger(n) && n > 0 && checkpointsWritten === n) process.kill(process.pid, 'SIGKILL');
}
