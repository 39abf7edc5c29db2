/**
 * `npm run <script> -- --help` prints the script's help and exits 0 without running it: no benchmark, no
 * build, no server, and no tracked file changes (git status is the same before and after).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const repo = resolve(import.meta.dirname, '../..');

/**
 * The npm scripts that take arguments, with what their help starts with and the ignored output they must
 * leave alone. (The command line's scripts — start, sizeseg, figure, experiment — answer --help through
 * src/cli; list them here too.)
 */
const SCRIPTS: Array<{ script: string; usage: RegExp; untouched?: string }> = [
  { script: 'bench', usage: /Usage: npm run bench/, untouched: 'bench/results/local' },
  { script: 'web', usage: /Usage: npm run web/, untouched: 'web/dist' },
  { script: 'build:web', usage: /Usage: npm run build:web/, untouched: 'web/dist' },
];

const gitStatus = (): string => {
  const r = spawnSync('git', ['status', '--porcelain', '--untracked-files=all'], { cwd: repo, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git status failed: ${r.stderr}`);
  return r.stdout;
};
const mtime = (path: string): number | null =>
  existsSync(join(repo, path)) ? statSync(join(repo, path)).mtimeMs : null;

describe('npm run SCRIPT -- --help', () => {
  it.each(SCRIPTS)('$script: prints its help, exits 0, runs nothing', ({ script, usage, untouched }) => {
    const before = gitStatus();
    const outputBefore = untouched === undefined ? null : mtime(untouched);
    // a script that ignored --help would benchmark, build or serve: the timeout ends a server
    const r = spawnSync('npm', ['run', script, '--', '--help'], { cwd: repo, encoding: 'utf8', timeout: 60_000 });
    expect(r.error).toBeUndefined();
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(usage);
    expect(gitStatus()).toBe(before);
    if (untouched !== undefined) expect(mtime(untouched)).toBe(outputBefore);
  });
});
