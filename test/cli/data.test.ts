/**
 * `sizeseg data …` and `--data msd` as a user runs them: a real process, a cache folder of its own
 * ($SIZESEG_HOME), an archive served from 127.0.0.1 by this test (so the child runs asynchronously).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { folderEntries, packTar, serveArchive, writeTinyTask04, type TestServer } from '../_helpers/archive.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function sizeseg(env: Record<string, string>, ...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
      env: { ...process.env, SIZESEG_THREADS: '1', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

let server: TestServer;
let archiveMd5: string;
let localArchive: string;
beforeAll(async () => {
  const base = mkdtempSync(join(tmpdir(), 'sizeseg-cli-task04-'));
  writeTinyTask04(join(base, 'Task04_Hippocampus'), 12);
  const bytes = packTar(folderEntries(join(base, 'Task04_Hippocampus'), 'Task04_Hippocampus'));
  archiveMd5 = createHash('md5').update(bytes).digest('hex');
  localArchive = join(base, 'Task04_Hippocampus.tar');
  writeFileSync(localArchive, bytes);
  server = await serveArchive(bytes);
  server.routes.set('/silent.tar', () => {});
});
afterAll(() => server.close());

describe('sizeseg data', () => {
  it('download → path → list → download again (nothing to do) → info and demo --data msd on the cached copy', async () => {
    const home = mkdtempSync(join(tmpdir(), 'sizeseg-home-'));
    const env = { SIZESEG_HOME: home };
    const missing = await sizeseg(env, 'info', '--data', 'msd');
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.stderr).toMatch(
      /no downloaded copy of msd-task04 in .*; run 'npx sizeseg data download msd-task04' first/,
    );

    const down = await sizeseg(
      env,
      'data',
      'download',
      'msd-task04',
      '--from',
      `${server.url}/archive.tar`,
      '--md5',
      archiveMd5,
    );
    expect(down.stderr).toMatch(/downloading http:\/\/127\.0\.0\.1/);
    expect(down.code).toBe(0);
    const dataDir = join(home, 'msd-task04', 'Task04_Hippocampus');
    expect(down.stdout).toContain(`msd-task04 is ready: ${dataDir}`);
    expect(down.stdout).toMatch(/CC-BY-SA 4\.0.*Simpson et al\. 2019.*Antonelli et al\. 2022/);

    const path = await sizeseg(env, 'data', 'path', 'msd-task04');
    expect(path.code).toBe(0);
    expect(path.stdout).toBe(`${dataDir}\n`);
    const list = await sizeseg(env, 'data', 'list');
    expect(list.stdout).toMatch(new RegExp(`cache: ${home} \\(\\$SIZESEG_HOME\\)`));
    expect(list.stdout).toMatch(/msd-task04 +ready +[\d.]+ kB in 26 files/);
    expect(list.stdout).toMatch(/archive +[\d.]+ kB/);

    const again = await sizeseg(
      env,
      'data',
      'download',
      'msd-task04',
      '--from',
      `${server.url}/archive.tar`,
      '--md5',
      archiveMd5,
    );
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/already in the cache .*nothing to do/);

    const info = await sizeseg(env, 'info', '--data', 'msd', '--quiet');
    expect(info.code).toBe(0);
    expect(JSON.parse(info.stdout).data).toMatchObject({
      name: 'msd-Task04_Hippocampus',
      count: 24,
      height: 48,
      width: 32,
    });

    const out = mkdtempSync(join(tmpdir(), 'sizeseg-demo-msd-'));
    const demo = await sizeseg(
      env,
      'demo',
      '--data',
      'msd',
      '--m',
      '4',
      '--epochs',
      '1',
      '--widths',
      '2,4',
      '--batch',
      '8',
      '--out',
      out,
      '--quiet',
    );
    expect(demo.stderr).toBe('');
    expect(demo.code).toBe(0);
    const result = JSON.parse(demo.stdout.trim().split('\n').at(-1) as string);
    expect(result.demo.after.iou).toBeGreaterThanOrEqual(0);
    expect(JSON.parse(readFileSync(join(out, 'demo', 'config.json'), 'utf8')).data).toBe('msd');
  });

  it('--from a local archive (the issue\'s "done when" path), and the errors: 404, timeout, bad MD5, usage', async () => {
    const home = mkdtempSync(join(tmpdir(), 'sizeseg-home-'));
    const env = { SIZESEG_HOME: home };
    const bad = await sizeseg(env, 'data', 'download', 'msd-task04', '--from', localArchive);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim().split('\n').at(-1)).toMatch(
      /^sizeseg: error: checksum mismatch: .* expected 9d24dba78a72977dbd1d2e110310f31b; the file was left as it is\. .*--md5 [0-9a-f]{32}\.$/,
    );
    const local = await sizeseg(
      env,
      'data',
      'download',
      'msd-task04',
      '--from',
      localArchive,
      '--md5',
      archiveMd5,
      '--quiet',
    );
    expect(local.code).toBe(0);
    expect(existsSync(join(home, 'msd-task04', 'sizeseg-download.json'))).toBe(true);

    const fresh = { SIZESEG_HOME: mkdtempSync(join(tmpdir(), 'sizeseg-home-')), SIZESEG_HTTP_TIMEOUT: '0.3' };
    for (const [from, pattern] of [
      [`${server.url}/missing.tar`, /^sizeseg: error: HTTP 404 Not Found from .*\/missing\.tar; check the address/],
      [`${server.url}/silent.tar`, /^sizeseg: error: no data from 127\.0\.0\.1:\d+ for 0\.3 s \(timed out\)/],
    ] as const) {
      const r = await sizeseg(fresh, 'data', 'download', 'msd-task04', '--from', from, '--quiet');
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(pattern);
    }
    for (const [args, pattern] of [
      [['data'], /'sizeseg data' takes download NAME, list, or path NAME/],
      [['data', 'download'], /name a dataset: sizeseg data download msd-task04/],
      [['data', 'download', 'msd-task05'], /unknown dataset 'msd-task05'; known: msd-task04/],
      [['data', 'fetch', 'msd-task04'], /unknown data command 'fetch'/],
    ] as const) {
      const r = await sizeseg(fresh, ...args);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(pattern);
    }
    const path = await sizeseg(fresh, 'data', 'path', 'msd-task04');
    expect(path.code).toBe(1);
    expect(path.stderr).toMatch(/no downloaded copy .*sizeseg data download msd-task04/);
  });
});
