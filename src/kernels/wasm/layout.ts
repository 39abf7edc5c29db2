/**
 * Layout kernels: the copies that put operands where the compute kernels want them, at memory speed
 * (a JavaScript element loop over the shared memory measured ~10× slower than these).
 *
 * - pad:       planes [H][W] → [Hp][Wp] with the plane at (top, left) and zeros around it;
 * - transpose: dy[n][o][q] → dyT[n][q][o'] with o' padded to `Opad` lanes (zeros beyond O);
 * - unpack:    the weight gradient's lane-packed dwp[o/L][j][o%L] → dw[o][j] (j: channel and tap).
 */
import { type ModuleBuilder, f32, i32, v128, type Expr, type FunctionBuilder, type Local } from './emitter.js';
import { newKernelModule } from './runtime.js';


/** Copies `n` floats from src to dst (both byte pointers held in locals), unrolled when short. */
function emitCopy(f: FunctionBuilder, dst: Local, src: Local, n: number, i: Local): void {
  const vecs = n >> 2;
  if (vecs <= 16) {
    for (let k = 0; k < vecs; k++) f.do(v128.store(dst, v128.load(src, 16 * k), 16 * k));
  } else {
    f.forRange(i, 0, vecs * 16, 16, () => f.do(v128.store(i32.add(dst, i), v128.load(i32.add(src, i)))));
  }
  for (let k = vecs * 4; k < n; k++) f.do(f32.store(dst, f32.load(src, 4 * k), 4 * k));
}

/** Writes `n` zeros at dst + byteOffset. */
function emitZero(f: FunctionBuilder, dst: Expr & Local, byteOffset: number, n: number, i: Local): void {
  const vecs = n >> 2;
  if (vecs <= 16) {
    for (let k = 0; k < vecs; k++) f.do(v128.store(dst, v128.zero(), byteOffset + 16 * k));
  } else {
    f.forRange(i, 0, vecs * 16, 16, () => f.do(v128.store(i32.add(dst, i), v128.zero(), byteOffset)));
  }
  for (let k = vecs * 4; k < n; k++) f.do(f32.store(dst, f32.const(0), byteOffset + 4 * k));
}

export interface PadSpec {
  planesPerItem: number;
  H: number;
  W: number;
  Hp: number;
  Wp: number;
  top: number;
  left: number;
}

export function padKey(s: PadSpec): string {
  return `pad:${JSON.stringify(s)}`;
}

/** Export `item(args, i)`: pads planes [i·planesPerItem, (i+1)·planesPerItem). Args: [0] src, [1] dst. */
export function buildPadModule(s: PadSpec): ModuleBuilder {
  const m = newKernelModule();
  const right = s.Wp - s.W - s.left;
  const bottom = s.Hp - s.H - s.top;
  m.itemFunction('item', (f, args, item) => {
    const src = f.local('i32', 'src');
    const dst = f.local('i32', 'dst');
    const p = f.local('i32', 'p');
    const r = f.local('i32', 'r');
    const i = f.local('i32', 'i');
    const first = i32.mul(item!, i32.const(s.planesPerItem));
    f.set(src, i32.add(i32.load(args!, 0), i32.mul(first, i32.const(s.H * s.W * 4))));
    f.set(dst, i32.add(i32.load(args!, 4), i32.mul(first, i32.const(s.Hp * s.Wp * 4))));
    f.forRange(p, 0, s.planesPerItem, 1, () => {
      if (s.top > 0) emitZero(f, dst, 0, s.top * s.Wp, i);
      f.forRange(r, 0, s.H, 1, () => {
        // dst row = top + r; left zeros, the row, right zeros
        const rowStart = f.local('i32', 'row');
        f.set(rowStart, i32.add(dst, i32.const(s.top * s.Wp * 4)));
        f.set(rowStart, i32.add(rowStart, i32.mul(r, i32.const(s.Wp * 4))));
        if (s.left > 0) emitZero(f, rowStart, 0, s.left, i);
        const d = f.local('i32', 'd');
        f.set(d, i32.add(rowStart, i32.const(s.left * 4)));
        emitCopy(f, d, src, s.W, i);
        if (right > 0) emitZero(f, rowStart, (s.left + s.W) * 4, right, i);
        f.set(src, i32.add(src, i32.const(s.W * 4)));
      });
      if (bottom > 0) emitZero(f, dst, (s.top + s.H) * s.Wp * 4, bottom * s.Wp, i);
      f.set(dst, i32.add(dst, i32.const(s.Hp * s.Wp * 4)));
    });
  });
  return m;
}

export interface TransposeSpec {
  O: number;
  P: number;
  Opad: number;
}

export function transposeKey(s: TransposeSpec): string {
  return `transpose:${JSON.stringify(s)}`;
}

/** Export `item(args, n)`: dyT[n][q][o] = dy[n][o][q] (zeros for o ≥ O). Args: [0] dy, [1] dyT. */
export function buildTransposeModule(s: TransposeSpec): ModuleBuilder {
  const m = newKernelModule();
  m.itemFunction('item', (f, args, n) => {
    const src = f.local('i32', 'src');
    const dst = f.local('i32', 'dst');
    const q = f.local('i32', 'q');
    const ps = f.local('i32', 'ps');
    f.set(src, i32.add(i32.load(args!, 0), i32.mul(n!, i32.const(s.O * s.P * 4))));
    f.set(dst, i32.add(i32.load(args!, 4), i32.mul(n!, i32.const(s.P * s.Opad * 4))));
    f.forRange(q, 0, s.P, 1, () => {
      f.set(ps, i32.add(src, i32.shl(q, i32.const(2))));
      // one position: O strided reads, Opad contiguous writes (constant offsets)
      for (let o = 0; o < s.O; o++) f.do(f32.store(dst, f32.load(ps, o * s.P * 4), o * 4));
      for (let o = s.O; o < s.Opad; o++) f.do(f32.store(dst, f32.const(0), o * 4));
      f.set(dst, i32.add(dst, i32.const(s.Opad * 4)));
    });
  });
  return m;
}

export interface UnpackSpec {
  /** Output channels, entries per output channel (input channels × taps), lanes per packed block. */
  O: number;
  J: number;
  lanes: number;
}

export function unpackKey(s: UnpackSpec): string {
  return `unpack:${JSON.stringify(s)}`;
}

/**
 * Export `item(args, o)`: dw[o][j] = dwp[⌊o/lanes⌋][j][o mod lanes] for every j. Args: [0] dwp, [1] dw.
 * (A JavaScript loop doing this over the shared memory took 0.4 ms for 74 000 weights.)
 */
export function buildUnpackModule(s: UnpackSpec): ModuleBuilder {
  const m = newKernelModule();
  m.itemFunction('item', (f, args, o) => {
    const src = f.local('i32', 'src');
    const dst = f.local('i32', 'dst');
    const end = f.local('i32', 'end');
    // src: block ⌊o/lanes⌋, lane o mod lanes; it steps a whole lane group per j
    f.set(src, i32.add(i32.load(args!, 0), i32.mul(i32.add(
      i32.mul(i32.div_u(o!, i32.const(s.lanes)), i32.const(s.J * s.lanes)), i32.rem_u(o!, i32.const(s.lanes))), i32.const(4))));
    f.set(dst, i32.add(i32.load(args!, 4), i32.mul(o!, i32.const(s.J * 4))));
    f.set(end, i32.add(dst, i32.const(s.J * 4)));
    f.forRange(dst, dst, end, 4, () => {
      f.do(f32.store(dst, f32.load(src)));
      f.set(src, i32.add(src, i32.const(s.lanes * 4)));
    });
  });
  return m;
}
