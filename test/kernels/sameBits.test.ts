/**
 * The WebAssembly kernels compute exactly what they computed before the one-dispatch redesign (issue 21):
 * the SHA-256 of ResUNet-lite's weights after two BCE steps and one size-loss step (batch 32, Adam) was
 * recorded on the code before the redesign started (commit 2e8daa4) and is kept here. Any change in what a
 * kernel computes, in the order it sums, or in how operands reach it changes the hash. Inside a step scope
 * and outside, on 1 and 2 threads: the same hash (the kernels split work by shape alone). The hash is that of
 * the kernels of that time, direct convolutions with separate multiplications and additions, so the test pins
 * them (onRecordedKernels); Winograd and fused multiply-adds give other bits, tested for thread independence
 * in sameBitsFast.test.ts.
 */
import * as sizeseg from '../../src/index.js';
import { describe, expect, it } from 'vitest';
import { getNumThreads, setNumThreads } from '../../src/index.js';
import { cpuKernels, setCpuKernels } from '../../src/kernels/engine.js';
import * as wasmKernels from '../../src/kernels/wasm/index.js';
import { onRecordedKernels, RECORDED_WEIGHTS_HASH, weightsHash } from '../_helpers/sameBits.js';
import { skipNote } from '../_helpers/skipNote.js';

describe.runIf(wasmKernels.wasmSimdAvailable())(
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
          onRecordedKernels(wasmKernels, () => {
            const plain = weightsHash(sizeseg, false);
            const scoped = weightsHash(sizeseg, true);
            expect(plain.losses[1]!).toBeLessThan(plain.losses[0]!); // the BCE steps trained
            expect(plain.losses.every(Number.isFinite)).toBe(true);
            expect(scoped.losses).toEqual(plain.losses);
            expect(scoped.hash).toBe(plain.hash);
            expect(plain.hash).toBe(RECORDED_WEIGHTS_HASH);
          });
        } finally {
          setNumThreads(savedThreads);
          setCpuKernels(savedKernels);
        }
      });
    }
  },
);
