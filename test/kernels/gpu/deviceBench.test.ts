/**
 * The device script's training-step section (bench/gpu/deviceBench.ts), run in GPU.js's cpu mode
 * (`--emulate`) on a tiny ResUNet so that it takes seconds: the JSON it writes has the W1–W3 rows, the
 * first-step loss check against the cpu backend, and the flags are validated. WebGPU is never opened here.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main, parseBenchArgs } from '../../../bench/gpu/deviceBench.js';

const TINY = [
  '--emulate',
  '--sections',
  'train',
  '--train-widths',
  '2,4',
  '--train-batch',
  '2',
  '--train-size',
  '16x16',
];

describe('deviceBench training section (GPU.js cpu mode, tiny model)', () => {
  const out = mkdtempSync(join(tmpdir(), 'sizeseg-devbench-'));
  beforeAll(() => {
    // the script prints its JSON and progress lines; keep the test output readable
    vi.spyOn(console, 'log').mockImplementation(() => {});
    vi.spyOn(console, 'error').mockImplementation(() => {});
  });
  afterAll(() => {
    vi.restoreAllMocks();
    rmSync(out, { recursive: true, force: true });
  });

  it('times W1, W2, W3 and checks the first loss against the cpu backend', async () => {
    const report = await main([...TINY, '--train-reps', '2', '--out', out]);
    expect(report.errors).toEqual([]);
    const written = JSON.parse(readFileSync(join(out, 'gpu-bench.json'), 'utf8'));
    // the old fields are still there; the kernel section was not asked for
    for (const key of ['backend', 'initMs', 'checks', 'allChecksOk', 'benches', 'transfer', 'errors', 'totalMs'])
      expect(written).toHaveProperty(key);
    expect(written.benches).toEqual([]);
    expect(String(written.backend.mode)).toMatch(/gpujs-cpu/);

    const t = written.training;
    expect(t.config).toMatchObject({ widths: [2, 4], batch: 2, height: 16, width: 16, reps: 2 });
    expect(t.config.parameters).toBeGreaterThan(0);
    expect(t.lossCheck.tolerance).toBe(1e-4);
    expect(t.lossCheck.ok).toBe(true);
    expect(t.lossCheck.relError).toBeLessThanOrEqual(1e-4);
    expect(Number.isFinite(t.lossCheck.gpuLoss)).toBe(true);
    // the loss check is also one of the checks, so the exit status covers it
    expect(written.checks.map((c: { name: string }) => c.name)).toContain('W1 first-step loss, gpu vs cpu backend');
    expect(written.allChecksOk).toBe(true);

    expect(t.rows.map((r: { workload: string }) => r.workload)).toEqual(['W1', 'W2', 'W3']);
    for (const r of t.rows) {
      expect(r.firstStepMs).toBeGreaterThan(0);
      expect(r.reps).toBe(2);
      expect(r.stepsMs).toHaveLength(2);
      expect(r.msPerStep).toBeGreaterThan(0);
      expect(r.minMs).toBeLessThanOrEqual(r.msPerStep);
      expect(r.maxMs).toBeGreaterThanOrEqual(r.msPerStep);
      expect(r.imagesPerSec).toBeCloseTo((1000 * 2) / r.msPerStep, 6);
      // one read-back per step: the logits (toHost in training, data() in inference)
      expect(r.readsPerStep).toBe(1);
      expect(r.kernelCallsPerStep).toBeGreaterThan(0);
    }
    // a training step runs backward and Adam on the device as well: many more kernels than inference
    expect(t.rows[0].kernelCallsPerStep).toBeGreaterThan(2 * t.rows[2].kernelCallsPerStep);
    expect(t.compiledKernels).toBeGreaterThan(0);
    expect(t.budgetExhausted).toBe(false);
  }, 30_000);

  it('--train-reps 0 skips the section', async () => {
    const report = await main([...TINY, '--train-reps', '0']);
    expect(report.training).toBeNull();
    expect(report.errors).toEqual([]);
  }, 30_000);

  it('validates its flags before opening a device', () => {
    expect(parseBenchArgs([]).train).toEqual({
      reps: 10,
      widths: [16, 32, 64, 128],
      batch: 32,
      height: 48,
      width: 32,
      budgetS: 180,
    });
    expect(parseBenchArgs([]).sections).toEqual(new Set(['kernels', 'train']));
    expect(() => parseBenchArgs(['--sections', 'kernels,gemm'])).toThrow(/unknown section 'gemm'/);
    expect(() => parseBenchArgs(['--train-size', '48by32'])).toThrow(/--train-size must be HxW/);
    expect(() => parseBenchArgs(['--train-size', '8x8'])).toThrow(/≥ 16/);
    expect(() => parseBenchArgs(['--train-widths', '16,x'])).toThrow(/--train-widths/);
    expect(() => parseBenchArgs(['--train-batch', '1'])).toThrow(/--train-batch must be an integer ≥ 2/);
    expect(() => parseBenchArgs(['--train-reps', '-1'])).toThrow(/--train-reps/);
  });
});
