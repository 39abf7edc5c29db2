/**
 * The package as a user gets it: `npm pack` (which runs `prepare`, i.e. the build), the tarball's contents,
 * then an install of that tarball into an empty app, from npm's cache only (`npm ci` put every dependency
 * there; no network). The app type-checks a strict TypeScript file against the installed declarations
 * (skipLibCheck off, with moduleResolution nodenext and bundler), runs it (one training step, whose numbers
 * must equal those of the same script run on this checkout's sources), and runs the installed `sizeseg`.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repo = resolve(import.meta.dirname, '../..');
const work = mkdtempSync(join(tmpdir(), 'sizeseg-package-'));
const app = join(work, 'app');
const MAX_PACKED_BYTES = 3_000_000;

interface PackResult {
  filename: string;
  size: number;
  unpackedSize: number;
  entryCount: number;
  files: Array<{ path: string; size: number }>;
}

function run(cmd: string, args: string[], cwd: string, env: Record<string, string> = {}): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, SIZESEG_THREADS: '1', ...env } });
  if (r.error) throw r.error;
  return r;
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  if (r.status !== 0) throw new Error(`${what} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/**
 * Overrides that pin every package of sizeseg's production tree to this checkout's lockfile, so the app gets
 * the versions the tests ran with whatever the registry holds today.
 */
function lockedOverrides(): Record<string, string> {
  const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { version?: string; name?: string; dev?: boolean }>;
  };
  const pins: Record<string, string> = {};
  for (const [path, entry] of Object.entries(lock.packages)) {
    const name = path.slice('node_modules/'.length);
    if (
      !path.startsWith('node_modules/') ||
      name.includes('/node_modules/') ||
      entry.dev ||
      entry.version === undefined
    )
      continue;
    pins[name] = entry.name !== undefined && entry.name !== name ? `npm:${entry.name}@${entry.version}` : entry.version; // gl is an alias
  }
  return pins;
}

function lockedVersion(name: string): string {
  const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { version?: string }>;
  };
  const v = lock.packages[`node_modules/${name}`]?.version;
  if (v === undefined) throw new Error(`package-lock.json has no ${name}`);
  return v;
}

// One training step and a round trip through ndarray, written as a consumer would (strict TypeScript).
const consumerSource = (from: string): string => `import {
  Adam, ResUNet, Rng, bceWithLogits, fromNdarray, generateSynthetic, makeBatch, tensor, toNdarray,
  type SegDataset, type Tensor,
} from '${from}';

const rng = new Rng(7);
const data: SegDataset = generateSynthetic({ count: 8, seed: 7 });
const batch = makeBatch(data, [0, 1]);
const images: Tensor = tensor(batch.images, [2, 1, 48, 32]);
const masks = tensor(Float32Array.from(batch.masks), [2, 1, 48, 32]);
const model = new ResUNet({ widths: [4, 8], rng });
const opt = new Adam(model.parameters(), { lr: 1e-2 });
opt.zeroGrad();
const loss = bceWithLogits(model.forward(images), masks);
loss.backward();
opt.step();
const after = bceWithLogits(model.forward(images), masks);
const view = toNdarray(images);
const pixel: number = view.get(1, 0, 20, 10);
const back: Tensor = fromNdarray(view);
console.log(JSON.stringify({ loss: loss.item(), after: after.item(), pixel, shape: back.shape }));
`;

const strict = {
  target: 'ES2022',
  lib: ['ES2022'],
  types: ['node'],
  strict: true,
  noUncheckedIndexedAccess: true,
  exactOptionalPropertyTypes: true,
  skipLibCheck: false,
};

let pack: PackResult;

beforeAll(() => {
  // npm pack runs `prepare` (the build) first, as npm publish and a git install do.
  const out = ok(run('npm', ['pack', '--json', '--pack-destination', work], repo), 'npm pack');
  pack = (JSON.parse(out.slice(out.indexOf('[')) as string) as PackResult[])[0]!;
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('npm pack', () => {
  it(`is at most ${MAX_PACKED_BYTES / 1e6} MB and holds the build, the command and the licence`, () => {
    expect(pack.size).toBeLessThanOrEqual(MAX_PACKED_BYTES);
    const paths = pack.files.map((f) => f.path);
    for (const f of [
      'package.json',
      'README.md',
      'LICENSE',
      'bin/sizeseg.js',
      'dist/index.js',
      'dist/index.d.ts',
      'dist/cli/main.js',
    ]) {
      expect(paths).toContain(f);
    }
  });

  it('leaves out checkpoints, sources, tests, benchmarks (the bundled device script too), docs, the web page and source maps', () => {
    const stray = pack.files
      .map((f) => f.path)
      .filter(
        (p) =>
          /\.ckpt$|\.map$/.test(p) ||
          /^(src|test|bench|docs|web|examples|runs|\.ci|\.gpu|node_modules|dist\/device)\//.test(p),
      );
    expect(stray).toEqual([]);
  });
});

describe('the packed tarball installed into an empty app', () => {
  beforeAll(() => {
    mkdirSync(app);
    // The overrides a user adds (README, "Use it in your project"): gpu.js's optional headless-gl is not
    // built, and gpu.js's pinned webgpu 0.2.9 is not fetched (sizeseg itself depends on 0.6.2); the other
    // pins keep the app on the versions this checkout was tested with.
    const overrides = { ...lockedOverrides(), webgpu: '0.6.2', gl: 'npm:@favware/skip-dependency@1.2.2' };
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module', overrides }, null, 2),
    );
    // --prefer-offline: everything comes from npm's cache where it is there (npm ci put the tarballs there;
    // npm install also wants the registry's full metadata, which npm ci does not fetch, so a fresh CI
    // machine fetches that once).
    const deps = [join(work, pack.filename), `@types/node@${lockedVersion('@types/node')}`];
    ok(
      run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', ...deps], app),
      'npm install',
    );
    writeFileSync(join(app, 'consumer.ts'), consumerSource('sizeseg'));
  });

  const tsc = (config: object): SpawnSyncReturns<string> => {
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: config, files: ['consumer.ts'] }, null, 2),
    );
    return run(process.execPath, [join(repo, 'node_modules/typescript/bin/tsc'), '-p', app], app);
  };

  // Without the DOM lib there is no WebAssembly namespace (@types/node 20 has none): src/types/wasmNames.ts adds the names.
  it.each([
    ['nodenext', { module: 'nodenext', moduleResolution: 'nodenext' }],
    ['bundler', { module: 'esnext', moduleResolution: 'bundler' }],
    // with the DOM lib and without Node types: a public declaration naming a Node type (NodeJS.ProcessEnv,
    // Buffer) would fail here, and so would WebAssembly names that clashed with DOM's
    [
      'bundler, DOM lib, no Node types',
      { module: 'esnext', moduleResolution: 'bundler', lib: ['ES2022', 'DOM'], types: [] },
    ],
  ])('type-checks a strict consumer, skipLibCheck off, moduleResolution %s', (_, resolution) => {
    const r = tsc({ ...strict, ...resolution, noEmit: true });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('trains one step through the installed package, with the numbers of this checkout', () => {
    ok(tsc({ ...strict, module: 'nodenext', moduleResolution: 'nodenext', outDir: 'out' }), 'tsc (emit)');
    const installed = JSON.parse(
      ok(run(process.execPath, [join(app, 'out/consumer.js')], app), 'the consumer'),
    ) as Record<string, unknown>;
    // the same script on the sources (tsx), as the independent reference
    const reference = join(repo, 'test-artifacts', 'package');
    mkdirSync(reference, { recursive: true });
    writeFileSync(join(reference, 'consumer.ts'), consumerSource('../../src/index.js'));
    const fromSources = JSON.parse(
      ok(
        run(process.execPath, ['--import', 'tsx', join(reference, 'consumer.ts')], repo),
        'the same script on the sources',
      ),
    ) as Record<string, unknown>;
    expect(installed.shape).toEqual([2, 1, 48, 32]);
    expect(Number.isFinite(installed.loss)).toBe(true);
    expect(installed.after).toBeLessThan(installed.loss as number); // one Adam step on the batch lowers its loss
    expect(installed).toEqual(fromSources);
  });

  it("runs the installed 'sizeseg' command from dist/ (--help, info)", () => {
    expect(existsSync(join(app, 'node_modules/sizeseg/src'))).toBe(false); // no sources: the command must run dist/
    const bin = join(app, 'node_modules/.bin/sizeseg');
    const help = run(bin, ['--help'], app);
    expect(help.stderr).toBe('');
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/sizeseg/);
    const info = run(bin, ['info'], app);
    expect(info.status).toBe(0);
    expect(JSON.parse(info.stdout)).toMatchObject({ name: 'sizeseg' });
  });
});
