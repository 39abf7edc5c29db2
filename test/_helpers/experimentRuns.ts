/**
 * What the tests of the resumable paper-scale experiments (fig7paper, remedies) share: the experiment command in
 * a child process that can be made to SIGKILL itself after its N-th checkpoint, the summary JSON without what
 * differs between sessions, and a Progress whose lines are collected.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Progress } from '../../src/cli/progress.js';

const root = resolve(import.meta.dirname, '../..');

/**
 * `npm run experiment -- ARGS` in a child process; with `killAfter` = N it SIGKILLs itself right after its N-th
 * checkpoint (src/experiments/runFiles.ts). Node itself runs the CLI (tsx as a loader, not a wrapper process), so
 * the SIGKILL ends the process we watch.
 */
export function experimentCli(args: string[], killAfter?: number): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, ['--import', 'tsx', join(root, 'src/cli/experiment.ts'), ...args], {
    cwd: root,
    encoding: 'utf8',
    env: {
      ...process.env,
      SIZESEG_TEST_KILL_AFTER_CHECKPOINTS: killAfter === undefined ? '' : String(killAfter),
    },
  });
}

// biome-ignore lint/suspicious/noExplicitAny: an experiment's JSON, read back; the expectations check its shape.
export const readJson = (p: string): Record<string, any> => JSON.parse(readFileSync(p, 'utf8'));

/** The JSON without what differs between sessions (times, machine load, dates). */
export function numbersOnly(x: unknown): unknown {
  if (Array.isArray(x)) return x.map(numbersOnly);
  if (x && typeof x === 'object') {
    return Object.fromEntries(
      Object.entries(x)
        .filter(([k]) => !/seconds|Seconds|machine|finishedAt/.test(k))
        .map(([k, v]) => [k, numbersOnly(v)]),
    );
  }
  return x;
}

/** A Progress whose lines are collected. */
export function capture(): { progress: Progress; lines: string[] } {
  const lines: string[] = [];
  const stream = {
    isTTY: false,
    write: (s: string) => {
      lines.push(...s.split('\n').filter((l) => l.length > 0));
      return true;
    },
  } as unknown as NodeJS.WriteStream;
  return { progress: new Progress({ stream }), lines };
}
