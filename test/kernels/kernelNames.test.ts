/** The kernel table (src/kernels/kernelNames.ts) is the contract: every registered kernel is in it, and 'js' has every required one. */
import { describe, expect, it } from 'vitest';
import { KERNELS } from '../../src/kernels/kernelNames.js';
import { listKernels } from '../../src/kernels/registry.js';
import { registerGpuKernels } from '../../src/kernels/gpu/register.js';
import '../../src/kernels/wasm/index.js';

describe('the kernel table', () => {
  registerGpuKernels();
  it('names every kernel a backend registers', () => {
    for (const backend of ['js', 'wasm', 'gpu']) {
      const unknown = listKernels(backend)
        .map((k) => k.kernelName)
        .filter((n) => !n.startsWith('ProfileTest') && !(n in KERNELS));
      expect(unknown, backend).toEqual([]);
    }
  });
  it("has every kernel that is neither fused nor device-only on 'js', the reference every backend can fall back to", () => {
    const js = new Set(listKernels('js').map((k) => k.kernelName));
    const required = Object.entries(KERNELS)
      .filter(([, s]) => !s.fused && !s.deviceOnly)
      .map(([n]) => n);
    expect(required.filter((n) => !js.has(n))).toEqual([]);
  });
});
