/**
 * `sizeseg data download NAME`: fetch a public dataset archive, check its MD5, unpack the parts the loaders
 * need into the cache (cache.ts), and remember where. The rules that keep a user's disk safe:
 *
 *  - a download goes to `<archive>.part` (with `<archive>.part.json` naming its address) and resumes with an
 *    HTTP `Range` request, after a dropped connection within the same run or in the next run; a `.part` file is
 *    never unpacked or loaded;
 *  - only an archive whose MD5 matches is renamed to `<archive>`; one that does not is renamed to
 *    `<archive>.md5-<actual>.bad` and kept for inspection, and an archive given with `--from FILE` is never
 *    moved or changed;
 *  - unpacking writes into a temporary folder next to the destination and renames it into place after a
 *    marker file, so a crash never leaves a half dataset that later loads;
 *  - archive entries that are absolute, contain `..`, or are links are refused before anything is written
 *    for them, and the whole archive is rejected;
 *  - HTTP errors, redirect loops (at most `maxRedirects` are followed), timeouts and a full disk end in a
 *    one-line error that says what to do;
 *  - one download per dataset and cache at a time (`<cache>/.<name>.lock`, holding the process id).
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  statfsSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { dirname, join, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import {
  COMPLETE_MARKER,
  cacheRoot,
  datasetPaths,
  datasetSource,
  folderSize,
  formatBytes,
  readCompleteMarker,
  type CompleteMarker,
  type DatasetPaths,
  type DatasetSource,
} from './cache.js';
import { TarFormatError, TarReader, type TarEntry } from './tar.js';

/** A download failed in a way the user can act on; the message is one line that says how. */
export class DownloadError extends Error {}

/** The archive holds an entry that could write outside the cache folder (or is a link). */
export class UnsafeArchiveError extends Error {}

/** How `downloadFile` talks HTTP. */
export interface HttpOptions {
  /** Give up when no byte arrives for this long, connecting included (default 30 000 ms). */
  timeoutMs?: number;
  /** Redirects followed per request before giving up (default 5). */
  maxRedirects?: number;
  /** Automatic resumes after a connection that dropped having delivered data (default 5). */
  retries?: number;
  /** Bytes in the `.part` file so far, and the total when the server said it. */
  onProgress?: (done: number, total: number | undefined) => void;
  /** Status lines (resuming, starting over). */
  log?: (line: string) => void;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_REDIRECTS = 5;
const DEFAULT_RETRIES = 5;

/** A failure after some bytes arrived: worth resuming at once. */
class Resumable extends Error {}

/** The `.part.json` next to a `.part` file: which address it came from, and the validator for `If-Range`. */
interface PartState {
  url: string;
  etag?: string;
  lastModified?: string;
}

function readPartState(path: string): PartState | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as PartState;
  } catch {
    return undefined;
  }
}

function fileSize(path: string): number {
  return existsSync(path) ? statSync(path).size : 0;
}

/** A file-system error as one line that names the path and the fix. */
export function describeFsError(err: unknown, path: string, doing: string): Error {
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'ENOSPC' || e?.code === 'EDQUOT') {
    return new DownloadError(
      `the disk is full (${e.code}) while ${doing} ${path}; free some space, or set SIZESEG_HOME to a folder on a disk with room, and run the command again.`,
    );
  }
  if (e?.code === 'EACCES' || e?.code === 'EPERM' || e?.code === 'EROFS') {
    return new DownloadError(`cannot write ${path} (${e.code}); set SIZESEG_HOME to a writable folder.`);
  }
  if (err instanceof DownloadError || err instanceof UnsafeArchiveError) return err;
  return new DownloadError(`${doing} ${path} failed: ${String(e?.message ?? err).split('\n')[0]}`);
}

/** Refuse to start writing `bytes` into `folder` when the disk clearly has less room. */
function checkFreeSpace(folder: string, bytes: number, what: string): void {
  let free: number;
  try {
    const st = statfsSync(folder);
    free = st.bavail * st.bsize;
  } catch {
    return; // not every file system reports it; the write itself will say ENOSPC
  }
  if (free < bytes) {
    throw new DownloadError(
      `not enough disk space for ${what}: needs ${formatBytes(bytes)}, ${formatBytes(free)} free in ${folder}; free some space or set SIZESEG_HOME to a folder on another disk.`,
    );
  }
}

/** Sends one GET; resolves with the response headers in, rejects on network errors and the idle timeout. */
function get(
  url: URL,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<{ res: IncomingMessage; timedOut: () => boolean }> {
  return new Promise((resolvePromise, reject) => {
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    let timedOut = false;
    const req = request(url, {
      method: 'GET',
      headers: { 'user-agent': 'sizeseg', 'accept-encoding': 'identity', ...headers },
    });
    // a socket idle timeout: it covers connecting, waiting for headers and a body that stops arriving
    req.setTimeout(timeoutMs, () => {
      timedOut = true;
      req.destroy(new DownloadError(`no data from ${url.host} for ${timeoutMs / 1000} s (timed out)`));
    });
    req.on('response', (res) => resolvePromise({ res, timedOut: () => timedOut }));
    req.on('error', (err) => {
      if (err instanceof DownloadError)
        reject(
          new DownloadError(
            `${err.message}; check the connection and run the command again (or pass a local archive with --from FILE).`,
          ),
        );
      else
        reject(
          new DownloadError(
            `cannot download ${url.href}: ${((err as NodeJS.ErrnoException).code ?? err.message).split('\n')[0]}; check the connection and the address (or pass a local archive with --from FILE).`,
          ),
        );
    });
    req.end();
  });
}

/** `bytes START-END/TOTAL` → its numbers (TOTAL undefined for `*`). */
function parseContentRange(value: string | undefined): { start: number; total: number | undefined } | undefined {
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(value?.trim() ?? '');
  if (!m) return undefined;
  return { start: Number(m[1]), total: m[3] === '*' ? undefined : Number(m[3]) };
}

/**
 * Download `url` into `part`, continuing a `.part` left by an earlier attempt from the same address. Resolves
 * when the server has sent everything it said it would; the caller checks the bytes (MD5) and renames the file.
 * Redirects are followed (at most `maxRedirects`); after a dropped connection that had delivered data it resumes
 * up to `retries` times; every other failure is a `DownloadError` with a one-line message.
 */
export async function downloadFile(
  url: string,
  part: string,
  opts: HttpOptions = {},
): Promise<{ bytes: number; resumedFrom: number }> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxRedirects = opts.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  const retries = opts.retries ?? DEFAULT_RETRIES;
  const log = opts.log ?? (() => {});
  const stateFile = `${part}.json`;
  try {
    mkdirSync(dirname(part), { recursive: true });
  } catch (err) {
    throw describeFsError(err, dirname(part), 'creating');
  }
  let state = readPartState(stateFile);
  if (existsSync(part) && state?.url !== url) {
    if (fileSize(part) > 0) log(`an interrupted download from another address is in ${part}; starting over`);
    truncateSync(part, 0);
    state = undefined;
  }
  const resumedFrom = fileSize(part);
  if (resumedFrom > 0) log(`resuming the interrupted download at ${formatBytes(resumedFrom)}`);
  let failures = 0;
  for (;;) {
    try {
      const got = await downloadAttempt(url, part, stateFile, state, { timeoutMs, maxRedirects }, opts.onProgress);
      rmSync(stateFile, { force: true });
      return { bytes: got, resumedFrom };
    } catch (err) {
      if (!(err instanceof Resumable)) throw err;
      failures++;
      if (failures > retries) {
        throw new DownloadError(
          `${err.message}; gave up after ${retries} resumes with ${formatBytes(fileSize(part))} in ${part}; run the same command again to continue from there.`,
        );
      }
      log(`${err.message}; resuming at ${formatBytes(fileSize(part))} (attempt ${failures + 1} of ${retries + 1})`);
      state = readPartState(stateFile);
    }
  }
}

async function downloadAttempt(
  url: string,
  part: string,
  stateFile: string,
  state: PartState | undefined,
  limits: { timeoutMs: number; maxRedirects: number },
  onProgress: HttpOptions['onProgress'],
): Promise<number> {
  let have = fileSize(part);
  let current = new URL(url);
  let redirects = 0;
  let askRange = have > 0;
  for (;;) {
    if (current.protocol !== 'http:' && current.protocol !== 'https:') {
      throw new DownloadError(
        `cannot download ${current.href}: only http:// and https:// addresses (or a local file with --from FILE) are supported.`,
      );
    }
    const headers: Record<string, string> = {};
    if (askRange) {
      headers.range = `bytes=${have}-`;
      // the server sends the whole (new) file instead of a piece if it changed since the .part began
      const validator = state?.etag ?? state?.lastModified;
      if (validator) headers['if-range'] = validator;
    }
    const { res, timedOut } = await get(current, headers, limits.timeoutMs);
    const status = res.statusCode ?? 0;
    if ([301, 302, 303, 307, 308].includes(status)) {
      res.resume();
      const location = res.headers.location;
      if (!location)
        throw new DownloadError(
          `HTTP ${status} redirect without a Location from ${current.href}; try another mirror with --from URL.`,
        );
      redirects++;
      if (redirects > limits.maxRedirects) {
        throw new DownloadError(
          `too many redirects (more than ${limits.maxRedirects}) starting at ${url}; the mirror may be misconfigured, try another with --from URL.`,
        );
      }
      current = new URL(location, current);
      continue;
    }
    if (status === 416 && askRange) {
      res.resume();
      const range = /^bytes \*\/(\d+)$/.exec(String(res.headers['content-range'] ?? ''));
      if (range && Number(range[1]) === have) return have; // the .part was already complete
      truncateSync(part, 0); // the .part is longer than the file now on the server: start over
      have = 0;
      askRange = false;
      continue;
    }
    if (status !== 200 && status !== 206) {
      res.resume();
      throw new DownloadError(
        `HTTP ${status} ${res.statusMessage ?? ''} from ${current.href}; check the address, or fetch the archive another way and pass it with --from FILE.`.replace(
          / {2,}/g,
          ' ',
        ),
      );
    }
    let start = 0;
    let total: number | undefined;
    const length = res.headers['content-length'] === undefined ? undefined : Number(res.headers['content-length']);
    if (status === 206) {
      const range = parseContentRange(res.headers['content-range']);
      if (!range || range.start !== have) {
        res.destroy();
        truncateSync(part, 0); // a piece we did not ask for: start over without Range
        have = 0;
        askRange = false;
        continue;
      }
      start = have;
      total = range.total ?? (length !== undefined ? start + length : undefined);
    } else {
      total = length;
    }
    const etag = res.headers.etag;
    const lastModified = res.headers['last-modified'];
    const newState: PartState = { url, ...(etag ? { etag } : {}), ...(lastModified ? { lastModified } : {}) };
    try {
      writeFileSync(stateFile, JSON.stringify(newState));
    } catch (err) {
      res.destroy();
      throw describeFsError(err, stateFile, 'writing');
    }
    if (total !== undefined) {
      try {
        checkFreeSpace(dirname(part), total - start, `the download of ${formatBytes(total)}`);
      } catch (err) {
        res.destroy();
        throw err;
      }
    }
    let received = 0;
    let writeError: unknown;
    const out = createWriteStream(part, { flags: start === 0 ? 'w' : 'a' });
    out.on('error', (err) => {
      writeError = err;
    });
    try {
      await pipeline(
        res,
        async function* count(source: AsyncIterable<Buffer>) {
          for await (const chunk of source) {
            received += chunk.length;
            onProgress?.(start + received, total);
            yield chunk;
          }
        },
        out,
      );
    } catch {
      if (writeError !== undefined) throw describeFsError(writeError, part, 'writing');
      const why = timedOut() ? `no data for ${limits.timeoutMs / 1000} s (timed out)` : 'the connection dropped';
      const message = `${why} after ${formatBytes(start + received)}${total !== undefined ? ` of ${formatBytes(total)}` : ''} from ${current.host}`;
      if (received > 0) throw new Resumable(message);
      throw new DownloadError(`${message}; check the connection and run the same command again to resume.`);
    }
    const size = fileSize(part);
    if (total !== undefined && size < total) {
      const message = `the connection closed after ${formatBytes(size)} of ${formatBytes(total)} from ${current.host}`;
      if (received > 0) throw new Resumable(message);
      throw new DownloadError(`${message}; run the same command again to resume.`);
    }
    return size;
  }
}

/** MD5 of a file as 32 lower-case hex digits, read in a stream; `onProgress(done, total)` as it goes. */
export async function md5File(path: string, onProgress?: (done: number, total: number) => void): Promise<string> {
  const total = statSync(path).size;
  const hash = createHash('md5');
  let done = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    done += (chunk as Buffer).length;
    onProgress?.(done, total);
  }
  return hash.digest('hex');
}

/**
 * The path components of an archive entry, or an `UnsafeArchiveError` when it is absolute (`/x`, `C:\x`,
 * `\\server\x`) or contains a `..` component. Empty and `.` components are dropped.
 */
export function safeEntryPath(path: string): string[] {
  const refuse = (why: string) =>
    new UnsafeArchiveError(
      `refusing the archive: entry '${path}' ${why}; the Decathlon archive has no such entry, so this file is not it (nothing was unpacked).`,
    );
  if (path.includes('\0')) throw refuse('contains a NUL byte');
  if (path.startsWith('/') || path.startsWith('\\') || /^[A-Za-z]:/.test(path)) throw refuse('is an absolute path');
  const parts = path.split(/[\\/]/).filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw refuse("would escape the cache folder ('..')");
  return parts;
}

/** Which files of the archive to unpack: `folder/<keep>` of the dataset; macOS `._*` resource forks skipped. */
export function selectsEntry(source: DatasetSource, parts: readonly string[]): boolean {
  if (parts[0] !== source.folder) return false;
  const inner = parts.slice(1);
  const file = inner[inner.length - 1];
  if (file === undefined || file.startsWith('._')) return false;
  return source.keep.some((keep) =>
    keep.endsWith('/') ? inner.length === 2 && inner[0] === keep.slice(0, -1) : inner.length === 1 && inner[0] === keep,
  );
}

/**
 * Unpack the entries of `archive` that `select` accepts into `dest` (which must exist). Any entry that is
 * absolute, has `..`, or is a link or device refuses the whole archive — also entries that would be skipped,
 * since such an archive is not the one we asked for. Returns the number of files and bytes written.
 */
export async function extractTar(
  archive: string,
  dest: string,
  select: (parts: readonly string[], entry: TarEntry) => boolean,
  onProgress?: (done: number, total: number) => void,
): Promise<{ files: number; bytes: number }> {
  const root = resolve(dest);
  const total = statSync(archive).size;
  let files = 0;
  let bytes = 0;
  let openFd: number | undefined;
  let openPath = '';
  const reader = new TarReader((entry) => {
    const parts = safeEntryPath(entry.path);
    if (entry.type === 'symlink' || entry.type === 'hardlink') {
      throw new UnsafeArchiveError(
        `refusing the archive: entry '${entry.path}' is a ${entry.type} (to '${entry.linkpath}'), which could point outside the cache folder; nothing was unpacked.`,
      );
    }
    if (entry.type === 'other') {
      throw new UnsafeArchiveError(
        `refusing the archive: entry '${entry.path}' has tar type '${entry.typeflag}' (not a file or folder); nothing was unpacked.`,
      );
    }
    if (entry.type === 'directory' || !select(parts, entry)) return null;
    const target = join(root, ...parts);
    if (!target.startsWith(root + sep))
      throw new UnsafeArchiveError(`refusing the archive: entry '${entry.path}' would land outside ${root}.`);
    try {
      mkdirSync(dirname(target), { recursive: true });
      openFd = openSync(target, 'w');
    } catch (err) {
      throw describeFsError(err, target, 'writing');
    }
    openPath = target;
    files++;
    return {
      write: (piece) => {
        try {
          writeSync(openFd as number, piece);
        } catch (err) {
          throw describeFsError(err, openPath, 'writing');
        }
        bytes += piece.length;
      },
      close: () => {
        closeSync(openFd as number);
        openFd = undefined;
      },
    };
  });
  let done = 0;
  try {
    for await (const chunk of createReadStream(archive)) {
      reader.push(chunk as Buffer);
      done += (chunk as Buffer).length;
      onProgress?.(done, total);
      if (reader.done) break;
    }
    reader.end();
  } finally {
    if (openFd !== undefined) closeSync(openFd);
  }
  return { files, bytes };
}

/** What `downloadDataset` reports back. */
export type DownloadPhase = 'download' | 'verify' | 'unpack';

export interface DownloadDatasetOptions {
  /** Another address (http, https, file://) or a path to an archive already on disk; default the dataset's URL. */
  from?: string;
  /** Expected MD5 (32 hex digits); default the published one. */
  md5?: string;
  /** Cache folder; default `cacheRoot()`. */
  root?: string;
  http?: Omit<HttpOptions, 'onProgress' | 'log'>;
  /** Status lines for the user. */
  log?: (line: string) => void;
  /** Bytes done (and total when known) of the current phase. */
  onProgress?: (phase: DownloadPhase, done: number, total: number | undefined) => void;
}

export interface DownloadDatasetResult {
  /** The folder `--data msd` loads. */
  path: string;
  /** `cached`: a complete copy was already there and nothing was done. */
  action: 'cached' | 'downloaded' | 'unpacked';
  md5: string;
}

/** A `--from` value that names a local file: a `file://` URL, or anything that is not an http(s) address. */
function localArchive(from: string): string | undefined {
  if (/^https?:\/\//i.test(from)) return undefined;
  if (/^file:\/\//i.test(from)) return fileURLToPath(from);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(from)) {
    throw new DownloadError(
      `--from ${from}: only http://, https://, file:// addresses or a path to a .tar file are supported.`,
    );
  }
  return resolve(from);
}

/** The bad download's new name: kept beside the archive, never deleted. */
function setAside(path: string, archive: string, actual: string): string {
  let aside = `${archive}.md5-${actual}.bad`;
  for (let n = 2; existsSync(aside); n++) aside = `${archive}.md5-${actual}.${n}.bad`;
  renameSync(path, aside);
  return aside;
}

/**
 * Download (or take from `--from`), verify and unpack the dataset `name` into the cache, unless a complete copy
 * is there already. Throws `DownloadError` / `UnsafeArchiveError` with one-line messages.
 */
export async function downloadDataset(name: string, opts: DownloadDatasetOptions = {}): Promise<DownloadDatasetResult> {
  const source = datasetSource(name);
  const root = opts.root ?? cacheRoot();
  const paths = datasetPaths(name, root);
  const expected = (opts.md5 ?? source.md5).toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(expected))
    throw new DownloadError(`--md5 must be 32 hexadecimal digits, got '${opts.md5}'.`);

  const marker = readCompleteMarker(name, root);
  if (marker) {
    // the caller says so (the CLI: "already in the cache … nothing to do")
    return { path: paths.data, action: 'cached', md5: marker.md5 };
  }

  const release = acquireLock(join(root, `.${name}.lock`));
  try {
    return await fetchVerifyUnpack(source, paths, root, expected, opts);
  } finally {
    release();
  }
}

/**
 * One download per dataset and cache at a time (two would write the same `.part`): a lock file holding the
 * process id, created exclusively; a lock whose process is gone (a crash, a killed run) is taken over.
 */
function acquireLock(lock: string): () => void {
  try {
    mkdirSync(dirname(lock), { recursive: true });
  } catch (err) {
    throw describeFsError(err, dirname(lock), 'creating');
  }
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lock, String(process.pid), { flag: 'wx' });
      return () => rmSync(lock, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw describeFsError(err, lock, 'writing');
    }
    const pid = Number(readFileSync(lock, 'utf8'));
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && processAlive(pid)) {
      throw new DownloadError(
        `another 'sizeseg data download' (process ${pid}) is working in this cache; wait for it to finish (or delete ${lock} if it is not running).`,
      );
    }
    rmSync(lock, { force: true }); // left by a run that ended without cleaning up
  }
  throw new DownloadError(`cannot take the lock ${lock}; delete it if no other download is running.`);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // exists, but belongs to someone else
  }
}

async function fetchVerifyUnpack(
  source: DatasetSource,
  paths: DatasetPaths,
  root: string,
  expected: string,
  opts: DownloadDatasetOptions,
): Promise<DownloadDatasetResult> {
  const log = opts.log ?? (() => {});
  const verify = (file: string) => md5File(file, (done, total) => opts.onProgress?.('verify', done, total));
  const from = opts.from ?? source.url;
  const local = localArchive(from);
  let archive: string;
  let action: DownloadDatasetResult['action'] = 'unpacked';
  if (local !== undefined) {
    if (!existsSync(local))
      throw new DownloadError(
        `--from ${from}: no such file; give a URL (https://…) or the path of the downloaded ${source.archive}.`,
      );
    if (statSync(local).isDirectory()) {
      throw new DownloadError(
        `--from ${from} is a folder; give the ${source.archive} archive (an unpacked folder loads directly with --data msd:${local}/${source.folder}).`,
      );
    }
    log(`checking ${local}`);
    const actual = await verify(local);
    if (actual !== expected) {
      throw new DownloadError(
        `checksum mismatch: ${local} has MD5 ${actual}, expected ${expected}; the file was left as it is. If it is a repackaged copy you trust, pass --md5 ${actual}.`,
      );
    }
    archive = local;
  } else {
    archive = paths.archive;
    let have = false;
    if (existsSync(archive)) {
      // a verified archive from an earlier run (unpacking was interrupted, or the unpacked folder was deleted)
      const actual = await verify(archive);
      if (actual === expected) {
        log(`using the archive downloaded earlier: ${archive}`);
        have = true;
      } else {
        const aside = setAside(archive, archive, actual);
        log(
          `the archive in the cache has MD5 ${actual}, expected ${expected}; moved it to ${aside} and downloading again`,
        );
      }
    }
    if (!have) {
      log(`downloading ${from}`);
      await downloadFile(from, paths.part, {
        ...opts.http,
        log,
        onProgress: (done, total) => opts.onProgress?.('download', done, total),
      });
      const actual = await verify(paths.part);
      if (actual !== expected) {
        const aside = setAside(paths.part, archive, actual);
        throw new DownloadError(
          `checksum mismatch: the download from ${from} has MD5 ${actual}, expected ${expected}; kept it as ${aside} and changed nothing else. ` +
            `Run the command again to download afresh, or, if this mirror repackages the archive, pass --md5 ${actual}.`,
        );
      }
      renameSync(paths.part, archive);
      action = 'downloaded';
    }
  }

  await unpackInto(source, archive, paths, root, expected, from, log, (done, total) =>
    opts.onProgress?.('unpack', done, total),
  );
  return { path: paths.data, action, md5: expected };
}

/** Unpack into `<root>/.<name>.unpack-XXXX`, check it, write the marker, then rename it into place. */
async function unpackInto(
  source: DatasetSource,
  archive: string,
  paths: DatasetPaths,
  root: string,
  md5: string,
  from: string,
  log: (line: string) => void,
  onProgress: (done: number, total: number) => void,
): Promise<void> {
  const tempPrefix = `.${source.name}.unpack-`;
  try {
    mkdirSync(root, { recursive: true });
    // temporary folders of crashed runs: never complete, never loaded, ours to remove
    for (const entry of readdirSync(root))
      if (entry.startsWith(tempPrefix)) rmSync(join(root, entry), { recursive: true, force: true });
  } catch (err) {
    throw describeFsError(err, root, 'preparing');
  }
  let temp: string;
  try {
    temp = mkdtempSync(join(root, tempPrefix));
  } catch (err) {
    throw describeFsError(err, root, 'writing in');
  }
  try {
    log(`unpacking ${source.folder}/{${source.keep.map((k) => k.replace(/\/$/, '')).join(',')}} from ${archive}`);
    const { files, bytes } = await extractTar(archive, temp, (parts) => selectsEntry(source, parts), onProgress);
    for (const keep of source.keep.filter((k) => k.endsWith('/'))) {
      const folder = join(temp, source.folder, keep);
      if (!existsSync(folder) || readdirSync(folder).length === 0) {
        throw new DownloadError(
          `the archive has no files in ${source.folder}/${keep}; it is not the ${source.title} archive (check --from).`,
        );
      }
    }
    const marker: CompleteMarker = {
      dataset: source.name,
      md5,
      source: from,
      files,
      bytes,
      unpackedAt: new Date().toISOString(),
    };
    writeFileSync(join(temp, COMPLETE_MARKER), `${JSON.stringify(marker, null, 2)}\n`);
    if (existsSync(paths.installed)) {
      // a folder without a marker: not a complete copy; kept aside rather than deleted, in case it is someone's
      const aside = `${paths.installed}.incomplete-${Date.now()}`;
      renameSync(paths.installed, aside);
      log(`moved an incomplete ${paths.installed} to ${aside}`);
    }
    renameSync(temp, paths.installed);
    log(`unpacked ${files} files (${formatBytes(folderSize(paths.data).bytes)}) into ${paths.data}`);
  } catch (err) {
    rmSync(temp, { recursive: true, force: true });
    if (err instanceof TarFormatError) throw new DownloadError(`${archive}: ${err.message}`);
    throw describeFsError(err, temp, 'unpacking into');
  }
}
