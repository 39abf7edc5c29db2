/**
 * Help: every command has its own, with its options and their defaults (`sizeseg <command> --help` and
 * `sizeseg help <command>`); the defaults it states are the ones a run uses; help stands alone (no
 * `../shared`); `--help` of the command line and of the npm scripts prints help, exits 0 and writes nothing;
 * `--version` and `info` give sizeseg's version from package.json, also from an installed layout.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EXPERIMENT_USAGE } from '../../src/cli/experiment.js';
import { FIGURE_USAGE } from '../../src/cli/figure.js';
import { COMMANDS, main } from '../../src/cli/main.js';

const repo = resolve('.');
const tsx = pathToFileURL(createRequire(join(repo, 'package.json')).resolve('tsx')).href;
const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };

/** Run a TypeScript entry of the repository as a process in `cwd`. */
function run(cwd: string, entry: string, ...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', tsx, join(repo, entry), ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, SIZESEG_THREADS: '1' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** main() in this process, with what it writes to stdout. */
async function captured(...argv: string[]): Promise<{ code: number; stdout: string }> {
  let stdout = '';
  const write = process.stdout.write.bind(process.stdout);
  const log = console.log;
  process.stdout.write = ((chunk: string) => {
    stdout += String(chunk);
    return true;
  }) as typeof process.stdout.write;
  console.log = (...parts: unknown[]) => void (stdout += `${parts.join(' ')}\n`);
  try {
    return { code: await main(argv), stdout };
  } finally {
    process.stdout.write = write;
    console.log = log;
  }
}

/** The default a help text states for a flag, e.g. `--lr X  Adam learning rate (default 0.003)` → '0.003'. */
function statedDefault(help: string, flag: string): string {
  const options = help.slice(help.indexOf('\nOptions:'));
  const start = options.search(new RegExp(`\\n  --${flag}\\b`));
  if (start < 0) throw new Error(`--${flag} is not in the options`);
  const end = options.indexOf('\n  --', start + 1);
  const text = options.slice(start, end < 0 ? undefined : end).replace(/\s+/g, ' ');
  const m = /\(default ([^);]+)[);]/.exec(text);
  if (!m) throw new Error(`no default stated for --${flag}: ${text}`);
  return m[1]!;
}

describe('sizeseg help', () => {
  it('each command has its own help, the same as `sizeseg help <command>`, listing its options', async () => {
    expect(COMMANDS.map((c) => c.name)).toEqual([
      'demo',
      'pretrain',
      'sizetrain',
      'evaluate',
      'predict',
      'export',
      'info',
      'data',
    ]);
    const global = await captured('--help');
    expect(global.code).toBe(0);
    for (const c of COMMANDS) {
      expect(global.stdout).toMatch(new RegExp(`^  ${c.name} +\\S`, 'm'));
      const own = await captured(c.name, '--help');
      expect(own.code).toBe(0);
      expect(own.stdout).toMatch(new RegExp(`^Usage: sizeseg ${c.name}\\b`));
      expect(own.stdout).not.toBe(global.stdout);
      expect((await captured('help', c.name)).stdout).toBe(own.stdout);
      for (const flag of Object.keys(c.options)) expect(own.stdout).toMatch(new RegExp(`^  --${flag}\\b`, 'm'));
    }
    expect((await captured('help', 'frobnicate')).code).toBe(2);
    expect((await captured()).code).toBe(2); // no command: the global help, as a usage error
  });

  it('states the defaults of the training flags', async () => {
    const help = async (c: string) => (await captured(c, '--help')).stdout;
    const pretrain = await help('pretrain');
    expect(
      ['epochs', 'patience', 'batch', 'lr', 'm', 'seed', 'widths', 'data'].map((f) => statedDefault(pretrain, f)),
    ).toEqual(['100', '10', '32', '0.003', '20', '0', '16,32,64,128, ResUNet-lite', 'synthetic']);
    const sizetrain = await help('sizetrain');
    expect(
      ['epochs', 'patience', 'batch', 'lr', 'samples', 'estimator'].map((f) => statedDefault(sizetrain, f)),
    ).toEqual(['50', '5', '32', '0.0001', '1', 'fast']);
    expect(statedDefault(await help('demo'), 'epochs')).toBe('15 in phase 1, 4 in phase 2');
    expect(statedDefault(await help('predict'), 'images')).toBe('32');
    expect(statedDefault(await help('evaluate'), 'split')).toBe('test');
  });

  it('the defaults it states are the ones a run uses (config.json of a run without those flags)', () => {
    const out = mkdtempSync(join(tmpdir(), 'sizeseg-help-defaults-'));
    const pre = run(
      repo,
      'src/cli/main.ts',
      'pretrain',
      '--count',
      '60',
      '--widths',
      '2,4',
      '--m',
      '4',
      '--epochs',
      '1',
      '--out',
      out,
      '--name',
      'pre',
      '--quiet',
    );
    expect(pre.stderr).toBe('');
    const preConfig = JSON.parse(readFileSync(join(out, 'pre', 'config.json'), 'utf8'));
    expect(preConfig).toMatchObject({ data: 'synthetic', seed: 0, patience: 10, batch: 32, lr: 0.003 });
    const size = run(
      repo,
      'src/cli/main.ts',
      'sizetrain',
      '--checkpoint',
      join(out, 'pre', 'best.ckpt'),
      '--epochs',
      '1',
      '--out',
      out,
      '--name',
      'size',
      '--quiet',
    );
    expect(size.stderr).toBe('');
    const sizeConfig = JSON.parse(readFileSync(join(out, 'size', 'config.json'), 'utf8'));
    // data, count and seed: the checkpoint's (its record), not the flags' defaults
    expect(sizeConfig).toMatchObject({
      data: 'synthetic',
      count: 60,
      seed: 0,
      samples: 1,
      estimator: 'fast',
      patience: 5,
      batch: 32,
      lr: 0.0001,
    });
  });

  it('stands alone: no ../shared paths in any help text', async () => {
    const texts = [(await captured('--help')).stdout, EXPERIMENT_USAGE, FIGURE_USAGE];
    for (const c of COMMANDS) texts.push((await captured(c.name, '--help')).stdout);
    for (const t of texts) expect(t).not.toMatch(/\.\.\/shared|shared\/data/);
    // the examples use built-in synthetic data or the downloaded copy
    expect(texts.join('\n')).toMatch(/--data msd/);
  });

  it('--help of the command line and of the npm scripts exits 0, writes no file and changes no tracked one', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'sizeseg-help-cwd-'));
    const tracked = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).stdout;
    for (const [entry, args, pattern] of [
      ['src/cli/main.ts', ['--help'], /^sizeseg \d+\.\d+\.\d+/],
      ['src/cli/main.ts', ['demo', '--help'], /^Usage: sizeseg demo/],
      ['src/cli/main.ts', ['data', 'download', '--help'], /^Usage: sizeseg data download/],
      ['src/cli/main.ts', ['help', 'evaluate'], /^Usage: sizeseg evaluate/],
      ['src/cli/experiment.ts', ['--help'], /^usage: npm run experiment/],
      ['src/cli/experiment.ts', ['fig7', '--preset', 'paper', '--help'], /^usage: npm run experiment/],
      ['src/cli/figure.ts', ['--help'], /^usage: npm run figure/],
      ['src/cli/figure.ts', ['fig3', '--help'], /^usage: npm run figure/],
    ] as const) {
      const r = run(cwd, entry, ...args);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(pattern);
    }
    expect(readdirSync(cwd)).toEqual([]);
    expect(spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).stdout).toBe(
      tracked,
    );
  });

  it('--version and info print the version of package.json', async () => {
    const v = await captured('--version');
    expect(v).toEqual({ code: 0, stdout: `sizeseg ${pkg.version}\n` });
    const info = await captured('info', '--quiet');
    expect(JSON.parse(info.stdout).version).toBe(pkg.version);
  });

  it('the version is found from an installed package too (node_modules/sizeseg/dist/cli/)', async () => {
    const app = mkdtempSync(join(tmpdir(), 'sizeseg-installed-'));
    const installed = join(app, 'node_modules', 'sizeseg');
    mkdirSync(join(installed, 'dist', 'cli'), { recursive: true });
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0' }));
    writeFileSync(
      join(installed, 'package.json'),
      JSON.stringify({ name: 'sizeseg', version: '9.8.7', type: 'module' }),
    );
    copyFileSync('src/cli/version.ts', join(installed, 'dist', 'cli', 'version.ts'));
    const r = spawnSync(
      process.execPath,
      [
        '--import',
        tsx,
        '-e',
        `import(${JSON.stringify(pathToFileURL(join(installed, 'dist', 'cli', 'version.ts')).href)}).then((m) => console.log(m.sizesegVersion()))`,
      ],
      { cwd: app, encoding: 'utf8' },
    );
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('9.8.7');
  });
});
