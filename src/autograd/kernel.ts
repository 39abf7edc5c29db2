/**
 * How an op reaches a kernel: through the engine (src/kernels/engine.ts), and only through it. This file
 * turns tensors into the engine's kernel inputs (contiguous) and the kernels' results back into tensors.
 */
import { hasKernel as engineHasKernel, runKernel as engineRunKernel } from '../kernels/engine.js';
import type { KernelAttrs } from '../kernels/types.js';
import { Tensor } from './tensor.js';

/** Runs the named kernel on the inputs' device (see the engine for how the backend is chosen). */
export function runKernel(kernelName: string, inputs: readonly Tensor[], attrs: KernelAttrs = {}): Tensor[] {
  const outputs = engineRunKernel(
    kernelName,
    inputs.map((t) => t.contiguous()),
    attrs,
  );
  return outputs.map((o) => (o.device ? Tensor.onDevice(o.device, o.shape) : new Tensor(o.values!, o.shape)));
}

/** Whether a kernel of that name runs these inputs (fused kernels: the op composes smaller ones otherwise). */
export function hasKernel(kernelName: string, inputs: readonly Tensor[], attrs: KernelAttrs = {}): boolean {
  return engineHasKernel(kernelName, inputs, attrs);
}
