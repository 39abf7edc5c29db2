/** Nearest-neighbour ×2 upsampling (NCHW); its backward sums each 2×2 block of the gradient. */
import { record } from '../engine.js';
import { formatShape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { hasKernel, runKernel } from '../kernel.js';
import { concat } from './shape.js';

export function upsampleNearest2x(x: Tensor): Tensor {
  if (x.rank !== 4) throw new Error(`upsampleNearest2x: x must be NCHW (rank 4), got ${formatShape(x.shape)}.`);
  const [out] = runKernel('UpsampleNearest2x', [x]) as [Tensor];
  return record(out, 'upsampleNearest2x', [x], (g) => [runKernel('UpsampleNearest2xBackward', [g])[0] as Tensor]);
}

/**
 * concat([upsampleNearest2x(deep), skip], 1) — a U-Net decoder's input — as one op where the backend has the
 * fused kernels ('UpsampleNearest2xConcat' and its backward): the upsampling is written straight into the
 * concatenation, and the backward reads the gradient once, with no upsampled tensor and no channel slices in
 * between. Elsewhere (and for shapes that do not fit) the composition of the two ops. Same values either way.
 */
export function upsampleConcat(deep: Tensor, skip: Tensor): Tensor {
  const fits =
    deep.rank === 4 &&
    skip.rank === 4 &&
    deep.dtype === skip.dtype &&
    skip.shape[0] === deep.shape[0] &&
    skip.shape[2] === 2 * (deep.shape[2] as number) &&
    skip.shape[3] === 2 * (deep.shape[3] as number);
  // a backend with 'UpsampleNearest2xConcat' has its backward too (src/kernels/kernelNames.ts)
  if (!fits || !hasKernel('UpsampleNearest2xConcat', [deep, skip])) return concat([upsampleNearest2x(deep), skip], 1);
  const [out] = runKernel('UpsampleNearest2xConcat', [deep, skip]) as [Tensor];
  const deepChannels = deep.shape[1] as number;
  return record(out, 'upsampleConcat', [deep, skip], (g) =>
    runKernel('UpsampleNearest2xConcatBackward', [g], { deepChannels }),
  );
}
