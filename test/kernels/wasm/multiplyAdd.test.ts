/**
 * The fused multiply-add mode of the WebAssembly kernels (src/kernels/wasm/multiplyAdd.ts): what SIZESEG_FMA and
 * setFusedMultiplyAdd accept, that the mode changes the generated code (the relaxed-SIMD opcode is in a kernel's
 * bytes exactly when it is on), and that switching it at run time switches the kernels a convolution runs — the
 * drivers cache compiled kernels per shape, and a cache that ignored the mode would keep running the first ones.
 * The fused kernels' accuracy against float64 references is in conv2d.test.ts and winograd.test.ts (every case in
 * both modes there, or in the default one).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { conv2dForwardWasm } from '../../../src/kernels/wasm/conv2d.js';
import {
  fusedMultiplyAddActive,
  getFusedMultiplyAdd,
  parseFusedMultiplyAdd,
  relaxedSimdAvailable,
  setFusedMultiplyAdd,
} from '../../../src/kernels/wasm/multiplyAdd.js';
import { buildPointwiseModule } from '../../../src/kernels/wasm/pointwise.js';
import { wasmSimdAvailable } from '../../../src/kernels/wasm/runtime.js';
import { setConvAlgorithm, getConvAlgorithm } from '../../../src/kernels/wasm/winogradConv.js';
import { skipNote } from '../../_helpers/skipNote.js';
import { randomF32, rng } from '../gpu/_reference.js';

const noRelaxedSimd = skipNote(
  'this JavaScript engine has no relaxed SIMD (fused multiply-adds)',
  'run it on Node 20 through the test setup (which turns the V8 flag on), Node 22 or later',
);

/** Whether `bytes` hold f32x4.relaxed_madd (0xFD, then 0x105 as LEB128: 0x85 0x02). */
function hasRelaxedMadd(bytes: Uint8Array): boolean {
  for (let i = 0; i + 2 < bytes.length; i++)
    if (bytes[i] === 0xfd && bytes[i + 1] === 0x85 && bytes[i + 2] === 0x02) return true;
  return false;
}

const saved = getFusedMultiplyAdd();
afterEach(() => setFusedMultiplyAdd(saved));

describe('the fused multiply-add mode', () => {
  it('reads SIZESEG_FMA: auto, on, off; auto when unset or empty; a clear error otherwise', () => {
    expect(parseFusedMultiplyAdd(undefined)).toBe('auto');
    expect(parseFusedMultiplyAdd(' ')).toBe('auto');
    expect(parseFusedMultiplyAdd('on')).toBe('on');
    expect(parseFusedMultiplyAdd(' off ')).toBe('off');
    expect(() => parseFusedMultiplyAdd('yes')).toThrow(/SIZESEG_FMA=yes: expected one of auto, on, off/);
    expect(() => setFusedMultiplyAdd('fast' as 'on')).toThrow(
      /setFusedMultiplyAdd: expected one of auto, on, off, got fast/,
    );
  });

  it("'off' generates no relaxed-SIMD instruction; 'auto' is on exactly where the engine has relaxed SIMD", () => {
    const spec = { C: 8, O: 8, P: 16, bias: false, relu: false };
    setFusedMultiplyAdd('off');
    expect(fusedMultiplyAddActive()).toBe(false);
    expect(hasRelaxedMadd(buildPointwiseModule(spec).bytes())).toBe(false);
    setFusedMultiplyAdd('auto');
    expect(fusedMultiplyAddActive()).toBe(relaxedSimdAvailable());
    expect(hasRelaxedMadd(buildPointwiseModule(spec).bytes())).toBe(relaxedSimdAvailable());
  });

  it.runIf(relaxedSimdAvailable() && wasmSimdAvailable())(
    "'on' generates fused multiply-adds, and switching the mode switches the kernels a convolution runs",
    noRelaxedSimd,
    () => {
      setFusedMultiplyAdd('on');
      expect(hasRelaxedMadd(buildPointwiseModule({ C: 8, O: 8, P: 16, bias: false, relu: false }).bytes())).toBe(true);
      const algorithm = getConvAlgorithm();
      setConvAlgorithm('direct');
      try {
        const r = rng(5);
        const xs = [2, 24, 10, 12] as const,
          ws = [16, 24, 3, 3] as const;
        const x = randomF32(2 * 24 * 10 * 12, r),
          w = randomF32(16 * 24 * 9, r);
        const run = () => conv2dForwardWasm(x, [...xs], w, [...ws], null, { stride: 1, padding: 1 }).out;
        setFusedMultiplyAdd('off');
        const separate1 = run();
        setFusedMultiplyAdd('on');
        const fused = run();
        setFusedMultiplyAdd('off');
        const separate2 = run();
        // each mode gives its own bits, again and again: the plan cache keys carry the mode
        expect(separate2).toEqual(separate1);
        let differ = 0;
        for (let i = 0; i < fused.length; i++) if (!Object.is(fused[i], separate1[i])) differ++;
        expect(differ).toBeGreaterThan(0);
      } finally {
        setConvAlgorithm(algorithm);
      }
    },
  );
});
