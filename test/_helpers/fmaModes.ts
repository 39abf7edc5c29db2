/**
 * Kernel tests that must hold with separate multiplications and additions and with fused multiply-adds
 * (src/kernels/wasm/multiplyAdd.ts): one describe block per mode, the mode set before its tests and restored after.
 * 'on' runs where the engine has relaxed SIMD, and otherwise says why it is skipped.
 */
import { afterAll, beforeAll, describe } from 'vitest';
import {
  getFusedMultiplyAdd,
  relaxedSimdAvailable,
  setFusedMultiplyAdd,
  type FusedMultiplyAddMode,
} from '../../src/kernels/wasm/multiplyAdd.js';
import { skipNote } from './skipNote.js';

const noRelaxedSimd = skipNote(
  'this JavaScript engine has no relaxed SIMD (fused multiply-adds)',
  'run it on Node 20 through the test setup (which turns the V8 flag on), Node 22 or later',
);

/** `body(mode)` inside describe blocks "fused multiply-add 'off'" and "… 'on'", each running in its mode. */
export function describeEachFmaMode(body: (fma: 'off' | 'on') => void): void {
  for (const fma of ['off', 'on'] as const) {
    describe.runIf(fma === 'off' || relaxedSimdAvailable())(`fused multiply-add '${fma}'`, noRelaxedSimd, () => {
      let saved: FusedMultiplyAddMode;
      beforeAll(() => {
        saved = getFusedMultiplyAdd();
        setFusedMultiplyAdd(fma);
      });
      afterAll(() => setFusedMultiplyAdd(saved));
      body(fma);
    });
  }
}
