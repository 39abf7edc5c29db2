/** Nearest-neighbour ×2 upsampling (NCHW); its backward sums each 2×2 block of the gradient. */
import { record } from '../engine.js';
import { formatShape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { runKernel } from '../kernel.js';

export function upsampleNearest2x(x: Tensor): Tensor {
  if (x.rank !== 4) throw new Error(`upsampleNearest2x: x must be NCHW (rank 4), got ${formatShape(x.shape)}.`);
  const [out] = runKernel('UpsampleNearest2x', [x]) as [Tensor];
  return record(out, 'upsampleNearest2x', [x], (g) => [runKernel('UpsampleNearest2xBackward', [g])[0] as Tensor]);
}
