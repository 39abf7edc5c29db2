/** The tar reader: formats it must read (ours, GNU, pax, ustar), chunking, and the errors it must give. */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TarFormatError, TarReader, type TarEntry } from '../../src/data/tar.js';
import { safeEntryPath, UnsafeArchiveError } from '../../src/data/download.js';
import { packTar } from '../_helpers/archive.js';
import { skipNote } from '../_helpers/skipNote.js';

interface Read {
  entry: TarEntry;
  body: Buffer;
}

/** Everything in `bytes`, fed to the reader in chunks of `chunk` bytes. */
function readAll(bytes: Uint8Array, chunk: number): Read[] {
  const out: Read[] = [];
  const reader = new TarReader((entry) => {
    const parts: Buffer[] = [];
    return {
      write: (b) => parts.push(Buffer.from(b)),
      close: () => out.push({ entry, body: Buffer.concat(parts) }),
    };
  });
  for (let i = 0; i < bytes.length; i += chunk) reader.push(bytes.subarray(i, i + chunk));
  reader.end();
  return out;
}

const haveTar = spawnSync('tar', ['--version'], { encoding: 'utf8' }).stdout?.includes('GNU tar') ?? false;

describe('TarReader', () => {
  const longPath = `Task04_Hippocampus/${'deep/'.repeat(30)}file.txt`;
  const archive = packTar([
    { path: 'Task04_Hippocampus/', type: '5' },
    { path: 'Task04_Hippocampus/a.bin', body: Buffer.alloc(1500, 3) },
    { path: 'Task04_Hippocampus/empty', body: new Uint8Array() },
    { path: longPath, body: Buffer.from('long name via pax') },
    { path: 'Task04_Hippocampus/link', type: '2', linkpath: '../../etc/passwd' },
  ]);

  it('reads files, folders, empty files, pax long paths and links, whatever the chunk size', () => {
    for (const chunk of [1, 511, 512, 513, 4096, archive.length]) {
      const got = readAll(archive, chunk);
      expect(got.map((r) => [r.entry.type, r.entry.path, r.body.length])).toEqual([
        ['directory', 'Task04_Hippocampus/', 0],
        ['file', 'Task04_Hippocampus/a.bin', 1500],
        ['file', 'Task04_Hippocampus/empty', 0],
        ['file', longPath, 17],
        ['symlink', 'Task04_Hippocampus/link', 0],
      ]);
      expect(got[1]?.body.equals(Buffer.alloc(1500, 3))).toBe(true);
      expect(got[3]?.body.toString()).toBe('long name via pax');
      expect(got[4]?.entry.linkpath).toBe('../../etc/passwd');
    }
  });

  it('a file that is not a tar, and a truncated archive, are clear errors', () => {
    expect(() => readAll(Buffer.from('<html>Access denied</html>'.padEnd(600, ' ')), 100)).toThrow(/not a tar archive/);
    expect(() => readAll(archive.subarray(0, 1200), 100)).toThrow(TarFormatError);
    expect(() => readAll(archive.subarray(0, 1200), 100)).toThrow(/ends early \(truncated at byte 1200\)/);
    // cut exactly between two entries: still truncated (no end-of-archive blocks)
    expect(() => readAll(archive.subarray(0, 512 + 512 + 1536), 512)).toThrow(/ends early \(truncated at byte 2560\)/);
    const headerOfEmpty = 512 + 512 + 1536; // dir header, a.bin header, a.bin body (1500 → 1536)
    const bad = Buffer.from(archive);
    bad[headerOfEmpty + 10] = (bad[headerOfEmpty + 10] as number) ^ 0xff;
    expect(() => readAll(bad, 512)).toThrow(new RegExp(`corrupt tar header at byte ${headerOfEmpty}`));
  });

  it.skipIf(!haveTar)(
    'reads what GNU tar writes (gnu, pax and ustar formats)',
    skipNote('no GNU tar on PATH', 'install GNU tar'),
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'sizeseg-tar-'));
      const deep = join(dir, 'Task04_Hippocampus', 'x'.repeat(90), 'y'.repeat(40));
      mkdirSync(deep, { recursive: true });
      writeFileSync(join(deep, 'volume.nii.gz'), Buffer.alloc(70_000, 9));
      writeFileSync(join(dir, 'Task04_Hippocampus', 'dataset.json'), '{}');
      for (const format of ['gnu', 'pax', 'ustar']) {
        const file = join(dir, `${format}.tar`);
        execFileSync('tar', ['-cf', file, `--format=${format}`, '-C', dir, 'Task04_Hippocampus']);
        const files = readAll(readFileSync(file), 10_000).filter((r) => r.entry.type === 'file');
        const names = files.map((r) => r.entry.path).sort();
        expect(names, format).toEqual([
          'Task04_Hippocampus/dataset.json',
          `Task04_Hippocampus/${'x'.repeat(90)}/${'y'.repeat(40)}/volume.nii.gz`,
        ]);
        expect(files.find((r) => r.entry.path.endsWith('volume.nii.gz'))?.body.equals(Buffer.alloc(70_000, 9))).toBe(
          true,
        );
      }
    },
  );
});

describe('safeEntryPath', () => {
  it('keeps ordinary relative paths, dropping empty and "." parts', () => {
    expect(safeEntryPath('./Task04_Hippocampus//imagesTr/a.nii.gz')).toEqual([
      'Task04_Hippocampus',
      'imagesTr',
      'a.nii.gz',
    ]);
    expect(safeEntryPath('Task04_Hippocampus/')).toEqual(['Task04_Hippocampus']);
  });

  it("refuses '..', absolute paths and drive letters with a one-line reason", () => {
    for (const [path, why] of [
      ['../evil', /would escape the cache folder/],
      ['Task04_Hippocampus/../../evil', /would escape/],
      ['Task04_Hippocampus\\..\\evil', /would escape/],
      ['/etc/passwd', /absolute path/],
      ['C:\\Windows\\evil', /absolute path/],
    ] as const) {
      expect(() => safeEntryPath(path)).toThrow(UnsafeArchiveError);
      expect(() => safeEntryPath(path)).toThrow(why);
      try {
        safeEntryPath(path);
      } catch (err) {
        expect((err as Error).message).not.toContain('\n');
      }
    }
  });
});
