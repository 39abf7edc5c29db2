/**
 * WebGPU mode. On a machine without a GPU (CI, this dev box) selecting it must fail with a clear
 * message — never fall back silently to a software adapter (llvmpipe/lavapipe, SwiftShader).
 *
 * Optional: with SIZESEG_WEBGPU_SOFTWARE=1 and a Vulkan software driver configured (VK_DRIVER_FILES,
 * see docs/gpu.md), the kernel suite also runs through the real WGSL path on that software adapter,
 * which the backend accepts only with the explicit `allowSoftwareAdapter` opt-in.
 */
import { describe, expect, it } from 'vitest';
import { getBackend, setBackend } from '../../../src/backend.js';
import { createGpuBackend } from '../../../src/kernels/gpu/backend.js';
import { registerGpuBackend } from '../../../src/kernels/gpu/index.js';
import { type AdapterInfo, softwareAdapterReason } from '../../../src/kernels/gpu/webgpuDevice.js';
import { FIXED_CONV_CASES, gpuKernelSuite } from './_suite.js';
import { skipNote } from '../../_helpers/skipNote.js';

const SOFTWARE = process.env.SIZESEG_WEBGPU_SOFTWARE === '1';
const HAS_GPU = process.env.SIZESEG_EXPECT_GPU === '1';

const info = (o: Partial<AdapterInfo>): AdapterInfo => ({
  vendor: '',
  architecture: '',
  device: '',
  description: '',
  isFallbackAdapter: false,
  ...o,
});

describe('adapter vetting', () => {
  it('recognises software adapters', () => {
    expect(
      softwareAdapterReason(
        info({
          vendor: 'mesa',
          architecture: 'software',
          device: 'llvmpipe-llvm-15-0-6-256-bits-',
          description: 'llvmpipe: Mesa 25.0.7',
        }),
      ),
    ).toMatch(/software|llvmpipe/);
    expect(
      softwareAdapterReason(
        info({ vendor: 'google', device: 'SwiftShader Device (Subzero)', description: 'SwiftShader' }),
      ),
    ).toMatch(/swiftshader/i);
    expect(softwareAdapterReason(info({ description: 'Microsoft Basic Render Driver' }))).toMatch(/basic render/i);
    expect(softwareAdapterReason(info({ vendor: 'nvidia', isFallbackAdapter: true }))).toMatch(/fallback/);
  });

  it('accepts hardware adapters', () => {
    expect(
      softwareAdapterReason(
        info({ vendor: 'nvidia', architecture: 'hopper', device: 'NVIDIA H200', description: 'NVIDIA: 580.65' }),
      ),
    ).toBeNull();
    expect(
      softwareAdapterReason(info({ vendor: 'amd', architecture: 'rdna-3', description: 'AMD Radeon RX 7900 XTX' })),
    ).toBeNull();
  });
});

/** Resolve to the init error, or to 'timeout' / 'opened' (both failures of this test). */
async function initError(open: () => Promise<void>, ms: number): Promise<Error | string> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  const result = await Promise.race([
    open().then(
      () => 'opened',
      (e: unknown) => e as Error,
    ),
    timeout,
  ]);
  clearTimeout(timer);
  return result;
}

const CLEAR = /WebGPU found no adapter|refusing the WebGPU adapter|cannot load the 'webgpu' package|did not answer/;

describe.skipIf(HAS_GPU)(
  'webgpu mode without a hardware GPU',
  skipNote('SIZESEG_EXPECT_GPU=1 says this machine has a GPU', 'unset it'),
  () => {
    it('createGpuBackend({ mode: "webgpu" }).init() fails with a clear message', async () => {
      const backend = createGpuBackend({ mode: 'webgpu', adapterTimeoutMs: 20_000 });
      const err = await initError(() => backend.init(), 40_000);
      if (err === 'opened') await backend.destroy();
      expect(err).toBeInstanceOf(Error);
      const msg = (err as Error).message;
      expect(msg).toMatch(CLEAR);
      expect(msg).toMatch(/'cpu' backend/);
      if (SOFTWARE) expect(msg).toMatch(/refusing the WebGPU adapter '.*llvmpipe/);
      expect(backend.info().initialised).toBe(false);
    });

    it("setBackend('gpu') after registerGpuBackend() rejects the same way and keeps the current backend", async () => {
      registerGpuBackend();
      const before = getBackend();
      const err = await initError(() => setBackend('gpu').then(() => {}), 40_000);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(CLEAR);
      expect(getBackend()).toBe(before);
    });
  },
);

if (SOFTWARE) {
  gpuKernelSuite(
    'gpu kernels, webgpu mode on a software adapter (explicit opt-in)',
    async () => {
      const b = createGpuBackend({ mode: 'webgpu', allowSoftwareAdapter: true });
      await b.init();
      return b;
    },
    FIXED_CONV_CASES,
  );
}
