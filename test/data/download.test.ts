/**
 * `downloadDataset`: everything through an HTTP server on 127.0.0.1 started here (no internet). A small
 * Task04-layout archive written by the test; with ../shared present, also the real folder packed into a tar.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { cachedDatasetPath, datasetPaths, listCache } from '../../src/data/cache.js';
import { DownloadError, UnsafeArchiveError, describeFsError, downloadDataset } from '../../src/data/download.js';
import { loadDataset } from '../../src/data/index.js';
import { loadMsd } from '../../src/data/msd.js';
import { loadPrepared } from '../../src/data/prepared.js';
import { PRESETS, loadPools } from '../../src/experiments/common.js';
import { Progress } from '../../src/cli/progress.js';
import {
  folderEntries,
  packTar,
  serveArchive,
  writeTinyTask04,
  type TarInput,
  type TestServer,
} from '../_helpers/archive.js';
import { sharedDataNote, skipNote } from '../_helpers/skipNote.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const MSD_DIR = resolve(repoRoot, '../shared/data/msd-task04-hippocampus');
const PREP_DIR = resolve(repoRoot, '../shared/data/hippocampus');
const haveShared = existsSync(join(MSD_DIR, 'imagesTr')) && existsSync(join(PREP_DIR, 'meta.json'));

const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');
const newRoot = () => mkdtempSync(join(tmpdir(), 'sizeseg-cache-'));

/** The tiny dataset folder, and an archive of it with the extras the real one has (imagesTs, `._` forks). */
let folder: string;
let archive: Buffer;
let archiveMd5: string;
beforeAll(() => {
  const base = mkdtempSync(join(tmpdir(), 'sizeseg-task04-'));
  folder = join(base, 'Task04_Hippocampus');
  writeTinyTask04(folder, 12);
  const extras: TarInput[] = [
    { path: 'Task04_Hippocampus/imagesTs/', type: '5' },
    { path: 'Task04_Hippocampus/imagesTs/hippocampus_002.nii.gz', body: Buffer.from('not needed') },
    { path: 'Task04_Hippocampus/imagesTr/._hippocampus_001.nii.gz', body: Buffer.from('AppleDouble junk') },
    { path: '._Task04_Hippocampus', body: Buffer.from('AppleDouble junk') },
  ];
  archive = packTar([...folderEntries(folder, 'Task04_Hippocampus'), ...extras]);
  archiveMd5 = md5(archive);
});

const servers: TestServer[] = [];
async function serve(bytes: Uint8Array, opts: Parameters<typeof serveArchive>[1] = {}): Promise<TestServer> {
  const s = await serveArchive(bytes, opts);
  servers.push(s);
  return s;
}
const savedHome = process.env.SIZESEG_HOME;
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  if (savedHome === undefined) delete process.env.SIZESEG_HOME;
  else process.env.SIZESEG_HOME = savedHome;
  vi.restoreAllMocks();
});

/** Files and folders anywhere below `dir`, relative. */
function tree(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? [`${prefix}${e.name}/`, ...tree(join(dir, e.name), `${prefix}${e.name}/`)]
      : [`${prefix}${e.name}`],
  );
}

/** The error `promise` rejects with (fails the test if it resolves). */
async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a failure');
}

function expectSameData(a: Awaited<ReturnType<typeof loadDataset>>, b: Awaited<ReturnType<typeof loadDataset>>): void {
  expect(a.count).toBe(b.count);
  expect(
    Buffer.from(a.images.buffer, a.images.byteOffset, a.images.byteLength).equals(
      Buffer.from(b.images.buffer, b.images.byteOffset, b.images.byteLength),
    ),
  ).toBe(true);
  expect(Buffer.from(a.masks).equals(Buffer.from(b.masks))).toBe(true);
  expect(Array.from(a.sizes)).toEqual(Array.from(b.sizes));
  expect(Array.from(a.split)).toEqual(Array.from(b.split));
  expect(Array.from(a.volumeId ?? [])).toEqual(Array.from(b.volumeId ?? []));
  expect(Array.from(a.sliceIndex ?? [])).toEqual(Array.from(b.sliceIndex ?? []));
}

describe('downloadDataset from a local HTTP server', () => {
  it("downloads, verifies and unpacks; loadDataset('msd') then equals loading the folder directly", async () => {
    const server = await serve(archive);
    const root = newRoot();
    const logs: string[] = [];
    const phases = new Set<string>();
    const result = await downloadDataset('msd-task04', {
      from: `${server.url}/archive.tar`,
      md5: archiveMd5,
      root,
      log: (l) => logs.push(l),
      onProgress: (phase) => phases.add(phase),
    });
    expect(result.action).toBe('downloaded');
    expect(result.path).toBe(join(root, 'msd-task04', 'Task04_Hippocampus'));
    expect([...phases]).toEqual(['download', 'verify', 'unpack']);
    // only imagesTr, labelsTr and dataset.json, without macOS forks; the verified archive kept; no .part left
    const files = tree(join(root, 'msd-task04'));
    expect(files).toContain('sizeseg-download.json');
    expect(files.filter((f) => f.includes('imagesTs') || f.includes('._'))).toEqual([]);
    expect(files.filter((f) => f.endsWith('.nii.gz')).length).toBe(24);
    expect(files).toContain('Task04_Hippocampus/dataset.json');
    expect(tree(join(root, 'downloads'))).toEqual(['Task04_Hippocampus.tar']);
    expect(md5(readFileSync(join(root, 'downloads', 'Task04_Hippocampus.tar')))).toBe(archiveMd5);
    expect(tree(root).filter((f) => f.startsWith('.'))).toEqual([]); // no temporary folders

    process.env.SIZESEG_HOME = root;
    expect(cachedDatasetPath('msd-task04')).toBe(result.path);
    const cached = await loadDataset('msd', { seed: 4 });
    const direct = loadMsd(folder, { seed: 4, meta: false });
    expect(cached.count).toBe(24);
    expectSameData(cached, direct);
    expect(listCache(root)[0]).toMatchObject({ name: 'msd-task04', state: 'ready', files: 26 });
    // `npm run experiment -- NAME --data msd` loads the same copy (split by slice, as the experiments do)
    const pools = await loadPools({
      preset: PRESETS.smoke,
      dataSpec: 'msd',
      out: root,
      progress: new Progress({ quiet: true }),
    });
    expect(pools.description).toContain(`msd:${result.path} (12 volumes → 24 slices`);

    // a second download with a complete cache does nothing and says so (no request at all)
    const before = server.requests.length;
    const again = await downloadDataset('msd-task04', { from: `${server.url}/archive.tar`, md5: archiveMd5, root });
    expect(again.action).toBe('cached');
    expect(server.requests.length).toBe(before);
  });

  it('a connection dropped half-way resumes with Range and ends with the same bytes', async () => {
    const half = Math.floor(archive.length / 2);
    const server = await serve(archive, { dropFirstAfter: half });
    const root = newRoot();
    const logs: string[] = [];
    const result = await downloadDataset('msd-task04', {
      from: `${server.url}/archive.tar`,
      md5: archiveMd5,
      root,
      log: (l) => logs.push(l),
    });
    expect(result.action).toBe('downloaded');
    const gets = server.requests.filter((r) => r.path === '/archive.tar');
    expect(gets.length).toBe(2);
    expect(gets[0]?.range).toBeUndefined();
    expect(gets[1]?.range).toMatch(/^bytes=\d+-$/);
    expect(Number(/\d+/.exec(gets[1]?.range ?? '')?.[0])).toBeGreaterThan(0);
    expect(gets[1]?.ifRange).toBe('"v1"'); // resumes only if the file on the server is the same
    expect(logs.join('\n')).toMatch(/the connection dropped after .*; resuming at/);
    expect(readFileSync(join(root, 'downloads', 'Task04_Hippocampus.tar')).equals(archive)).toBe(true);
  });

  it('an interrupted run leaves a .part that is never loaded, and the next run resumes it', async () => {
    const half = Math.floor(archive.length / 2);
    const server = await serve(archive, { dropFirstAfter: half });
    const root = newRoot();
    const from = `${server.url}/archive.tar`;
    const err = await failure(downloadDataset('msd-task04', { from, md5: archiveMd5, root, http: { retries: 0 } }));
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.message).not.toContain('\n');
    expect(err.message).toMatch(/the connection dropped after .*run the same command again to continue/);
    const paths = datasetPaths('msd-task04', root);
    const partBytes = readFileSync(paths.part);
    expect(partBytes.length).toBeGreaterThan(0);
    expect(partBytes.equals(archive.subarray(0, partBytes.length))).toBe(true);
    process.env.SIZESEG_HOME = root;
    await expect(loadDataset('msd')).rejects.toThrow(
      /no downloaded copy of msd-task04 .*run 'npx sizeseg data download msd-task04' first/,
    );
    expect(listCache(root)[0]).toMatchObject({ state: 'partial', partBytes: partBytes.length });

    const result = await downloadDataset('msd-task04', { from, md5: archiveMd5, root });
    expect(result.action).toBe('downloaded');
    const gets = server.requests.filter((r) => r.path === '/archive.tar');
    expect(gets.at(-1)?.range).toBe(`bytes=${partBytes.length}-`);
    expect(readFileSync(paths.archive).equals(archive)).toBe(true);
    expect(existsSync(paths.part)).toBe(false);
    expect((await loadDataset('msd')).count).toBe(24);
  });

  it('a server that ignores Range, or a .part from another address, starts over and still ends right', async () => {
    const server = await serve(archive, { ranges: false });
    const root = newRoot();
    const paths = datasetPaths('msd-task04', root);
    mkdirSync(dirname(paths.part), { recursive: true });
    writeFileSync(paths.part, archive.subarray(0, 1000));
    writeFileSync(`${paths.part}.json`, JSON.stringify({ url: `${server.url}/archive.tar`, etag: '"v1"' }));
    await downloadDataset('msd-task04', { from: `${server.url}/archive.tar`, md5: archiveMd5, root });
    expect(readFileSync(paths.archive).equals(archive)).toBe(true);

    // a .part that was already complete (the run stopped before checking it): the server answers 416
    const root3 = newRoot();
    const paths3 = datasetPaths('msd-task04', root3);
    mkdirSync(dirname(paths3.part), { recursive: true });
    writeFileSync(paths3.part, archive);
    const rangeServer = await serve(archive);
    writeFileSync(`${paths3.part}.json`, JSON.stringify({ url: `${rangeServer.url}/archive.tar` }));
    expect(
      (await downloadDataset('msd-task04', { from: `${rangeServer.url}/archive.tar`, md5: archiveMd5, root: root3 }))
        .action,
    ).toBe('downloaded');
    expect(rangeServer.requests.map((r) => r.range)).toEqual([`bytes=${archive.length}-`]);
    expect(readFileSync(paths3.archive).equals(archive)).toBe(true);

    const root2 = newRoot();
    const paths2 = datasetPaths('msd-task04', root2);
    mkdirSync(dirname(paths2.part), { recursive: true });
    writeFileSync(paths2.part, Buffer.alloc(5000, 1)); // garbage from another mirror
    writeFileSync(`${paths2.part}.json`, JSON.stringify({ url: 'https://elsewhere.example/Task04_Hippocampus.tar' }));
    const logs: string[] = [];
    await downloadDataset('msd-task04', {
      from: `${server.url}/archive.tar`,
      md5: archiveMd5,
      root: root2,
      log: (l) => logs.push(l),
    });
    expect(logs.join('\n')).toMatch(/from another address .*starting over/);
    expect(readFileSync(paths2.archive).equals(archive)).toBe(true);
  });

  it('a wrong MD5 is refused: the download is kept aside, nothing is unpacked, a --from file is left alone', async () => {
    const server = await serve(archive);
    const root = newRoot();
    const wrong = 'ab'.repeat(16);
    const err = await failure(downloadDataset('msd-task04', { from: `${server.url}/archive.tar`, md5: wrong, root }));
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.message).not.toContain('\n');
    expect(err.message).toMatch(
      new RegExp(
        `checksum mismatch: .* has MD5 ${archiveMd5}, expected ${wrong}; kept it as .*\\.bad .*pass --md5 ${archiveMd5}`,
      ),
    );
    const aside = join(root, 'downloads', `Task04_Hippocampus.tar.md5-${archiveMd5}.bad`);
    expect(readFileSync(aside).equals(archive)).toBe(true);
    expect(tree(root).sort()).toEqual(['downloads/', `downloads/Task04_Hippocampus.tar.md5-${archiveMd5}.bad`]);
    expect(cachedDatasetPath('msd-task04', root)).toBeUndefined();

    const local = join(newRoot(), 'Task04_Hippocampus.tar');
    writeFileSync(local, archive);
    const err2 = await failure(downloadDataset('msd-task04', { from: local, root })); // the published MD5
    expect(err2.message).toMatch(
      /checksum mismatch: .* expected 9d24dba78a72977dbd1d2e110310f31b; the file was left as it is/,
    );
    expect(readFileSync(local).equals(archive)).toBe(true);
  });

  it("an archive with '../evil', an absolute path or a link is refused and nothing is written", async () => {
    const good = folderEntries(folder, 'Task04_Hippocampus');
    const cases: [TarInput, RegExp][] = [
      [
        { path: 'Task04_Hippocampus/imagesTr/../../../evil', body: Buffer.from('x') },
        /entry '.*\.\.\/evil' would escape the cache folder/,
      ],
      [{ path: '../evil', body: Buffer.from('x') }, /entry '\.\.\/evil' would escape/],
      [{ path: '/tmp/sizeseg-evil', body: Buffer.from('x') }, /is an absolute path/],
      [
        { path: 'Task04_Hippocampus/imagesTr/hippocampus_099.nii.gz', type: '2', linkpath: '/etc/passwd' },
        /is a symlink \(to '\/etc\/passwd'\)/,
      ],
      [{ path: 'Task04_Hippocampus/dataset.json', type: '1', linkpath: '../../x' }, /is a hardlink/],
    ];
    for (const [evil, message] of cases) {
      const bytes = packTar([...good.slice(0, 5), evil, ...good.slice(5)]);
      const root = newRoot();
      const err = await failure(
        downloadDataset('msd-task04', { from: (await serve(bytes)).url + '/archive.tar', md5: md5(bytes), root }),
      );
      expect(err).toBeInstanceOf(UnsafeArchiveError);
      expect(err.message).toMatch(message);
      expect(err.message).not.toContain('\n');
      // only the verified archive: no temporary folder, no unpacked dataset, nothing outside the cache
      expect(tree(root)).toEqual(['downloads/', 'downloads/Task04_Hippocampus.tar']);
      expect(existsSync(join(dirname(root), 'evil'))).toBe(false);
      expect(existsSync('/tmp/sizeseg-evil')).toBe(false);
    }
  });

  it('a truncated archive (matching its MD5) fails while unpacking and leaves nothing that loads', async () => {
    const cut = archive.subarray(0, Math.floor(archive.length * 0.7));
    const root = newRoot();
    const err = await failure(
      downloadDataset('msd-task04', { from: `${(await serve(cut)).url}/archive.tar`, md5: md5(cut), root }),
    );
    expect(err.message).toMatch(/Task04_Hippocampus\.tar: the archive ends early/);
    expect(tree(root)).toEqual(['downloads/', 'downloads/Task04_Hippocampus.tar']);
    expect(cachedDatasetPath('msd-task04', root)).toBeUndefined();
  });

  it('an archive without imagesTr/labelsTr is not the Task04 archive', async () => {
    const bytes = packTar([{ path: 'Task04_Hippocampus/dataset.json', body: Buffer.from('{}') }]);
    const err = await failure(
      downloadDataset('msd-task04', {
        from: `${(await serve(bytes)).url}/archive.tar`,
        md5: md5(bytes),
        root: newRoot(),
      }),
    );
    expect(err.message).toMatch(/no files in Task04_Hippocampus\/imagesTr\/; it is not the .* archive/);
  });

  it('HTTP 404 and timeouts are one-line errors', async () => {
    const server = await serve(archive);
    const e404 = await failure(
      downloadDataset('msd-task04', { from: `${server.url}/missing.tar`, md5: archiveMd5, root: newRoot() }),
    );
    expect(e404).toBeInstanceOf(DownloadError);
    expect(e404.message).toMatch(/^HTTP 404 Not Found from http:\/\/127\.0\.0\.1:\d+\/missing\.tar; check the address/);
    expect(e404.message).not.toContain('\n');

    server.routes.set('/silent.tar', () => {}); // never answers
    const eSilent = await failure(
      downloadDataset('msd-task04', {
        from: `${server.url}/silent.tar`,
        md5: archiveMd5,
        root: newRoot(),
        http: { timeoutMs: 300 },
      }),
    );
    expect(eSilent.message).toMatch(/^no data from 127\.0\.0\.1:\d+ for 0\.3 s \(timed out\); check the connection/);
    expect(eSilent.message).not.toContain('\n');

    server.routes.set('/stall.tar', (_req, res) => {
      res.writeHead(200, { 'content-length': archive.length });
      res.flushHeaders(); // headers, then no body
    });
    const eStall = await failure(
      downloadDataset('msd-task04', {
        from: `${server.url}/stall.tar`,
        md5: archiveMd5,
        root: newRoot(),
        http: { timeoutMs: 300 },
      }),
    );
    expect(eStall.message).toMatch(
      /^no data for 0\.3 s \(timed out\) after 0 B of .* run the same command again to resume/,
    );
    expect(eStall.message).not.toContain('\n');
  });

  it('redirects are followed, and a redirect loop stops after the limit', async () => {
    const server = await serve(archive);
    server.routes.set('/r1', (_req, res) => res.writeHead(302, { location: '/r2' }).end());
    server.routes.set('/r2', (_req, res) => res.writeHead(301, { location: `${server.url}/archive.tar` }).end());
    server.routes.set('/loop', (_req, res) => res.writeHead(307, { location: '/loop' }).end());
    const ok = await downloadDataset('msd-task04', { from: `${server.url}/r1`, md5: archiveMd5, root: newRoot() });
    expect(ok.action).toBe('downloaded');
    const err = await failure(
      downloadDataset('msd-task04', {
        from: `${server.url}/loop`,
        md5: archiveMd5,
        root: newRoot(),
        http: { maxRedirects: 3 },
      }),
    );
    expect(err.message).toMatch(/^too many redirects \(more than 3\) starting at .*\/loop/);
    expect(server.requests.filter((r) => r.path === '/loop').length).toBe(4);
  });

  it('--from a local archive or file:// URL unpacks it without copying it; a folder is explained', async () => {
    const dir = newRoot();
    const local = join(dir, 'mirror copy.tar');
    writeFileSync(local, archive);
    const root = newRoot();
    const result = await downloadDataset('msd-task04', { from: local, md5: archiveMd5.toUpperCase(), root });
    expect(result.action).toBe('unpacked');
    expect(existsSync(join(root, 'downloads'))).toBe(false);
    expect(readFileSync(local).equals(archive)).toBe(true);
    const viaUrl = await downloadDataset('msd-task04', {
      from: `file://${local.replace(/ /g, '%20')}`,
      md5: archiveMd5,
      root: newRoot(),
    });
    expect(viaUrl.action).toBe('unpacked');
    await expect(downloadDataset('msd-task04', { from: dir, root: newRoot() })).rejects.toThrow(
      /is a folder; give the Task04_Hippocampus\.tar archive/,
    );
    await expect(downloadDataset('msd-task04', { from: join(dir, 'nope.tar'), root: newRoot() })).rejects.toThrow(
      /no such file/,
    );
    await expect(downloadDataset('msd-task04', { from: local, md5: 'xyz', root: newRoot() })).rejects.toThrow(
      /--md5 must be 32 hexadecimal digits/,
    );
  });

  it('a second download running in the same cache is refused; a lock left by a dead process is taken over', async () => {
    const server = await serve(archive);
    const root = newRoot();
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, '.msd-task04.lock'), String(process.ppid)); // a live process
    const err = await failure(
      downloadDataset('msd-task04', { from: `${server.url}/archive.tar`, md5: archiveMd5, root }),
    );
    expect(err.message).toMatch(
      new RegExp(`^another 'sizeseg data download' \\(process ${process.ppid}\\) is working in this cache`),
    );
    expect(server.requests).toEqual([]);
    const dead = spawnSync(process.execPath, ['-e', '0']).pid as number;
    writeFileSync(join(root, '.msd-task04.lock'), String(dead));
    expect(
      (await downloadDataset('msd-task04', { from: `${server.url}/archive.tar`, md5: archiveMd5, root })).action,
    ).toBe('downloaded');
    expect(existsSync(join(root, '.msd-task04.lock'))).toBe(false);
  });

  it.skipIf(!existsSync('/dev/full'))(
    'a full disk is a one-line error that names the fix',
    skipNote('no /dev/full (a Linux device)', 'run it on Linux'),
    async () => {
      const server = await serve(archive);
      const root = newRoot();
      const paths = datasetPaths('msd-task04', root);
      mkdirSync(dirname(paths.part), { recursive: true });
      // the .part is /dev/full, where every write fails with ENOSPC
      symlinkSync('/dev/full', paths.part);
      writeFileSync(`${paths.part}.json`, JSON.stringify({ url: `${server.url}/archive.tar` }));
      const err = await failure(
        downloadDataset('msd-task04', { from: `${server.url}/archive.tar`, md5: archiveMd5, root }),
      );
      expect(err.message).toMatch(
        /^the disk is full \(ENOSPC\) while writing .*\.part; free some space, or set SIZESEG_HOME/,
      );
      expect(err.message).not.toContain('\n');
      const mapped = describeFsError(Object.assign(new Error('x'), { code: 'ENOSPC' }), '/some/file', 'unpacking into');
      expect(mapped.message).toMatch(/^the disk is full \(ENOSPC\) while unpacking into \/some\/file/);
    },
  );
});

describe.skipIf(!haveShared)(
  'the real Task04 folder, packed and served from 127.0.0.1',
  sharedDataNote(MSD_DIR, PREP_DIR),
  () => {
    it('downloads, unpacks and loads exactly the 6103 prepared slices', async () => {
      vi.spyOn(console, 'warn').mockImplementation(() => {});
      const bytes = packTar(folderEntries(MSD_DIR, 'Task04_Hippocampus'));
      const server = await serve(bytes);
      const root = newRoot();
      const result = await downloadDataset('msd-task04', { from: `${server.url}/archive.tar`, md5: md5(bytes), root });
      const ds = loadMsd(result.path);
      const ref = loadPrepared(PREP_DIR);
      expect(ds.count).toBe(6103);
      expect(ref.count).toBe(6103);
      expect(Buffer.from(ds.masks).equals(Buffer.from(ref.masks))).toBe(true);
      expect(
        Buffer.from(ds.images.buffer).equals(
          Buffer.from(ref.images.buffer, ref.images.byteOffset, ref.images.byteLength),
        ),
      ).toBe(true);
      expect(Array.from(ds.sizes)).toEqual(Array.from(ref.sizes));
    }, 120_000);
  },
);
