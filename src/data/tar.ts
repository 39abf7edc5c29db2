/**
 * A streaming reader for tar archives, written over Node built-ins only (no dependency): the Decathlon archives
 * are plain, uncompressed tar files, and the format is simple — 512-byte headers, each followed by the entry's
 * bytes padded to 512. Handled: POSIX ustar (with the `prefix` field), pax extended headers (`x`, `g`; the
 * `path`, `linkpath` and `size` keys, which macOS bsdtar and GNU tar `--format=pax` write), GNU long names
 * (`L`, `K`), base-256 sizes, and the end-of-archive zero blocks. Every header checksum is checked.
 *
 * The reader only parses; what to do with an entry (and which entries are unsafe) is the caller's decision —
 * see `safeEntryPath` and `extractTar` in download.ts.
 */

/** One archive member as the reader reports it, after pax / GNU long-name overrides. */
export interface TarEntry {
  /** The path as stored in the archive (not checked or normalised; see `safeEntryPath`). */
  path: string;
  type: 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';
  /** The raw type flag, e.g. `'0'`, `'5'`, `'2'`. */
  typeflag: string;
  /** Bytes of content (0 for directories and links). */
  size: number;
  /** Link target for symlinks and hard links. */
  linkpath: string;
  /** Byte offset of the entry's header in the archive (for error messages). */
  offset: number;
}

/** Where an entry's bytes go: `write` for each piece in order, then `close` once (also for empty entries). */
export interface TarSink {
  write(bytes: Uint8Array): void;
  close(): void;
}

/** Receives entries in archive order; return a sink for the entry's bytes, or null to skip them. */
export type TarEntryHandler = (entry: TarEntry) => TarSink | null;

/** The archive is not a tar file, is corrupt, or ends early. */
export class TarFormatError extends Error {}

const BLOCK = 512;

function cString(block: Uint8Array, start: number, length: number): string {
  let end = start;
  while (end < start + length && block[end] !== 0) end++;
  return Buffer.from(block.subarray(start, end)).toString('utf8');
}

/** An octal field (space- or NUL-terminated), or base-256 when the high bit of the first byte is set. */
function numericField(block: Uint8Array, start: number, length: number): number {
  const first = block[start] as number;
  if (first & 0x80) {
    let value = first & 0x7f;
    for (let i = start + 1; i < start + length; i++) value = value * 256 + (block[i] as number);
    return value;
  }
  const text = cString(block, start, length).trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) return Number.NaN;
  return parseInt(text, 8);
}

function isZeroBlock(block: Uint8Array): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

/** The header checksum: the sum of all header bytes with the checksum field itself read as spaces. */
function checksumMatches(block: Uint8Array): boolean {
  const stored = numericField(block, 148, 8);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (block[i] as number);
  return stored === sum;
}

/** Pax records: `"<length> <key>=<value>\n"`, where length counts the whole record in bytes. */
function parsePax(bytes: Uint8Array, offset: number): Map<string, string> {
  const out = new Map<string, string>();
  let pos = 0;
  while (pos < bytes.length) {
    let space = pos;
    while (space < bytes.length && bytes[space] !== 0x20) space++;
    const length = parseInt(Buffer.from(bytes.subarray(pos, space)).toString('latin1'), 10);
    if (!(length > 0) || pos + length > bytes.length) {
      if (bytes.subarray(pos).every((b) => b === 0)) break; // NUL padding some writers leave
      throw new TarFormatError(`corrupt pax header at byte ${offset} of the archive.`);
    }
    const record = Buffer.from(bytes.subarray(space + 1, pos + length - 1)).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) out.set(record.slice(0, eq), record.slice(eq + 1));
    pos += length;
  }
  return out;
}

function entryType(typeflag: string): TarEntry['type'] {
  if (typeflag === '0' || typeflag === '\0' || typeflag === '7') return 'file';
  if (typeflag === '5') return 'directory';
  if (typeflag === '2') return 'symlink';
  if (typeflag === '1') return 'hardlink';
  return 'other';
}

/**
 * Push-based tar parser: feed it the archive's bytes in chunks of any size with `push`, then call `end`.
 * Entries and their bytes reach `onEntry` synchronously, in order.
 */
export class TarReader {
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  /** Archive offset of the next byte `push` will receive. */
  private offset = 0;
  /** Content bytes still to deliver for the current entry, then padding to skip. */
  private bodyLeft = 0;
  private paddingLeft = 0;
  private sink: TarSink | null = null;
  /** A metadata entry (pax or GNU long name) whose bytes are being collected. */
  private meta: { kind: string; chunks: Uint8Array[]; offset: number } | null = null;
  private paxOverrides = new Map<string, string>();
  private longName: string | undefined;
  private longLink: string | undefined;
  private zeroBlocks = 0;
  private finished = false;

  constructor(private readonly onEntry: TarEntryHandler) {}

  /** True once the end-of-archive marker has been read. */
  get done(): boolean {
    return this.finished;
  }

  push(chunk: Uint8Array): void {
    let pos = 0;
    while (pos < chunk.length && !this.finished) {
      if (this.bodyLeft > 0) {
        const n = Math.min(this.bodyLeft, chunk.length - pos);
        const piece = chunk.subarray(pos, pos + n);
        if (this.meta) this.meta.chunks.push(piece.slice());
        else this.sink?.write(piece);
        this.bodyLeft -= n;
        pos += n;
        this.offset += n;
        if (this.bodyLeft === 0) this.finishBody();
        continue;
      }
      if (this.paddingLeft > 0) {
        const n = Math.min(this.paddingLeft, chunk.length - pos);
        this.paddingLeft -= n;
        pos += n;
        this.offset += n;
        continue;
      }
      // a header: gather 512 bytes (they may straddle chunks)
      const need = BLOCK - this.pendingBytes;
      const n = Math.min(need, chunk.length - pos);
      this.pending.push(chunk.subarray(pos, pos + n));
      this.pendingBytes += n;
      pos += n;
      if (this.pendingBytes === BLOCK) {
        const block = this.pending.length === 1 ? (this.pending[0] as Uint8Array) : Buffer.concat(this.pending);
        this.pending = [];
        this.pendingBytes = 0;
        const headerOffset = this.offset;
        this.offset += BLOCK;
        this.header(block, headerOffset);
      }
    }
  }

  /**
   * Call after the last chunk: throws if the archive ended inside an entry or before its end marker. (A lone
   * zero block is accepted, as GNU tar does; no zero block at all means the file was cut at an entry boundary.)
   */
  end(): void {
    if (this.finished) return;
    if (this.bodyLeft > 0 || this.paddingLeft > 0 || this.pendingBytes > 0 || this.zeroBlocks === 0) {
      throw new TarFormatError(
        `the archive ends early (truncated at byte ${this.offset + this.pendingBytes}); download it again.`,
      );
    }
    this.finished = true;
  }

  private header(block: Uint8Array, offset: number): void {
    if (isZeroBlock(block)) {
      this.zeroBlocks++;
      if (this.zeroBlocks >= 2) this.finished = true;
      return;
    }
    this.zeroBlocks = 0;
    if (!checksumMatches(block)) {
      throw new TarFormatError(
        offset === 0
          ? 'this is not a tar archive (the first header has a bad checksum).'
          : `corrupt tar header at byte ${offset} (bad checksum); download the archive again.`,
      );
    }
    const typeflag = String.fromCharCode(block[156] as number);
    let size = numericField(block, 124, 12);
    if (!Number.isFinite(size) || size < 0)
      throw new TarFormatError(`corrupt size field in the tar header at byte ${offset}.`);
    if (typeflag === 'x' || typeflag === 'g' || typeflag === 'L' || typeflag === 'K') {
      this.meta = { kind: typeflag, chunks: [], offset };
      this.startBody(size);
      return;
    }
    let path = cString(block, 0, 100);
    // POSIX ustar splits long paths into prefix + name; the old GNU format ("ustar  ") uses those bytes otherwise.
    if (cString(block, 257, 6) === 'ustar') {
      const prefix = cString(block, 345, 155);
      if (prefix !== '') path = `${prefix}/${path}`;
    }
    let linkpath = cString(block, 157, 100);
    if (this.longName !== undefined) path = this.longName;
    if (this.longLink !== undefined) linkpath = this.longLink;
    const pax = this.paxOverrides;
    if (pax.has('path')) path = pax.get('path') as string;
    if (pax.has('linkpath')) linkpath = pax.get('linkpath') as string;
    if (pax.has('size')) size = Number(pax.get('size'));
    this.longName = undefined;
    this.longLink = undefined;
    this.paxOverrides = new Map();
    const type = entryType(typeflag);
    // links and directories carry no content even when a size is stored (hard links in some writers)
    const bodySize = type === 'file' || type === 'other' ? size : 0;
    this.sink = this.onEntry({ path, type, typeflag, size: bodySize, linkpath, offset });
    this.startBody(bodySize);
  }

  private startBody(size: number): void {
    this.bodyLeft = size;
    this.paddingLeft = (BLOCK - (size % BLOCK)) % BLOCK;
    if (size === 0) this.finishBody();
  }

  private finishBody(): void {
    const sink = this.sink;
    this.sink = null;
    sink?.close();
    const meta = this.meta;
    if (!meta) return;
    this.meta = null;
    const bytes = Buffer.concat(meta.chunks);
    if (meta.kind === 'x') this.paxOverrides = parsePax(bytes, meta.offset);
    else if (meta.kind === 'g')
      parsePax(bytes, meta.offset); // global defaults: checked for form, not needed here
    else {
      const name = cString(bytes, 0, bytes.length);
      if (meta.kind === 'L') this.longName = name;
      else this.longLink = name;
    }
  }
}
