/**
 * The Winograd convolutions (src/kernels/wasm/winograd.ts) split their work by shape alone, as every
 * WebAssembly kernel does, so ResUNet-lite trained with them on 1 and on 2 threads ends with the same bits:
 * the SHA-256 of its weights after two BCE steps and one size-loss step (batch 32, Adam), inside a step scope
 * and outside. (Their bits differ from the direct kernels', whose recorded hash sameBits.test.ts keeps.)
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  Adam,
  ResUNet,
  Rng,
  Tensor,
  bceWithLogits,
  generateSynthetic,
  getNumThreads,
  makeBatch,
  setNumThreads,
  sizeLoss,
  withStepArena,
} from '../../src/index.js';
import { cpuKernels, setCpuKernels } from '../../src/kernels/engine.js';
import { getConvAlgorithm, setConvAlgorithm, wasmSimdAvailable } from '../../src/kernels/wasm/index.js';
import { skipNote } from '../_helpers/skipNote.js';

const B = 32;
const ds = generateSynthetic({ count: B, seed: 11 });
const batch = makeBatch(
  ds,
  Array.from({ length: B }, (_, i) => i),
);

function weightsHash(scoped: boolean): { hash: string; losses: number[] } {
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
      return loss.item();
    };
    losses.push(scoped ? withStepArena(step) : step());
  }
  const h = createHash('sha256');
  for (const p of model.parameters()) h.update(new Uint8Array(Float32Array.from(p.values()).buffer));
  for (const [, b] of Object.entries(model.stateDict())) h.update(new Uint8Array(Float32Array.from(b.values()).buffer));
  return { hash: h.digest('hex'), losses };
}

describe.runIf(wasmSimdAvailable())(
  'the Winograd convolutions give the same bits on any number of threads',
  skipNote('this JavaScript engine has no WebAssembly SIMD', 'run it on Node 20 or later'),
  () => {
    it('ResUNet-lite after 2 BCE + 1 size-loss Adam steps: 1 thread outside a step scope, 2 inside', () => {
      const savedThreads = getNumThreads();
      const savedKernels = cpuKernels();
      const savedAlgorithm = getConvAlgorithm();
      setCpuKernels('wasm');
      try {
        setConvAlgorithm('winograd');
        setNumThreads(1);
        const one = weightsHash(false);
        setNumThreads(2);
        const two = weightsHash(true);
        expect(one.losses[1]!).toBeLessThan(one.losses[0]!); // the BCE steps trained
        expect(one.losses.every(Number.isFinite)).toBe(true);
        expect(two.losses).toEqual(one.losses);
        expect(two.hash).toBe(one.hash);
        // and Winograd did run: the direct kernels end elsewhere
        setConvAlgorithm('direct');
        expect(weightsHash(false).hash).not.toBe(one.hash);
      } finally {
        setNumThreads(savedThreads);
        setCpuKernels(savedKernels);
        setConvAlgorithm(savedAlgorithm);
      }
    });
  },
);
