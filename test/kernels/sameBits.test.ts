/**
 * The WebAssembly kernels compute exactly what they computed before the one-dispatch redesign (issue 21):
 * the SHA-256 of ResUNet-lite's weights after two BCE steps and one size-loss step (batch 32, Adam) was
 * recorded on the code before the redesign started (commit 2e8daa4) and is kept here. Any change in what a
 * kernel computes, in the order it sums, or in how operands reach it changes the hash. Inside a step scope
 * and outside, on 1 and 2 threads: the same hash (the kernels split work by shape alone).
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
import { wasmSimdAvailable } from '../../src/kernels/wasm/index.js';
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

/** Recorded at commit 2e8daa4 (before the redesign), 1 and 2 threads, with and without a step arena. */
const RECORDED = 'c176216ab43ba8ede7e8d53f73d27cf3a5a553adc9ac596498ad055d39ce2066';

describe.runIf(wasmSimdAvailable())(
  'the WebAssembly kernels keep their bits',
  skipNote('this JavaScript engine has no WebAssembly SIMD', 'run it on Node 20 or later'),
  () => {
    for (const threads of [1, 2]) {
      it(`ResUNet-lite after 2 BCE + 1 size-loss Adam steps, ${threads} thread(s), in and outside a step scope`, () => {
        const savedThreads = getNumThreads();
        const savedKernels = cpuKernels();
        setCpuKernels('wasm');
        setNumThreads(threads);
        try {
          const plain = weightsHash(false);
          const scoped = weightsHash(true);
          expect(plain.losses[1]!).toBeLessThan(plain.losses[0]!); // the BCE steps trained
          expect(plain.losses.every(Number.isFinite)).toBe(true);
          expect(scoped.losses).toEqual(plain.losses);
          expect(scoped.hash).toBe(plain.hash);
          expect(plain.hash).toBe(RECORDED);
        } finally {
          setNumThreads(savedThreads);
          setCpuKernels(savedKernels);
        }
      });
    }
  },
);
