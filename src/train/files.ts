/**
 * How a run writes its files so that an interruption at any instant (Ctrl-C, kill -9, a crash, a full disk)
 * never leaves one half written:
 *  - whole files (config.json, checkpoints, pictures) are written to a temporary next to the target
 *    (`<file>.tmp-<pid>`), flushed to disk (fsync) and renamed over it: a reader sees the old file or the new
 *    one, never a mix. A leftover temporary is only ever a temporary; `removeTemporaries` clears them.
 *  - `metrics.jsonl` grows by appending one whole line per write; a line cut by an interruption is the
 *    last one, and `readCompleteLines` ignores it.
 * Write failures name the file, the cause and what to do (ENOSPC, EACCES, …) instead of a bare code.
 *
 * Test hook: `SIZESEG_TEST_CRASH_AT=<file name>[:<n>]` kills the process (SIGKILL, as kill -9 would) in the
 * middle of the n-th write (default the first) of the file with that base name, after part of its bytes are
 * out — so tests can check that every kind of write survives it. `SIZESEG_TEST_FAIL_AT=<file name>:<CODE>`
 * makes that write fail with the given error code (e.g. ENOSPC) instead.
 */
import {
  appendFileSync,
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';

const TEMPORARY = /\.tmp-\d+$/;

/** Whether `name` is a temporary an atomic write left behind. */
export function isTemporary(name: string): boolean {
  return TEMPORARY.test(name);
}

const writesSoFar = new Map<string, number>();

/** The test hook (see the module comment): what to do at this write of `path`, if anything. */
function injectedFault(path: string): { crash: boolean; code: string | null } {
  const name = basename(path);
  const count = (writesSoFar.get(name) ?? 0) + 1;
  writesSoFar.set(name, count);
  const crash = process.env.SIZESEG_TEST_CRASH_AT;
  if (crash) {
    const [file, nth = '1'] = crash.split(':');
    if (file === name && Number(nth) === count) return { crash: true, code: null };
  }
  const fail = process.env.SIZESEG_TEST_FAIL_AT;
  if (fail) {
    const [file, code = 'EIO'] = fail.split(':');
    if (file === name) return { crash: false, code };
  }
  return { crash: false, code: null };
}

function die(): never {
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable: SIGKILL did not end the process');
}

/** An error that says which file could not be written, why, and what a user can do about it. */
export function writeError(path: string, err: unknown): Error {
  const code = (err as NodeJS.ErrnoException)?.code;
  const why: Record<string, string> = {
    ENOSPC: 'the disk is full (ENOSPC); free some space, or pass --out a folder on another disk',
    EDQUOT: 'the disk quota is exhausted (EDQUOT); free some space, or pass --out a folder on another disk',
    EACCES: 'permission denied (EACCES); pass --out a folder you can write to',
    EPERM: 'operation not permitted (EPERM); pass --out a folder you can write to',
    EROFS: 'the file system is read-only (EROFS); pass --out a folder on a writable disk',
    EISDIR: 'a folder has that name (EISDIR); move it away or pass another --out/--name',
    ENOTDIR: 'a file stands where a folder is needed (ENOTDIR); pass another --out/--name',
  };
  const message = code && why[code] ? why[code] : `${(err as Error)?.message ?? String(err)}`;
  const out = new Error(`cannot write ${path}: ${message}.`);
  (out as NodeJS.ErrnoException).code = code;
  return out;
}

/** Flush a folder's entries (the rename) to disk, where the platform allows it (not on Windows). */
function syncFolder(dir: string): void {
  let fd: number | null = null;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // best effort: the file itself is already whole on disk
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

/** Write `data` to `path` atomically: temporary + fsync + rename. The old file stays until the new one is whole. */
export function writeFileAtomic(path: string, data: string | Uint8Array | readonly Uint8Array[]): void {
  const chunks = typeof data === 'string' ? [Buffer.from(data, 'utf8')] : data instanceof Uint8Array ? [data] : data;
  const fault = injectedFault(path);
  const tmp = `${path}.tmp-${process.pid}`;
  let fd: number | null = null;
  try {
    if (fault.code) throw Object.assign(new Error(`injected ${fault.code}`), { code: fault.code });
    fd = openSync(tmp, 'w');
    for (const chunk of chunks) {
      if (fault.crash) {
        writeSync(fd, chunk, 0, Math.floor(chunk.length / 2));
        fsyncSync(fd);
        die();
      }
      writeSync(fd, chunk);
    }
    fsyncSync(fd);
    closeSync(fd);
    fd = null;
    renameSync(tmp, path);
    syncFolder(dirname(path));
  } catch (err) {
    if (fd !== null) closeSync(fd);
    rmSync(tmp, { force: true });
    throw writeError(path, err);
  }
}

/** Append one JSON line in a single write (a cut can only affect the last line, which readers ignore). */
export function appendLine(path: string, line: string): void {
  const bytes = Buffer.from(`${line}\n`, 'utf8');
  const fault = injectedFault(path);
  try {
    if (fault.code) throw Object.assign(new Error(`injected ${fault.code}`), { code: fault.code });
    if (fault.crash) {
      appendFileSync(path, bytes.subarray(0, Math.floor(bytes.length / 2)));
      die();
    }
    appendFileSync(path, bytes);
  } catch (err) {
    throw writeError(path, err);
  }
}

/** The complete lines of a line-appended file: a last line without its newline (cut by an interruption) is left out. */
export function readCompleteLines(path: string): string[] {
  if (!existsSync(path)) return [];
  const text = readFileSync(path, 'utf8');
  const end = text.lastIndexOf('\n');
  return end < 0
    ? []
    : text
        .slice(0, end)
        .split('\n')
        .filter((line) => line.trim() !== '');
}

/** Whether process `pid` exists (EPERM: it does, but belongs to another user). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Remove the temporaries that interrupted writes left in `dir`: those of processes that no longer run. */
export function removeTemporaries(dir: string): string[] {
  const found = existsSync(dir)
    ? readdirSync(dir).filter((name) => isTemporary(name) && !isAlive(Number(/\d+$/.exec(name)![0])))
    : [];
  for (const name of found) rmSync(join(dir, name), { force: true });
  return found;
}
