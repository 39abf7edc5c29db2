/**
 * Run folders are protected: an existing one is refused with the ways out, --overwrite replaces only its run
 * files, --name cannot leave --out, sizetrain never writes into its checkpoint's folder, and a run holds a lock
 * while it writes (a second process is refused naming the holder's pid; a dead holder's lock is taken over).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const out = mkdtempSync(join(tmpdir(), 'sizeseg-runs-'));
const args = (...rest: string[]) => ['--import', 'tsx', 'src/cli/main.ts', ...rest];
const env = { ...process.env, SIZESEG_THREADS: '1' };
function sizeseg(...rest: string[]) {
  const r = spawnSync(process.execPath, args(...rest, '--quiet'), { encoding: 'utf8', env });
  return { code: r.status, stderr: r.stderr };
}
const tiny = ['--data', 'synthetic', '--count', '120', '--widths', '2,4', '--batch', '8', '--m', '8', '--out', out];
const lines = (name: string) =>
  readFileSync(join(out, name, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n').length;

describe('run folders', () => {
  it('an existing run is refused with --resume, --name and --overwrite named; nothing of it changes', () => {
    expect(sizeseg('pretrain', ...tiny, '--epochs', '1', '--name', 'kept').code).toBe(0);
    const before = readdirSync(join(out, 'kept')).map((f) => [f, readFileSync(join(out, 'kept', f))] as const);
    const again = sizeseg('pretrain', ...tiny, '--epochs', '2', '--name', 'kept');
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(
      /run folder .*kept already holds a pretrain run \(1 epoch logged\); continue it with 'sizeseg pretrain --resume .*kept', start a new run with another --name, or replace it with --overwrite\./,
    );
    for (const [f, bytes] of before) expect(readFileSync(join(out, 'kept', f)).equals(bytes)).toBe(true);
    expect(readdirSync(join(out, 'kept')).sort()).toEqual(before.map(([f]) => f).sort());

    // sizetrain into the folder of its own checkpoint: refused even with --overwrite
    const self = sizeseg(
      'sizetrain',
      '--batch',
      '8',
      '--out',
      out,
      '--checkpoint',
      join(out, 'kept', 'best.ckpt'),
      '--name',
      'kept',
      '--overwrite',
    );
    expect(self.code).toBe(2);
    expect(self.stderr).toMatch(
      /--checkpoint .*kept\/best\.ckpt lies in the run folder this sizetrain would write .*pick another --name, e.g. --name kept-sizetrain/,
    );
    for (const [f, bytes] of before) expect(readFileSync(join(out, 'kept', f)).equals(bytes)).toBe(true);

    // --overwrite replaces the run (a fresh metrics.jsonl, not appended) and leaves other files alone
    writeFileSync(join(out, 'kept', 'notes.txt'), 'mine');
    expect(sizeseg('pretrain', ...tiny, '--epochs', '2', '--name', 'kept', '--overwrite').code).toBe(0);
    expect(lines('kept')).toBe(2);
    expect(readFileSync(join(out, 'kept', 'notes.txt'), 'utf8')).toBe('mine');
    // a folder that is not a run folder is never replaced
    mkdirSync(join(out, 'stuff'));
    writeFileSync(join(out, 'stuff', 'thesis.tex'), 'mine');
    const foreign = sizeseg('pretrain', ...tiny, '--name', 'stuff', '--overwrite');
    expect(foreign.code).toBe(2);
    expect(foreign.stderr).toMatch(
      /stuff already exists and is not a sizeseg run folder \(no config\.json\); pick another --name or --out/,
    );
    expect(readdirSync(join(out, 'stuff'))).toEqual(['thesis.tex']);
  });

  it('--name cannot leave --out', () => {
    for (const name of ['.', '..', '../x', 'a/b', '/tmp/x']) {
      const r = sizeseg('pretrain', ...tiny, '--name', name);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/--name '.*' cannot be a run folder/);
    }
    expect(existsSync(join(out, '..', 'config.json'))).toBe(false);
    expect(existsSync(join(out, 'a'))).toBe(false);
  });

  it("a second process on a running folder is refused naming the pid; a dead holder's lock is taken over", async () => {
    const first = spawn(
      process.execPath,
      args('pretrain', ...tiny, '--epochs', '500', '--patience', '500', '--name', 'busy'),
      { env },
    );
    const exited = new Promise<number | null>((done) => first.on('exit', (code) => done(code)));
    const lock = join(out, 'busy', '.lock');
    for (let t = 0; t < 600 && !existsSync(lock); t++) await new Promise((r) => setTimeout(r, 50));
    const second = sizeseg('pretrain', ...tiny, '--epochs', '1', '--name', 'busy', '--overwrite');
    expect(second.code).toBe(2);
    expect(second.stderr).toMatch(
      new RegExp(
        `run folder .*busy is in use by another sizeseg process \\(pid ${first.pid}, 'pretrain' since .*\\); wait for it to finish, or use another --name`,
      ),
    );
    // wait for a first epoch, then stop the first run with SIGTERM: it saves, releases the lock, exits 143
    const metrics = join(out, 'busy', 'metrics.jsonl');
    for (let t = 0; t < 600 && !existsSync(metrics); t++) await new Promise((r) => setTimeout(r, 100));
    first.kill('SIGTERM');
    expect(await exited).toBe(143);
    expect(existsSync(lock)).toBe(false);

    // a lock left by a process that no longer exists (kill -9) is stale: --resume takes it over
    const gone = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
    writeFileSync(lock, JSON.stringify({ pid: Number(gone.stdout.trim()), command: 'pretrain', started: 'earlier' }));
    const done = lines('busy');
    const resumed = sizeseg('pretrain', '--resume', join(out, 'busy'), '--epochs', String(done + 1));
    expect(resumed.stderr).toBe('');
    expect(resumed.code).toBe(0);
    expect(lines('busy')).toBe(done + 1);
    expect(existsSync(lock)).toBe(false);
  });
});
