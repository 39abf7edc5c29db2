/**
 * The WebAssembly emitter: encodings against values from the specification, every generated module
 * accepted by the engine's validator, and a tiny function run end to end.
 */
import { describe, expect, it } from 'vitest';
import { ModuleBuilder, f32x4, i32, sleb, uleb, v128 } from '../../../src/kernels/wasm/emitter.js';
import { buildGatherModule, type GatherSpec } from '../../../src/kernels/wasm/gatherConv.js';
import { buildWeightGradModule } from '../../../src/kernels/wasm/weightGrad.js';
import { buildPadModule, buildTransposeModule } from '../../../src/kernels/wasm/layout.js';
import { wasmSimdAvailable } from '../../../src/kernels/wasm/runtime.js';
import { skipNote } from '../../_helpers/skipNote.js';

const noSimd = skipNote('this JavaScript engine has no WebAssembly SIMD', 'run it on Node 20 or later');

const bytesOf = (enc: (out: number[], v: number) => void, v: number) => {
  const out: number[] = [];
  enc(out, v);
  return out;
};

describe('LEB128 (values from the WebAssembly binary-format examples)', () => {
  it('unsigned', () => {
    expect(bytesOf(uleb, 0)).toEqual([0x00]);
    expect(bytesOf(uleb, 127)).toEqual([0x7f]);
    expect(bytesOf(uleb, 128)).toEqual([0x80, 0x01]);
    expect(bytesOf(uleb, 624485)).toEqual([0xe5, 0x8e, 0x26]);
    expect(() => uleb([], -1)).toThrow();
  });
  it('signed', () => {
    expect(bytesOf(sleb, 0)).toEqual([0x00]);
    expect(bytesOf(sleb, -1)).toEqual([0x7f]);
    expect(bytesOf(sleb, 63)).toEqual([0x3f]);
    expect(bytesOf(sleb, 64)).toEqual([0xc0, 0x00]);
    expect(bytesOf(sleb, -123456)).toEqual([0xc0, 0xbb, 0x78]);
  });
});

describe.runIf(wasmSimdAvailable())('generated modules', noSimd, () => {
  it('every kernel kind passes WebAssembly.validate', () => {
    const spec: GatherSpec = {
      C: 3,
      srcChanStride: 30,
      srcImageStride: 90,
      O: 19,
      outChanStride: 12,
      outImageStride: 228,
      bias: true,
      passes: [
        {
          rows: 3,
          cols: 4,
          srcOrigin: 0,
          srcRowStride: 6,
          srcColStride: 1,
          taps: [0, 1, 7],
          outOrigin: 0,
          outRowStride: 4,
          outColStride: 1,
          weightOffset: 0,
        },
        {
          rows: 2,
          cols: 3,
          srcOrigin: 7,
          srcRowStride: 6,
          srcColStride: 1,
          taps: [],
          outOrigin: 1,
          outRowStride: 8,
          outColStride: 2,
          weightOffset: 0,
        },
      ],
    };
    const modules = [
      buildGatherModule(spec),
      buildWeightGradModule({ N: 2, C: 5, O: 9, Hp: 6, Wp: 5, HO: 4, WO: 3, s: 1, taps: [0, 1, 5, 6], CB: 3 }),
      buildPadModule({ planesPerItem: 2, H: 3, W: 70, Hp: 5, Wp: 72, top: 1, left: 1 }),
      buildTransposeModule({ O: 3, P: 10, Opad: 8 }),
    ];
    for (const m of modules) expect(WebAssembly.validate(m.bytes())).toBe(true);
  });

  it('runs a small SIMD function: out[i..i+3] = a[i..i+3] · s + b', () => {
    const mem = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    const m = new ModuleBuilder({ module: 'env', name: 'memory', initial: 1, maximum: 1, shared: true });
    m.function(
      'axpy4',
      [
        ['a', 'i32'],
        ['b', 'i32'],
        ['out', 'i32'],
        ['n', 'i32'],
      ],
      (f, a, b, out, n) => {
        const i = f.local('i32', 'i');
        const s = f.local('v128', 's');
        f.set(s, v128.load32_splat(i32.const(0)));
        f.forRange(i, 0, n!, 16, () => {
          f.do(
            v128.store(i32.add(out!, i), f32x4.add(f32x4.mul(v128.load(i32.add(a!, i)), s), v128.load(i32.add(b!, i)))),
          );
        });
      },
    );
    const inst = new WebAssembly.Instance(new WebAssembly.Module(m.bytes()), { env: { memory: mem } });
    const h = new Float32Array(mem.buffer);
    h[0] = 2.5;
    for (let k = 0; k < 8; k++) {
      h[16 + k] = k;
      h[32 + k] = 100 * k;
    }
    (inst.exports.axpy4 as (a: number, b: number, o: number, n: number) => void)(64, 128, 192, 32);
    expect([...h.subarray(48, 56)]).toEqual([0, 102.5, 205, 307.5, 410, 512.5, 615, 717.5]);
  });

  it('refuses ill-typed expressions when the kernel is generated', () => {
    const m = new ModuleBuilder({ module: 'env', name: 'memory', initial: 1, maximum: 1, shared: true });
    expect(() =>
      m.function('bad', [['p', 'i32']], (f, p) => {
        const v = f.local('v128');
        f.set(v, f32x4.add(p!, p!));
      }),
    ).toThrow(/f32x4.add: operand of type i32, expected v128/);
  });
});
