/**
 * The engine's dispatch (src/kernels/engine.ts): the kernel backend of the inputs' device runs the call,
 * down its fallback chain where it lacks the kernel, the dtype, or declines the call; and the kernel
 * profiler (per-name calls and time, outermost calls only), checked with kernels whose cost is known.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Tensor } from '../../src/autograd/tensor.js';
import { runKernel } from '../../src/autograd/kernel.js';
import {
  cpuKernels,
  hasKernel,
  profileKernels,
  registerKernelBackend,
  runKernel as runEngineKernel,
  setHostBackend,
} from '../../src/kernels/engine.js';
import { registerKernel } from '../../src/kernels/registry.js';
import { host, type KernelInput } from '../../src/kernels/types.js';
import '../../src/kernels/wasm/index.js';

function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

const same = (inputs: readonly KernelInput[]) => [host(inputs[0]!.values(), inputs[0]!.shape)];
registerKernel({
  kernelName: 'ProfileTestInner',
  backendName: 'js',
  kernelFunc: (inputs) => {
    busy(2);
    return same(inputs);
  },
});
registerKernel({
  kernelName: 'ProfileTestOuter',
  backendName: 'js',
  kernelFunc: (inputs) => {
    busy(3);
    return runEngineKernel('ProfileTestInner', inputs);
  },
});

// two test backends on host memory: 'front' (float32 only) falls back to 'back'; neither is ever the default (priority)
const base = { device: 'cpu', priority: -1, unavailableReason: () => null, info: () => ({}) };
registerKernelBackend({ ...base, name: 'front', dtypes: ['float32'], fallback: 'back' });
registerKernelBackend({ ...base, name: 'back', dtypes: ['float32', 'float64'], fallback: null });
const tag = (name: string) => () => [host(new Float32Array([name === 'front' ? 1 : 2]), [1])];
registerKernel({ kernelName: 'OnBoth', backendName: 'front', kernelFunc: tag('front') });
registerKernel({ kernelName: 'OnBoth', backendName: 'back', kernelFunc: tag('back') });
registerKernel({ kernelName: 'OnBackOnly', backendName: 'back', kernelFunc: tag('back') });
registerKernel({
  kernelName: 'Picky',
  backendName: 'front',
  kernelFunc: tag('front'),
  accepts: (inputs) => inputs[0]!.shape[0]! >= 3,
});
registerKernel({ kernelName: 'Picky', backendName: 'back', kernelFunc: tag('back') });
registerKernel({ kernelName: 'OnFrontOnly', backendName: 'front', kernelFunc: tag('front') });

const which = (name: string, t: Tensor) => (runKernel(name, [t])[0]!.item() === 1 ? 'front' : 'back');

describe('dispatch through the engine', () => {
  const saved = cpuKernels();
  afterEach(() => setHostBackend(saved));

  it("runs the chosen backend's kernel, and its fallback's where it has none, lacks the dtype, or declines", () => {
    setHostBackend('front');
    const small = new Tensor(new Float32Array(2), [2]);
    const large = new Tensor(new Float32Array(4), [4]);
    expect(which('OnBoth', small)).toBe('front');
    expect(which('OnBackOnly', small)).toBe('back');
    expect(which('Picky', small)).toBe('back'); // declined: too small
    expect(which('Picky', large)).toBe('front');
    expect(which('OnBoth', new Tensor(new Float64Array(2), [2]))).toBe('back'); // float64 is not front's
    expect(hasKernel('OnFrontOnly', [small])).toBe(true);
    setHostBackend('back');
    expect(which('OnBoth', small)).toBe('back'); // the fallback chain only goes down
    expect(hasKernel('OnFrontOnly', [small])).toBe(false);
    expect(() => runKernel('OnFrontOnly', [small])).toThrow(/no kernel for host kernels 'back'.*registered on: front/);
  });

  it('the real backends: wasm falls back to js for float64 and for what it declines', () => {
    setHostBackend('js');
    expect(cpuKernels()).toBe('js');
    expect(() => setHostBackend('nonsense')).toThrow(/not a kernel backend for host tensors/);
  });
});

describe('profileKernels', () => {
  const x = new Tensor(new Float32Array([1, 2]), [2]);
  const saved = cpuKernels();
  afterEach(() => setHostBackend(saved));

  it('times each kernel name, counting a kernel that runs another once, as the outer one', () => {
    setHostBackend('js');
    const { result, kernels } = profileKernels(() => {
      runKernel('ProfileTestOuter', [x]);
      runKernel('ProfileTestOuter', [x]);
      runKernel('ProfileTestInner', [x]);
      return 7;
    });
    expect(result).toBe(7);
    expect(kernels.get('ProfileTestOuter')!.calls).toBe(2);
    expect(kernels.get('ProfileTestOuter')!.ms).toBeGreaterThanOrEqual(2 * 5); // 3 ms of its own + 2 of the inner one, twice
    expect(kernels.get('ProfileTestInner')!.calls).toBe(1); // the two inner calls inside Outer are Outer's time
    expect(kernels.get('ProfileTestInner')!.ms).toBeGreaterThanOrEqual(2);
  });

  it('records nothing outside a profile, refuses to nest, and ends a profile when fn throws', () => {
    setHostBackend('js');
    const { kernels } = profileKernels(() => {
      expect(() => profileKernels(() => 0)).toThrow(/already running/);
      return 0;
    });
    expect(kernels.size).toBe(0);
    expect(() =>
      profileKernels(() => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    const after = profileKernels(() => runKernel('ProfileTestInner', [x]));
    expect(after.kernels.get('ProfileTestInner')!.calls).toBe(1);
  });
});
