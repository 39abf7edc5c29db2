/**
 * The kernel profiler (profileKernels in src/kernels/registry.ts): per-name calls and time of the
 * kernels run through runKernel, outermost calls only, checked with kernels whose cost is known.
 */
import { describe, expect, it } from 'vitest';
import { Tensor } from '../../src/autograd/tensor.js';
import { profileKernels, registerKernel, runKernel } from '../../src/kernels/registry.js';

function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

registerKernel({ kernelName: 'ProfileTestInner', backendName: 'cpu', kernelFunc: (inputs) => { busy(2); return [inputs[0]!]; } });
registerKernel({
  kernelName: 'ProfileTestOuter', backendName: 'cpu',
  kernelFunc: (inputs) => { busy(3); return runKernel('ProfileTestInner', inputs); },
});

describe('profileKernels', () => {
  const x = new Tensor(new Float32Array([1, 2]), [2]);

  it('times each kernel name, counting a kernel that runs another once, as the outer one', () => {
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
    const { kernels } = profileKernels(() => {
      expect(() => profileKernels(() => 0)).toThrow(/already running/);
      return 0;
    });
    expect(kernels.size).toBe(0);
    expect(() => profileKernels(() => { throw new Error('boom'); })).toThrow('boom');
    const after = profileKernels(() => runKernel('ProfileTestInner', [x]));
    expect(after.kernels.get('ProfileTestInner')!.calls).toBe(1);
  });
});
