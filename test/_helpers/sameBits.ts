/**
 * The same-bits check of the WebAssembly kernels (test/kernels/sameBits.test.ts, and the unshared-memory
 * test): the SHA-256 of ResUNet-lite's weights after two BCE steps and one size-loss step (batch 32, Adam).
 * It takes the library as a module namespace, so a test that loads a fresh copy of the library (another
 * memory mode) runs the same steps on it.
 */
import { createHash } from 'node:crypto';
import type * as Sizeseg from '../../src/index.js';

/**
 * Recorded at commit 2e8daa4 (before the one-dispatch redesign), 1 and 2 threads, with and without a step scope,
 * on the kernels of that time: direct convolutions, a multiplication and an addition per multiply-add.
 */
export const RECORDED_WEIGHTS_HASH = 'c176216ab43ba8ede7e8d53f73d27cf3a5a553adc9ac596498ad055d39ce2066';

/**
 * Three Adam steps of ResUNet-lite on 32 synthetic images; `scoped`: each step inside `withStepArena`.
 * `afterStep(s)` runs inside step s's scope, after the optimiser step (for checks of where tensors live).
 */
export function weightsHash(
  lib: typeof Sizeseg,
  scoped: boolean,
  afterStep?: (s: number, logits: Sizeseg.Tensor) => void,
): { hash: string; losses: number[] } {
  const { Adam, ResUNet, Rng, Tensor, bceWithLogits, generateSynthetic, makeBatch, sizeLoss, withStepArena } = lib;
  const B = 32;
  const ds = generateSynthetic({ count: B, seed: 11 });
  const batch = makeBatch(
    ds,
    Array.from({ length: B }, (_, i) => i),
  );
  const model = new ResUNet({ widths: [16, 32, 64, 128], rng: new Rng(0) });
  const opt = new Adam(model.parameters(), { lr: 1e-3 });
  const sampler = new Rng(1);
  const x = new Tensor(Float32Array.from(batch.images), [B, 1, 48, 32]);
  const target = new Tensor(Float32Array.from(batch.masks), [B, 1, 48, 32]);
  const losses: number[] = [];
  for (let s = 0; s < 3; s++) {
    const step = () => {
      opt.zeroGrad();
      const logits = model.forward(x);
      const loss =
        s < 2 ? bceWithLogits(logits, target) : sizeLoss(logits, batch.sizes, { rng: sampler, method: 'fast' });
      loss.backward();
      opt.step();
      afterStep?.(s, logits);
      return loss.item();
    };
    losses.push(scoped ? withStepArena(step) : step());
  }
  const h = createHash('sha256');
  for (const p of model.parameters()) h.update(new Uint8Array(Float32Array.from(p.values()).buffer));
  for (const [, b] of Object.entries(model.stateDict())) h.update(new Uint8Array(Float32Array.from(b.values()).buffer));
  return { hash: h.digest('hex'), losses };
}

/** The settings of the WebAssembly kernels that change their bits (src/kernels/wasm/index.ts of some module graph). */
export interface KernelBitsSettings {
  getConvAlgorithm(): Sizeseg.ConvAlgorithm;
  setConvAlgorithm(a: Sizeseg.ConvAlgorithm): void;
  getFusedMultiplyAdd(): Sizeseg.FusedMultiplyAddMode;
  setFusedMultiplyAdd(m: Sizeseg.FusedMultiplyAddMode): void;
}

/**
 * Runs `fn` on the kernels RECORDED_WEIGHTS_HASH was computed with (direct convolutions, no fused multiply-add)
 * and restores the settings after.
 */
export function onRecordedKernels<T>(settings: KernelBitsSettings, fn: () => T): T {
  const algorithm = settings.getConvAlgorithm();
  const fma = settings.getFusedMultiplyAdd();
  settings.setConvAlgorithm('direct');
  settings.setFusedMultiplyAdd('off');
  try {
    return fn();
  } finally {
    settings.setConvAlgorithm(algorithm);
    settings.setFusedMultiplyAdd(fma);
  }
}
