/** The `sizeseg` command line, run as a user would: a real process, real files, exit codes, one-line errors. */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCheckpoint } from '../../src/train/checkpoint.js';
import { expectSameRun } from '../_helpers/runFolder.js';

const out = mkdtempSync(join(tmpdir(), 'sizeseg-cli-'));
function sizesegEnv(env: Record<string, string>, ...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    encoding: 'utf8',
    env: { ...process.env, SIZESEG_THREADS: '1', ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const sizeseg = (...args: string[]) => sizesegEnv({}, ...args);
/** The data, for every command (a command takes only its own flags: evaluate writes no run folder). */
const tinyData = ['--data', 'synthetic', '--count', '120', '--quiet'];
/** For pretrain (sizetrain's network comes from its checkpoint). */
const tiny = [...tinyData, '--out', out, '--widths', '2,4', '--batch', '8'];

describe('sizeseg CLI', () => {
  it('bad arguments: one line naming the problem and the fix, exit code 2', () => {
    for (const [args, pattern] of [
      [['pretrain', '--m', 'lots'], /--m must be an integer ≥ 1, got 'lots'/],
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['pretrain', '--bogus'], /Unknown option '--bogus'.*--help/],
      [['sizetrain', '--data', 'synthetic'], /--checkpoint is required here/],
      [['sizetrain', '--estimator', 'slow', '--checkpoint', 'x'], /--estimator must be one of fast, naive, got 'slow'/],
      [
        ['evaluate', '--lr', '0.1', '--checkpoint', 'x'],
        /--lr is not an option of 'evaluate'; its options: --checkpoint, .*sizeseg evaluate --help/,
      ],
    ] as const) {
      const r = sizeseg(...args);
      expect(r.code === 2 || r.code === 1).toBe(true);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(pattern);
    }
  });

  it('missing data and missing checkpoints are clear errors (exit 1)', () => {
    const r = sizeseg('pretrain', '--data', 'prepared:/nonexistent/folder', '--quiet');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^sizeseg: error: .*\/nonexistent\/folder/);
    const c = sizeseg('evaluate', '--checkpoint', join(out, 'nope.ckpt'), '--quiet');
    expect(c.code).toBe(1);
    expect(c.stderr).toMatch(/does not exist/);
  });

  it('pretrain → sizetrain → evaluate → predict on tiny synthetic data writes a complete run folder', () => {
    const pre = sizeseg('pretrain', ...tiny, '--m', '8', '--epochs', '2', '--name', 'pre');
    expect(pre.stderr).toBe('');
    expect(pre.code).toBe(0);
    for (const f of [
      'config.json',
      'metrics.jsonl',
      'best.ckpt',
      'predictions.png',
      'pretrain-loss.svg',
      'pretrain-val.svg',
    ]) {
      expect(existsSync(join(out, 'pre', f))).toBe(true);
    }
    const lines = readFileSync(join(out, 'pre', 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ phase: 'pretrain', epoch: 1 });
    const ckpt = join(out, 'pre', 'best.ckpt');
    const size = sizeseg(
      'sizetrain',
      ...tinyData,
      '--out',
      out,
      '--batch',
      '8',
      '--checkpoint',
      ckpt,
      '--epochs',
      '1',
      '--name',
      'size',
    );
    expect(size.code).toBe(0);
    expect(existsSync(join(out, 'size', 'best.ckpt'))).toBe(true);
    const ev = sizeseg('evaluate', ...tinyData, '--checkpoint', join(out, 'size', 'best.ckpt'));
    expect(ev.code).toBe(0);
    const metrics = JSON.parse(ev.stdout);
    expect(metrics.split).toBe('test');
    expect(metrics.iou).toBeGreaterThanOrEqual(0);
    expect(metrics.iou).toBeLessThanOrEqual(1);
    const pr = sizeseg('predict', ...tinyData, '--out', out, '--checkpoint', ckpt, '--images', '4', '--name', 'pred');
    expect(pr.code).toBe(0);
    expect(existsSync(join(out, 'pred', 'predictions.png'))).toBe(true);
  });

  it('pretrain --resume continues an interrupted run to the same weights as an uninterrupted one', () => {
    const straight = sizeseg(
      'pretrain',
      ...tiny,
      '--m',
      '8',
      '--epochs',
      '3',
      '--patience',
      '10',
      '--name',
      'straight',
    );
    expect(straight.code).toBe(0);
    const cut = sizeseg('pretrain', ...tiny, '--m', '8', '--epochs', '1', '--patience', '10', '--name', 'cut');
    expect(cut.code).toBe(0);
    const changed = sizeseg('pretrain', '--resume', join(out, 'cut'), '--m', '9');
    expect(changed.code).toBe(2);
    expect(changed.stderr).toMatch(/--m cannot change when resuming.*only --epochs and --patience/);
    expect(sizeseg('sizetrain', '--resume', join(out, 'cut')).stderr).toMatch(
      /holds a 'pretrain' run; resume it with 'sizeseg pretrain --resume/,
    );
    const resumed = sizeseg('pretrain', '--resume', join(out, 'cut'), '--epochs', '3', '--quiet');
    expect(resumed.stderr).toBe('');
    expect(resumed.code).toBe(0);
    expectSameRun(join(out, 'cut'), join(out, 'straight'));
    expect(JSON.parse(readFileSync(join(out, 'cut', 'config.json'), 'utf8')).epochs).toBe(3);
  });

  it('--backend gpu trains the same model code on the device (GPU.js CPU-mode emulation here: no GPU)', () => {
    const run = (backend: string, name: string) =>
      sizesegEnv(
        { SIZESEG_GPU_EMULATION: '1' },
        'pretrain',
        ...tiny,
        '--m',
        '8',
        '--epochs',
        '2',
        '--patience',
        '5',
        '--backend',
        backend,
        '--name',
        name,
      );
    const gpu = run('gpu', 'on-gpu');
    expect(gpu.stderr).toBe('');
    expect(gpu.code).toBe(0);
    expect(run('cpu', 'on-cpu').code).toBe(0);
    const losses = (name: string) =>
      readFileSync(join(out, name, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).trainLoss as number);
    const [g, c] = [losses('on-gpu'), losses('on-cpu')];
    expect(g).toHaveLength(2);
    // float32 kernels with different summation orders: agreement to 1e-4 relative (measured ≈ 1e-6)
    g.forEach((v, i) => expect(Math.abs(v - c[i]!) / Math.abs(c[i]!)).toBeLessThan(1e-4));
    const ev = sizesegEnv(
      { SIZESEG_GPU_EMULATION: '1' },
      'evaluate',
      ...tinyData,
      '--backend',
      'gpu',
      '--checkpoint',
      join(out, 'on-gpu', 'best.ckpt'),
    );
    expect(ev.code).toBe(0);
    const evCpu = sizeseg('evaluate', ...tinyData, '--checkpoint', join(out, 'on-gpu', 'best.ckpt'));
    expect(JSON.parse(ev.stdout).sizeError).toBeCloseTo(JSON.parse(evCpu.stdout).sizeError, 6);
  });

  it('Ctrl-C stops after the current step with intact checkpoints, exits 130, and --resume continues the run', async () => {
    const args = [
      '--import',
      'tsx',
      'src/cli/main.ts',
      'pretrain',
      ...tiny.filter((a) => a !== '--quiet'),
      '--m',
      '8',
      '--epochs',
      '200',
      '--patience',
      '200',
      '--name',
      'ctrl-c',
    ];
    const child = spawn(process.execPath, args, { env: { ...process.env, SIZESEG_THREADS: '1' } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    const metrics = join(out, 'ctrl-c', 'metrics.jsonl');
    // wait (at most 60 s) for the first completed epoch, then interrupt
    for (let t = 0; t < 600 && !(existsSync(metrics) && readFileSync(metrics, 'utf8').includes('"epoch"')); t++)
      await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGINT');
    expect(await exited).toBe(130); // interrupted, not finished: a script can tell
    expect(stderr).toMatch(
      /stopped by Ctrl-C during epoch \d+: last\.ckpt holds epoch \d+ and best\.ckpt the best epoch so far \(\d+\)\. Continue with: sizeseg pretrain --resume/,
    );
    const done = readFileSync(metrics, 'utf8').trim().split('\n').length;
    expect(done).toBeGreaterThanOrEqual(1);
    expect(done).toBeLessThan(200);
    expect(readCheckpoint(join(out, 'ctrl-c', 'best.ckpt')).header.phase).toBe('pretrain');
    const resumed = sizeseg('pretrain', '--resume', join(out, 'ctrl-c'), '--epochs', String(done + 1), '--quiet');
    expect(resumed.stderr).toBe('');
    expect(resumed.code).toBe(0);
    expect(readFileSync(metrics, 'utf8').trim().split('\n')).toHaveLength(done + 1);
  });

  it('info reports the backend and the registered kernels', () => {
    const r = sizeseg('info');
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info.backend.backend).toBe('cpu');
    expect(info.kernels.wasm).toContain('Conv2D');
    expect(info.kernels.js).toContain('Conv2D'); // the reference the wasm kernels fall back to
  });
});
