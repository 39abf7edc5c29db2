/**
 * The experiments on the gpu backend (`npm run experiment -- NAME --backend gpu`), here in GPU.js's CPU mode
 * (SIZESEG_GPU_EMULATION=1: the same kernel sources as on a GPU, no GPU needed): the same runs as on 'cpu' give
 * the same numbers up to float32 rounding, and the JSON says which backend ran.
 *
 * Tolerance: the two backends compute in float32 with different summation orders (the trainer's BCE losses
 * agree to ≈ 1e-6 relative, test/cli). Size-phase losses must agree to 1e-4 relative; IoU and Dice to 1e-3
 * absolute (about one pixel flipped by a logit rounding to the other side of 0, objects of ~100 pixels in 16
 * test images); E to 1e-2 absolute, i.e. no predicted object size may change (one change moves E by ≥ 2/16).
 * Measured here: every metric and loss of these runs identical on both backends (differences 0).
 *
 * The cpu runs use separate multiplications and additions (setFusedMultiplyAdd('off')), as the GPU.js kernels
 * do: fused multiply-adds round once instead of twice, and the twelve pre-training epochs of the second test
 * amplify that rounding to whole pixels (measured, cpu against cpu: IoU 0.130 fused against 0.109 separate
 * before size training, E 27.5 against 31.75). The comparison is of the two backends' kernels, not of the
 * chaos of training, so it pins the rounding.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setBackend } from '../../src/backend.js';
import { EXPERIMENT_USAGE, experimentMain } from '../../src/cli/experiment.js';
import { Progress } from '../../src/cli/progress.js';
import { PRESETS, type Preset } from '../../src/experiments/common.js';
import { runFig7 } from '../../src/experiments/fig7.js';
import { registerGpuBackend } from '../../src/kernels/gpu/index.js';
import { getFusedMultiplyAdd, setFusedMultiplyAdd } from '../../src/kernels/wasm/index.js';

const out = mkdtempSync(join(tmpdir(), 'sizeseg-exp-backend-'));
const savedEmulation = process.env.SIZESEG_GPU_EMULATION;
const savedFma = getFusedMultiplyAdd();
beforeAll(async () => {
  // the CLI registers 'gpu' from the environment; the direct runFig7 calls need it registered and opened too
  process.env.SIZESEG_GPU_EMULATION = '1';
  registerGpuBackend();
  await setBackend('gpu');
  await setBackend('cpu');
  setFusedMultiplyAdd('off');
});
afterAll(() => {
  setFusedMultiplyAdd(savedFma);
  if (savedEmulation === undefined) delete process.env.SIZESEG_GPU_EMULATION;
  else process.env.SIZESEG_GPU_EMULATION = savedEmulation;
  rmSync(out, { recursive: true, force: true });
});

type Metrics = { iou: number; dice: number; E: number; count: number };
interface Run {
  before: Metrics;
  after: Metrics;
  pretrain: { epochs: number; val: Metrics };
  size: { epochs: number; val: { losses: Record<string, number> }[] };
}

function expectSameMetrics(gpu: Metrics, cpu: Metrics): void {
  expect(gpu.count).toBe(cpu.count);
  expect(Math.abs(gpu.iou - cpu.iou)).toBeLessThanOrEqual(1e-3);
  expect(Math.abs(gpu.dice - cpu.dice)).toBeLessThanOrEqual(1e-3);
  expect(Math.abs(gpu.E - cpu.E)).toBeLessThanOrEqual(1e-2);
}

function expectSameRuns(gpu: Run[], cpu: Run[]): void {
  expect(gpu).toHaveLength(cpu.length);
  gpu.forEach((g, i) => {
    const c = cpu[i]!;
    expectSameMetrics(g.before, c.before);
    expectSameMetrics(g.after, c.after);
    expectSameMetrics(g.pretrain.val, c.pretrain.val);
    expect(g.pretrain.epochs).toBe(c.pretrain.epochs);
    expect(g.size.epochs).toBe(c.size.epochs);
    g.size.val.forEach((e, k) => {
      const want = c.size.val[k]!.losses['loss']!;
      expect(Math.abs(e.losses['loss']! - want)).toBeLessThanOrEqual(1e-4 * Math.abs(want) + 1e-7);
    });
  });
}

describe('experiments on the gpu backend (GPU.js CPU-mode emulation)', () => {
  it('npm run experiment -- fig7 --preset smoke --backend gpu: the numbers of the cpu run, and the backend in the JSON', async () => {
    const run = async (backend: string) => {
      const dir = join(out, backend);
      expect(
        await experimentMain([
          'fig7',
          '--preset',
          'smoke',
          '--data',
          'synthetic',
          '--count',
          '150',
          '--out',
          dir,
          '--quiet',
          '--backend',
          backend,
        ]),
      ).toBe(0);
      return JSON.parse(readFileSync(join(dir, 'fig7-smoke', 'fig7.json'), 'utf8'));
    };
    const cpu = await run('cpu');
    const gpu = await run('gpu');
    expect(cpu.backend.name).toBe('cpu');
    expect(gpu.backend).toMatchObject({
      name: 'gpu',
      engine: expect.stringMatching(/gpu\.js/),
      mode: expect.stringMatching(/gpujs-cpu/),
    });
    expectSameRuns(gpu.runs, cpu.runs);
  }, 60_000);

  it('fig7 with a smoke model trained long enough to segment: the same before/after metrics on both backends', async () => {
    // the smoke preset's one epoch leaves the tiny network predicting background everywhere (IoU 0 on both backends);
    // twelve pre-training epochs give predictions whose agreement means something
    const preset: Preset = {
      ...PRESETS.smoke,
      pretrain: { ...PRESETS.smoke.pretrain, epochs: 12, patience: 20, lr: 1e-2, minImagesPerEpoch: 48 },
      fig7: { ms: [10], seeds: 1 },
    };
    const run = async (backend: string) => {
      const r = await runFig7({
        preset,
        dataSpec: 'synthetic',
        syntheticCount: 150,
        out: join(out, `long-${backend}`),
        progress: new Progress({ quiet: true }),
        backend,
      });
      return r.summary.runs as Run[];
    };
    const cpu = await run('cpu');
    const gpu = await run('gpu');
    // non-trivial predictions (measured: IoU 0.11 before, 0.12 after), so that equal metrics mean something
    expect(cpu[0]!.before.iou).toBeGreaterThan(0.05);
    expect(cpu[0]!.after.iou).toBeGreaterThan(0.05);
    expectSameRuns(gpu, cpu);
  }, 60_000);

  it('--backend is validated, with the default from SIZESEG_BACKEND', async () => {
    const errors: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => {
      errors.push(String(chunk));
      return true;
    }) as typeof process.stderr.write;
    const savedBackend = process.env.SIZESEG_BACKEND;
    expect(EXPERIMENT_USAGE).toMatch(/--backend cpu\|gpu/);
    try {
      expect(await experimentMain(['fig7', '--preset', 'smoke', '--backend', 'tpu'])).toBe(2);
      expect(errors.join('')).toMatch(/--backend must be cpu or gpu, got 'tpu'/);
      process.env.SIZESEG_BACKEND = 'tpu';
      expect(await experimentMain(['fig7', '--preset', 'smoke'])).toBe(2);
      expect(errors.join('')).toMatch(/SIZESEG_BACKEND='tpu' is not a backend/);
    } finally {
      process.stderr.write = write;
      if (savedBackend === undefined) delete process.env.SIZESEG_BACKEND;
      else process.env.SIZESEG_BACKEND = savedBackend;
    }
  });
});
