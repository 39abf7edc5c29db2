/**
 * The fast paths of the WebAssembly kernels — Winograd convolutions (src/kernels/wasm/winograd.ts,
 * winogradWeightGrad.ts, winograd4.ts, winograd4WeightGrad.ts) and fused multiply-adds (multiplyAdd.ts) — split
 * their work by shape alone, as every WebAssembly kernel does, so ResUNet-lite trained on them on 1 and on 2
 * threads ends with the same bits: the SHA-256 of its weights after two BCE steps and one size-loss step (batch 32,
 * Adam), one thread outside a step scope and two inside one. Their bits differ from the recorded kernels' (sameBits.test.ts), which shows they ran.
 * Cases: Winograd F(2×2, 3×3) everywhere it applies with separate multiply and add; the defaults ('auto': Winograd
 * where it pays — F(4×4, 3×3) for all three passes of every 3×3 stride-1 layer but the stem —, direct kernels
 * elsewhere) with fused multiply-adds, where the engine has relaxed SIMD. (test/kernels/wasm/winograd4.test.ts and
 * winograd4WeightGrad.test.ts check F(4×4) on 1 and 2 threads without relaxed SIMD too.)
 */
import * as sizeseg from '../../src/index.js';
import { describe, expect, it } from 'vitest';
import { getNumThreads, setNumThreads } from '../../src/index.js';
import { cpuKernels, setCpuKernels } from '../../src/kernels/engine.js';
import * as wasmKernels from '../../src/kernels/wasm/index.js';
import { RECORDED_WEIGHTS_HASH, weightsHash } from '../_helpers/sameBits.js';
import { skipNote } from '../_helpers/skipNote.js';

const noRelaxedSimd = skipNote(
  'this JavaScript engine has no relaxed SIMD (fused multiply-adds)',
  'run it on Node 20 through the test setup (which turns the V8 flag on), Node 22 or later',
);

const CASES = [
  { algorithm: 'winograd', fma: 'off', needsRelaxed: false },
  { algorithm: 'auto', fma: 'on', needsRelaxed: true },
] as const;

describe.runIf(wasmKernels.wasmSimdAvailable())(
  'the fast kernels give the same bits on any number of threads',
  skipNote('this JavaScript engine has no WebAssembly SIMD', 'run it on Node 20 or later'),
  () => {
    for (const c of CASES) {
      it.runIf(!c.needsRelaxed || wasmKernels.relaxedSimdAvailable())(
        `conv algorithm '${c.algorithm}', fused multiply-add '${c.fma}': ResUNet-lite after 2 BCE + 1 size-loss Adam steps, 1 thread outside a step scope, 2 inside`,
        noRelaxedSimd,
        () => {
          const savedThreads = getNumThreads();
          const savedKernels = cpuKernels();
          const savedAlgorithm = wasmKernels.getConvAlgorithm();
          const savedFma = wasmKernels.getFusedMultiplyAdd();
          setCpuKernels('wasm');
          try {
            wasmKernels.setConvAlgorithm(c.algorithm);
            wasmKernels.setFusedMultiplyAdd(c.fma);
            setNumThreads(1);
            const one = weightsHash(sizeseg, false);
            setNumThreads(2);
            const two = weightsHash(sizeseg, true);
            expect(one.losses[1]!).toBeLessThan(one.losses[0]!); // the BCE steps trained
            expect(one.losses.every(Number.isFinite)).toBe(true);
            expect(two.losses).toEqual(one.losses);
            expect(two.hash).toBe(one.hash);
            // and the fast path did run: the recorded kernels' bits are others
            expect(one.hash).not.toBe(RECORDED_WEIGHTS_HASH);
          } finally {
            setNumThreads(savedThreads);
            setCpuKernels(savedKernels);
            wasmKernels.setConvAlgorithm(savedAlgorithm);
            wasmKernels.setFusedMultiplyAdd(savedFma);
          }
        },
      );
    }
  },
);
