/**
 * The Winograd convolutions (src/kernels/wasm/winograd.ts, winogradWeightGrad.ts) split their work by shape
 * alone, as every WebAssembly kernel does, so ResUNet-lite trained with them on 1 and on 2 threads ends with
 * the same bits: the SHA-256 of its weights after two BCE steps and one size-loss step (batch 32, Adam), one
 * thread outside a step scope and two inside one. (Their bits differ from the direct kernels', whose recorded
 * hash sameBits.test.ts keeps.)
 */
import * as sizeseg from '../../src/index.js';
import { describe, expect, it } from 'vitest';
import { getNumThreads, setNumThreads } from '../../src/index.js';
import { cpuKernels, setCpuKernels } from '../../src/kernels/engine.js';
import { getConvAlgorithm, setConvAlgorithm, wasmSimdAvailable } from '../../src/kernels/wasm/index.js';
import { RECORDED_WEIGHTS_HASH, weightsHash } from '../_helpers/sameBits.js';
import { skipNote } from '../_helpers/skipNote.js';

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
        const one = weightsHash(sizeseg, false);
        setNumThreads(2);
        const two = weightsHash(sizeseg, true);
        expect(one.losses[1]!).toBeLessThan(one.losses[0]!); // the BCE steps trained
        expect(one.losses.every(Number.isFinite)).toBe(true);
        expect(two.losses).toEqual(one.losses);
        expect(two.hash).toBe(one.hash);
        // and Winograd did run: the direct kernels' bits are others
        expect(one.hash).not.toBe(RECORDED_WEIGHTS_HASH);
      } finally {
        setNumThreads(savedThreads);
        setCpuKernels(savedKernels);
        setConvAlgorithm(savedAlgorithm);
      }
    });
  },
);
