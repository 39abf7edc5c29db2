/**
 * The convolutions of ResUNet-lite (../shared/peers/SPEC.md, src/models/resunet.ts) as distinct shapes,
 * batch 32, with how many times each occurs in one forward pass. Shared by the conv and training benches
 * (GFLOP/s of the layers; FLOPs of a whole step), and the W1–W3 set-up of the training benches.
 */
import { Rng, Tensor } from '../src/index.js';
import { generateSynthetic, makeBatch, type Batch } from '../src/data/index.js';
import { ResUNet } from '../src/models/resunet.js';
import { Adam } from '../src/models/optim.js';

/** The workloads' set-up (../shared/peers/SPEC.md): 32 synthetic 48×32 images, ResUNet-lite, Adam. */
export function workloadSetup(): { batch: Batch; x: Tensor; target: Tensor; model: ResUNet; opt: Adam } {
  const B = 32,
    H = 48,
    W = 32;
  const ds = generateSynthetic({ count: B, seed: 0 });
  const batch = makeBatch(
    ds,
    Array.from({ length: B }, (_, i) => i),
  );
  const x = new Tensor(batch.images, [B, 1, H, W]);
  const target = new Tensor(Float32Array.from(batch.masks), [B, 1, H, W]);
  const model = new ResUNet({ rng: new Rng(0) });
  return { batch, x, target, model, opt: new Adam(model.parameters(), { lr: 1e-4 }) };
}

export interface ConvShape {
  /** a short label: channels, kernel, stride, input map */
  name: string;
  /** the layers of the model with this shape */
  uses: string;
  /** occurrences in one forward pass */
  count: number;
  N: number;
  C: number;
  H: number;
  W: number;
  O: number;
  k: number;
  s: number;
  p: number;
}

const N = 32;
const conv = (
  name: string,
  uses: string,
  count: number,
  C: number,
  O: number,
  H: number,
  W: number,
  k: number,
  s: number,
): ConvShape => ({
  name,
  uses,
  count,
  N,
  C,
  H,
  W,
  O,
  k,
  s,
  p: k === 3 ? 1 : 0,
});

/** Input maps are the layer's input (48×32, 24×16, 12×8, 6×4). */
export const RESUNET_CONVS: ConvShape[] = [
  conv('1→16 3×3 48×32', 'stem', 1, 1, 16, 48, 32, 3, 1),
  conv('16→16 3×3 48×32', 'E1 conv1, E1 conv2, D1 conv2', 3, 16, 16, 48, 32, 3, 1),
  conv('16→32 3×3 s2 48×32', 'E2 conv1', 1, 16, 32, 48, 32, 3, 2),
  conv('16→32 1×1 s2 48×32', 'E2 shortcut', 1, 16, 32, 48, 32, 1, 2),
  conv('32→32 3×3 24×16', 'E2 conv2, D2 conv2', 2, 32, 32, 24, 16, 3, 1),
  conv('32→64 3×3 s2 24×16', 'E3 conv1', 1, 32, 64, 24, 16, 3, 2),
  conv('32→64 1×1 s2 24×16', 'E3 shortcut', 1, 32, 64, 24, 16, 1, 2),
  conv('64→64 3×3 12×8', 'E3 conv2, D3 conv2', 2, 64, 64, 12, 8, 3, 1),
  conv('64→128 3×3 s2 12×8', 'E4 conv1', 1, 64, 128, 12, 8, 3, 2),
  conv('64→128 1×1 s2 12×8', 'E4 shortcut', 1, 64, 128, 12, 8, 1, 2),
  conv('128→128 3×3 6×4', 'E4 conv2', 1, 128, 128, 6, 4, 3, 1),
  conv('192→64 3×3 12×8', 'D3 conv1', 1, 192, 64, 12, 8, 3, 1),
  conv('96→32 3×3 24×16', 'D2 conv1', 1, 96, 32, 24, 16, 3, 1),
  conv('48→16 3×3 48×32', 'D1 conv1', 1, 48, 16, 48, 32, 3, 1),
  conv('16→1 1×1 48×32', 'head', 1, 16, 1, 48, 32, 1, 1),
];

export function outSize(c: ConvShape): { HO: number; WO: number } {
  return { HO: Math.floor((c.H + 2 * c.p - c.k) / c.s) + 1, WO: Math.floor((c.W + 2 * c.p - c.k) / c.s) + 1 };
}

/** Multiply-adds × 2 of one pass (forward, input gradient and weight gradient all cost the same). */
export function convFlops(c: ConvShape): number {
  const { HO, WO } = outSize(c);
  return 2 * c.N * c.O * HO * WO * c.C * c.k * c.k;
}

/**
 * Convolution FLOPs of one batch through ResUNet-lite: forward, and a training step (forward, input
 * gradient of every layer but the stem — the images need no gradient — and weight gradient). Other
 * operations (batch norm, ReLU, Adam) are not counted.
 */
export function resunetConvFlops(): { forward: number; trainStep: number } {
  let forward = 0;
  for (const c of RESUNET_CONVS) forward += c.count * convFlops(c);
  const stem = convFlops(RESUNET_CONVS[0]!);
  return { forward, trainStep: 3 * forward - stem };
}
