/**
 * Worker-safe numeric kernels (the "worker source module").
 *
 * Every function in this file is ALSO run inside worker threads: `threadPool.ts` builds the worker's
 * source text from `Function.prototype.toString()` of the functions exported here. Rules that keep
 * that possible under tsx, vitest and compiled `dist/` alike:
 *   - no imports and no module-level values: a function may only use its parameters, globals
 *     (Math, typed arrays) and OTHER top-level functions of this file, called by their plain name;
 *   - no nested function expressions or arrow functions (some transformers wrap those in helpers
 *     such as `__name(...)`, which would not exist in the worker);
 *   - all scratch memory comes from a caller-owned `Workspace` (no allocation in hot loops).
 *
 * Layout conventions: the GEMM micro-kernel is 4×8 (MR = 4 rows of A, NR = 8 columns of B), over
 * packed Float64Array panels. A panels: `pa[(panel*K + k)*4 + r]`; B panels: `pb[k*8 + c]`.
 * Packing converts float32 inputs to float64 once, so the micro-kernel is monomorphic and
 * accumulates in float64; results are rounded once when added into the output.
 */

export type F = Float32Array | Float64Array;

/** Per-thread scratch buffers, grown on demand and reused between calls. */
export interface Workspace {
  [name: string]: Float64Array | Int32Array | undefined;
}

/** A Float64Array scratch of at least `size` elements (contents are NOT cleared). */
export function wsBuf(ws: Workspace, name: string, size: number): Float64Array {
  let a = ws[name];
  if (!(a instanceof Float64Array) || a.length < size) {
    a = new Float64Array(Math.max(size, 32));
    ws[name] = a;
  }
  return a;
}

/**
 * C[4×8 block at co, row stride ldc] += Apanel(4×K) · Bpanel(K×8).
 * pa[ia + k*4 + r], pb[ib + k*8 + c]. 32 accumulators held in locals.
 */
export function mk4x8(K: number, pa: Float64Array, ia: number, pb: Float64Array, ib: number, C: F, co: number, ldc: number): void {
  let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c04 = 0, c05 = 0, c06 = 0, c07 = 0;
  let c10 = 0, c11 = 0, c12 = 0, c13 = 0, c14 = 0, c15 = 0, c16 = 0, c17 = 0;
  let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c24 = 0, c25 = 0, c26 = 0, c27 = 0;
  let c30 = 0, c31 = 0, c32 = 0, c33 = 0, c34 = 0, c35 = 0, c36 = 0, c37 = 0;
  for (let k = 0; k < K; k++) {
    const b0 = pb[ib]!, b1 = pb[ib + 1]!, b2 = pb[ib + 2]!, b3 = pb[ib + 3]!;
    const b4 = pb[ib + 4]!, b5 = pb[ib + 5]!, b6 = pb[ib + 6]!, b7 = pb[ib + 7]!;
    let a = pa[ia]!;
    c00 += a * b0; c01 += a * b1; c02 += a * b2; c03 += a * b3; c04 += a * b4; c05 += a * b5; c06 += a * b6; c07 += a * b7;
    a = pa[ia + 1]!;
    c10 += a * b0; c11 += a * b1; c12 += a * b2; c13 += a * b3; c14 += a * b4; c15 += a * b5; c16 += a * b6; c17 += a * b7;
    a = pa[ia + 2]!;
    c20 += a * b0; c21 += a * b1; c22 += a * b2; c23 += a * b3; c24 += a * b4; c25 += a * b5; c26 += a * b6; c27 += a * b7;
    a = pa[ia + 3]!;
    c30 += a * b0; c31 += a * b1; c32 += a * b2; c33 += a * b3; c34 += a * b4; c35 += a * b5; c36 += a * b6; c37 += a * b7;
    ia += 4;
    ib += 8;
  }
  let o = co;
  C[o] = C[o]! + c00; C[o + 1] = C[o + 1]! + c01; C[o + 2] = C[o + 2]! + c02; C[o + 3] = C[o + 3]! + c03; C[o + 4] = C[o + 4]! + c04; C[o + 5] = C[o + 5]! + c05; C[o + 6] = C[o + 6]! + c06; C[o + 7] = C[o + 7]! + c07;
  o += ldc;
  C[o] = C[o]! + c10; C[o + 1] = C[o + 1]! + c11; C[o + 2] = C[o + 2]! + c12; C[o + 3] = C[o + 3]! + c13; C[o + 4] = C[o + 4]! + c14; C[o + 5] = C[o + 5]! + c15; C[o + 6] = C[o + 6]! + c16; C[o + 7] = C[o + 7]! + c17;
  o += ldc;
  C[o] = C[o]! + c20; C[o + 1] = C[o + 1]! + c21; C[o + 2] = C[o + 2]! + c22; C[o + 3] = C[o + 3]! + c23; C[o + 4] = C[o + 4]! + c24; C[o + 5] = C[o + 5]! + c25; C[o + 6] = C[o + 6]! + c26; C[o + 7] = C[o + 7]! + c27;
  o += ldc;
  C[o] = C[o]! + c30; C[o + 1] = C[o + 1]! + c31; C[o + 2] = C[o + 2]! + c32; C[o + 3] = C[o + 3]! + c33; C[o + 4] = C[o + 4]! + c34; C[o + 5] = C[o + 5]! + c35; C[o + 6] = C[o + 6]! + c36; C[o + 7] = C[o + 7]! + c37;
}

/**
 * Implicit-GEMM conv micro-kernel, stride 1: C[4×8] += Apanel(4×K) · B where
 * B(k, c) = xp[koff[k] + base + c] (xp = zero-padded float64 image, no im2col).
 */
export function mkConvS1(
  K: number, pa: Float64Array, ia: number, xp: Float64Array, koff: Int32Array, base: number,
  C: F, co: number, ldc: number,
): void {
  let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c04 = 0, c05 = 0, c06 = 0, c07 = 0;
  let c10 = 0, c11 = 0, c12 = 0, c13 = 0, c14 = 0, c15 = 0, c16 = 0, c17 = 0;
  let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c24 = 0, c25 = 0, c26 = 0, c27 = 0;
  let c30 = 0, c31 = 0, c32 = 0, c33 = 0, c34 = 0, c35 = 0, c36 = 0, c37 = 0;
  for (let k = 0; k < K; k++) {
    const bo = koff[k]! + base;
    const b0 = xp[bo]!, b1 = xp[bo + 1]!, b2 = xp[bo + 2]!, b3 = xp[bo + 3]!;
    const b4 = xp[bo + 4]!, b5 = xp[bo + 5]!, b6 = xp[bo + 6]!, b7 = xp[bo + 7]!;
    let a = pa[ia]!;
    c00 += a * b0; c01 += a * b1; c02 += a * b2; c03 += a * b3; c04 += a * b4; c05 += a * b5; c06 += a * b6; c07 += a * b7;
    a = pa[ia + 1]!;
    c10 += a * b0; c11 += a * b1; c12 += a * b2; c13 += a * b3; c14 += a * b4; c15 += a * b5; c16 += a * b6; c17 += a * b7;
    a = pa[ia + 2]!;
    c20 += a * b0; c21 += a * b1; c22 += a * b2; c23 += a * b3; c24 += a * b4; c25 += a * b5; c26 += a * b6; c27 += a * b7;
    a = pa[ia + 3]!;
    c30 += a * b0; c31 += a * b1; c32 += a * b2; c33 += a * b3; c34 += a * b4; c35 += a * b5; c36 += a * b6; c37 += a * b7;
    ia += 4;
  }
  let o = co;
  C[o] = C[o]! + c00; C[o + 1] = C[o + 1]! + c01; C[o + 2] = C[o + 2]! + c02; C[o + 3] = C[o + 3]! + c03; C[o + 4] = C[o + 4]! + c04; C[o + 5] = C[o + 5]! + c05; C[o + 6] = C[o + 6]! + c06; C[o + 7] = C[o + 7]! + c07;
  o += ldc;
  C[o] = C[o]! + c10; C[o + 1] = C[o + 1]! + c11; C[o + 2] = C[o + 2]! + c12; C[o + 3] = C[o + 3]! + c13; C[o + 4] = C[o + 4]! + c14; C[o + 5] = C[o + 5]! + c15; C[o + 6] = C[o + 6]! + c16; C[o + 7] = C[o + 7]! + c17;
  o += ldc;
  C[o] = C[o]! + c20; C[o + 1] = C[o + 1]! + c21; C[o + 2] = C[o + 2]! + c22; C[o + 3] = C[o + 3]! + c23; C[o + 4] = C[o + 4]! + c24; C[o + 5] = C[o + 5]! + c25; C[o + 6] = C[o + 6]! + c26; C[o + 7] = C[o + 7]! + c27;
  o += ldc;
  C[o] = C[o]! + c30; C[o + 1] = C[o + 1]! + c31; C[o + 2] = C[o + 2]! + c32; C[o + 3] = C[o + 3]! + c33; C[o + 4] = C[o + 4]! + c34; C[o + 5] = C[o + 5]! + c35; C[o + 6] = C[o + 6]! + c36; C[o + 7] = C[o + 7]! + c37;
}

/** As mkConvS1 for any stride s: B(k, c) = xp[koff[k] + base + c*s]. */
export function mkConvS(
  K: number, pa: Float64Array, ia: number, xp: Float64Array, koff: Int32Array, base: number, s: number,
  C: F, co: number, ldc: number,
): void {
  const s2 = s + s, s3 = s2 + s, s4 = s3 + s, s5 = s4 + s, s6 = s5 + s, s7 = s6 + s;
  let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c04 = 0, c05 = 0, c06 = 0, c07 = 0;
  let c10 = 0, c11 = 0, c12 = 0, c13 = 0, c14 = 0, c15 = 0, c16 = 0, c17 = 0;
  let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c24 = 0, c25 = 0, c26 = 0, c27 = 0;
  let c30 = 0, c31 = 0, c32 = 0, c33 = 0, c34 = 0, c35 = 0, c36 = 0, c37 = 0;
  for (let k = 0; k < K; k++) {
    const bo = koff[k]! + base;
    const b0 = xp[bo]!, b1 = xp[bo + s]!, b2 = xp[bo + s2]!, b3 = xp[bo + s3]!;
    const b4 = xp[bo + s4]!, b5 = xp[bo + s5]!, b6 = xp[bo + s6]!, b7 = xp[bo + s7]!;
    let a = pa[ia]!;
    c00 += a * b0; c01 += a * b1; c02 += a * b2; c03 += a * b3; c04 += a * b4; c05 += a * b5; c06 += a * b6; c07 += a * b7;
    a = pa[ia + 1]!;
    c10 += a * b0; c11 += a * b1; c12 += a * b2; c13 += a * b3; c14 += a * b4; c15 += a * b5; c16 += a * b6; c17 += a * b7;
    a = pa[ia + 2]!;
    c20 += a * b0; c21 += a * b1; c22 += a * b2; c23 += a * b3; c24 += a * b4; c25 += a * b5; c26 += a * b6; c27 += a * b7;
    a = pa[ia + 3]!;
    c30 += a * b0; c31 += a * b1; c32 += a * b2; c33 += a * b3; c34 += a * b4; c35 += a * b5; c36 += a * b6; c37 += a * b7;
    ia += 4;
  }
  let o = co;
  C[o] = C[o]! + c00; C[o + 1] = C[o + 1]! + c01; C[o + 2] = C[o + 2]! + c02; C[o + 3] = C[o + 3]! + c03; C[o + 4] = C[o + 4]! + c04; C[o + 5] = C[o + 5]! + c05; C[o + 6] = C[o + 6]! + c06; C[o + 7] = C[o + 7]! + c07;
  o += ldc;
  C[o] = C[o]! + c10; C[o + 1] = C[o + 1]! + c11; C[o + 2] = C[o + 2]! + c12; C[o + 3] = C[o + 3]! + c13; C[o + 4] = C[o + 4]! + c14; C[o + 5] = C[o + 5]! + c15; C[o + 6] = C[o + 6]! + c16; C[o + 7] = C[o + 7]! + c17;
  o += ldc;
  C[o] = C[o]! + c20; C[o + 1] = C[o + 1]! + c21; C[o + 2] = C[o + 2]! + c22; C[o + 3] = C[o + 3]! + c23; C[o + 4] = C[o + 4]! + c24; C[o + 5] = C[o + 5]! + c25; C[o + 6] = C[o + 6]! + c26; C[o + 7] = C[o + 7]! + c27;
  o += ldc;
  C[o] = C[o]! + c30; C[o + 1] = C[o + 1]! + c31; C[o + 2] = C[o + 2]! + c32; C[o + 3] = C[o + 3]! + c33; C[o + 4] = C[o + 4]! + c34; C[o + 5] = C[o + 5]! + c35; C[o + 6] = C[o + 6]! + c36; C[o + 7] = C[o + 7]! + c37;
}

/**
 * Weight-gradient micro-kernel: dw[4×8 at co] += Σ_p dyPanel(4, p) · X(p, k0 + c), summing over
 * all HO×WO output positions p = (oh, ow), with X(p, k) = xp[koff[k] + oh*rowStep + ow*s]
 * (xp = zero-padded float64 image). koff must have 8 readable entries from k0.
 */
export function mkWgrad(
  HO: number, WO: number, s: number, rowStep: number, pa: Float64Array, ia: number,
  xp: Float64Array, koff: Int32Array, k0: number, C: F, co: number, ldc: number,
): void {
  const f0 = koff[k0]!, f1 = koff[k0 + 1]!, f2 = koff[k0 + 2]!, f3 = koff[k0 + 3]!;
  const f4 = koff[k0 + 4]!, f5 = koff[k0 + 5]!, f6 = koff[k0 + 6]!, f7 = koff[k0 + 7]!;
  let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c04 = 0, c05 = 0, c06 = 0, c07 = 0;
  let c10 = 0, c11 = 0, c12 = 0, c13 = 0, c14 = 0, c15 = 0, c16 = 0, c17 = 0;
  let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c24 = 0, c25 = 0, c26 = 0, c27 = 0;
  let c30 = 0, c31 = 0, c32 = 0, c33 = 0, c34 = 0, c35 = 0, c36 = 0, c37 = 0;
  for (let oh = 0; oh < HO; oh++) {
    let q = oh * rowStep;
    for (let ow = 0; ow < WO; ow++) {
      const b0 = xp[f0 + q]!, b1 = xp[f1 + q]!, b2 = xp[f2 + q]!, b3 = xp[f3 + q]!;
      const b4 = xp[f4 + q]!, b5 = xp[f5 + q]!, b6 = xp[f6 + q]!, b7 = xp[f7 + q]!;
      let a = pa[ia]!;
      c00 += a * b0; c01 += a * b1; c02 += a * b2; c03 += a * b3; c04 += a * b4; c05 += a * b5; c06 += a * b6; c07 += a * b7;
      a = pa[ia + 1]!;
      c10 += a * b0; c11 += a * b1; c12 += a * b2; c13 += a * b3; c14 += a * b4; c15 += a * b5; c16 += a * b6; c17 += a * b7;
      a = pa[ia + 2]!;
      c20 += a * b0; c21 += a * b1; c22 += a * b2; c23 += a * b3; c24 += a * b4; c25 += a * b5; c26 += a * b6; c27 += a * b7;
      a = pa[ia + 3]!;
      c30 += a * b0; c31 += a * b1; c32 += a * b2; c33 += a * b3; c34 += a * b4; c35 += a * b5; c36 += a * b6; c37 += a * b7;
      ia += 4;
      q += s;
    }
  }
  let o = co;
  C[o] = C[o]! + c00; C[o + 1] = C[o + 1]! + c01; C[o + 2] = C[o + 2]! + c02; C[o + 3] = C[o + 3]! + c03; C[o + 4] = C[o + 4]! + c04; C[o + 5] = C[o + 5]! + c05; C[o + 6] = C[o + 6]! + c06; C[o + 7] = C[o + 7]! + c07;
  o += ldc;
  C[o] = C[o]! + c10; C[o + 1] = C[o + 1]! + c11; C[o + 2] = C[o + 2]! + c12; C[o + 3] = C[o + 3]! + c13; C[o + 4] = C[o + 4]! + c14; C[o + 5] = C[o + 5]! + c15; C[o + 6] = C[o + 6]! + c16; C[o + 7] = C[o + 7]! + c17;
  o += ldc;
  C[o] = C[o]! + c20; C[o + 1] = C[o + 1]! + c21; C[o + 2] = C[o + 2]! + c22; C[o + 3] = C[o + 3]! + c23; C[o + 4] = C[o + 4]! + c24; C[o + 5] = C[o + 5]! + c25; C[o + 6] = C[o + 6]! + c26; C[o + 7] = C[o + 7]! + c27;
  o += ldc;
  C[o] = C[o]! + c30; C[o + 1] = C[o + 1]! + c31; C[o + 2] = C[o + 2]! + c32; C[o + 3] = C[o + 3]! + c33; C[o + 4] = C[o + 4]! + c34; C[o + 5] = C[o + 5]! + c35; C[o + 6] = C[o + 6]! + c36; C[o + 7] = C[o + 7]! + c37;
}

/** Edge tile (mr ≤ 4 rows, nr ≤ 8 columns valid): computes the full 4×8 into `tile`, adds the valid part. */
export function mkEdge(
  K: number, pa: Float64Array, ia: number, pb: Float64Array, ib: number,
  C: F, co: number, ldc: number, mr: number, nr: number, tile: Float64Array,
): void {
  for (let t = 0; t < 32; t++) tile[t] = 0;
  mk4x8(K, pa, ia, pb, ib, tile, 0, 8);
  for (let r = 0; r < mr; r++) {
    const o = co + r * ldc;
    for (let c = 0; c < nr; c++) C[o + c] = C[o + c]! + tile[r * 8 + c]!;
  }
}

/**
 * Pack an M×K block of A (element (i,k) at A[aOff + i*rs + k*cs]) into 4-row panels:
 * out[(p*K + k)*4 + r] = A(4p + r, k), rows ≥ M zero-filled. Needs ceil(M/4)*4*K elements.
 */
export function packA(A: F, aOff: number, rs: number, cs: number, M: number, K: number, out: Float64Array): void {
  for (let i0 = 0; i0 < M; i0 += 4) {
    const base = i0 * K;
    const mr = M - i0 < 4 ? M - i0 : 4;
    if (cs === 1) {
      for (let r = 0; r < mr; r++) {
        let src = aOff + (i0 + r) * rs;
        let dst = base + r;
        for (let k = 0; k < K; k++) {
          out[dst] = A[src]!;
          src++;
          dst += 4;
        }
      }
    } else {
      for (let k = 0; k < K; k++) {
        const src = aOff + i0 * rs + k * cs;
        const dst = base + k * 4;
        for (let r = 0; r < mr; r++) out[dst + r] = A[src + r * rs]!;
      }
    }
    if (mr < 4) {
      for (let k = 0; k < K; k++) for (let r = mr; r < 4; r++) out[base + k * 4 + r] = 0;
    }
  }
}

/**
 * Pack one 8-column panel of a K×N matrix B (element (k,j) at B[bOff + k*rs + j*cs]),
 * columns j0..j0+nr-1 (nr ≤ 8), into out[oOff + k*8 + c]; columns ≥ nr zero-filled.
 */
export function packB(B: F, bOff: number, rs: number, cs: number, K: number, j0: number, nr: number, out: Float64Array, oOff: number): void {
  if (nr === 8 && cs === 1) {
    let src = bOff + j0;
    let dst = oOff;
    for (let k = 0; k < K; k++) {
      out[dst] = B[src]!; out[dst + 1] = B[src + 1]!; out[dst + 2] = B[src + 2]!; out[dst + 3] = B[src + 3]!;
      out[dst + 4] = B[src + 4]!; out[dst + 5] = B[src + 5]!; out[dst + 6] = B[src + 6]!; out[dst + 7] = B[src + 7]!;
      src += rs;
      dst += 8;
    }
    return;
  }
  for (let c = 0; c < 8; c++) {
    let dst = oOff + c;
    if (c < nr) {
      let src = bOff + (j0 + c) * cs;
      for (let k = 0; k < K; k++) {
        out[dst] = B[src]!;
        src += rs;
        dst += 8;
      }
    } else {
      for (let k = 0; k < K; k++) {
        out[dst] = 0;
        dst += 8;
      }
    }
  }
}

/**
 * C[M×N] (row stride ldc, at cOff) += A·B for strided A (i,k)->A[aOff+i*ars+k*acs] and
 * B (k,j)->B[bOff+k*brs+j*bcs]. Blocked: KC = 256 along K, MC = 128 rows of packed A.
 */
export function gemmAcc(
  M: number, N: number, K: number,
  A: F, aOff: number, ars: number, acs: number,
  B: F, bOff: number, brs: number, bcs: number,
  C: F, cOff: number, ldc: number, ws: Workspace,
): void {
  const KC = 256;
  const MC = 128;
  const pa = wsBuf(ws, 'gemmA', MC * KC);
  const pb = wsBuf(ws, 'gemmB', KC * 8);
  const tile = wsBuf(ws, 'tile', 32);
  for (let pc = 0; pc < K; pc += KC) {
    const kc = K - pc < KC ? K - pc : KC;
    for (let ic = 0; ic < M; ic += MC) {
      const mc = M - ic < MC ? M - ic : MC;
      packA(A, aOff + ic * ars + pc * acs, ars, acs, mc, kc, pa);
      for (let jc = 0; jc < N; jc += 8) {
        const nr = N - jc < 8 ? N - jc : 8;
        packB(B, bOff + pc * brs, brs, bcs, kc, jc, nr, pb, 0);
        for (let ir = 0; ir < mc; ir += 4) {
          const mr = mc - ir < 4 ? mc - ir : 4;
          const co = cOff + (ic + ir) * ldc + jc;
          if (mr === 4 && nr === 8) mk4x8(kc, pa, ir * kc, pb, 0, C, co, ldc);
          else mkEdge(kc, pa, ir * kc, pb, 0, C, co, ldc, mr, nr, tile);
        }
      }
    }
  }
}

/** An Int32Array scratch of at least `size` elements (contents are NOT cleared). */
export function wsInt(ws: Workspace, name: string, size: number): Int32Array {
  let a = ws[name];
  if (!(a instanceof Int32Array) || a.length < size) {
    a = new Int32Array(Math.max(size, 32));
    ws[name] = a;
  }
  return a;
}

/**
 * Zero-padded float64 copy of one C×H×W image: xp[(ci*Hp + ph + ih)*Wp + pw + iw] = x[...], with
 * Hp = H + 2ph, Wp = W + 2pw; the `slack` elements after the last plane are zeroed too.
 */
export function padImage(
  x: F, xo: number, C: number, H: number, W: number, ph: number, pw: number, xp: Float64Array, slack: number,
): void {
  const Hp = H + 2 * ph;
  const Wp = W + 2 * pw;
  if (ph === 0 && pw === 0) {
    for (let i = 0; i < C * H * W; i++) xp[i] = x[xo + i]!;
    xp.fill(0, C * H * W, C * H * W + slack);
    return;
  }
  xp.fill(0, 0, C * Hp * Wp + slack);
  for (let ci = 0; ci < C; ci++) {
    for (let ih = 0; ih < H; ih++) {
      let src = xo + (ci * H + ih) * W;
      let dst = (ci * Hp + ph + ih) * Wp + pw;
      for (let iw = 0; iw < W; iw++) {
        xp[dst] = x[src]!;
        dst++;
        src++;
      }
    }
  }
}

/**
 * Tap offsets into a padded image: koff[(ci*KH + kh)*KW + kw] = (ci*Hp + kh)*Wp + kw for k < K,
 * then 8 extra zero entries (so 8-wide panels at the end of K stay in bounds).
 */
export function tapOffsets(C: number, KH: number, KW: number, Hp: number, Wp: number, koff: Int32Array): void {
  let k = 0;
  for (let ci = 0; ci < C; ci++) {
    for (let kh = 0; kh < KH; kh++) {
      for (let kw = 0; kw < KW; kw++) {
        koff[k] = (ci * Hp + kh) * Wp + kw;
        k++;
      }
    }
  }
  for (let e = 0; e < 8; e++) koff[k + e] = 0;
}

/**
 * Forward convolution of `count` images (image i at x[xOff + i*C*H*W], output at
 * out[outOff + i*O*HO*WO]) with pre-packed weights `wp` (packA of W[O, C*KH*KW]), by implicit
 * GEMM over a zero-padded copy of each image: every output row is cut into 8-wide tiles and each
 * tile × 4 output channels is one micro-kernel call. The output is overwritten (bias or 0 + conv).
 */
export function convFwdImages(
  x: F, xOff: number, count: number, C: number, H: number, W: number,
  wp: Float64Array, O: number, KH: number, KW: number, s: number, ph: number, pw: number,
  HO: number, WO: number, bias: F | null, out: F, outOff: number, ws: Workspace,
): void {
  const K = C * KH * KW;
  const P = HO * WO;
  const Hp = H + 2 * ph;
  const Wp = W + 2 * pw;
  const slack = 8 * s + 8;
  const xp = wsBuf(ws, 'xpad', C * Hp * Wp + slack);
  const koff = wsInt(ws, 'koff', K + 8);
  const tile = wsBuf(ws, 'tile', 32);
  tapOffsets(C, KH, KW, Hp, Wp, koff);
  const rowStep = s * Wp;
  for (let img = 0; img < count; img++) {
    const oo = outOff + img * O * P;
    padImage(x, xOff + img * C * H * W, C, H, W, ph, pw, xp, slack);
    for (let o = 0; o < O; o++) {
      const v = bias === null ? 0 : bias[o]!;
      out.fill(v, oo + o * P, oo + (o + 1) * P);
    }
    for (let oh = 0; oh < HO; oh++) {
      for (let ow0 = 0; ow0 < WO; ow0 += 8) {
        const nr = WO - ow0 < 8 ? WO - ow0 : 8;
        const base = oh * rowStep + ow0 * s;
        for (let i = 0; i < O; i += 4) {
          const mr = O - i < 4 ? O - i : 4;
          const co = oo + i * P + oh * WO + ow0;
          if (mr === 4 && nr === 8) {
            if (s === 1) mkConvS1(K, wp, i * K, xp, koff, base, out, co, P);
            else mkConvS(K, wp, i * K, xp, koff, base, s, out, co, P);
          } else {
            for (let t = 0; t < 32; t++) tile[t] = 0;
            if (s === 1) mkConvS1(K, wp, i * K, xp, koff, base, tile, 0, 8);
            else mkConvS(K, wp, i * K, xp, koff, base, s, tile, 0, 8);
            for (let r = 0; r < mr; r++) {
              const d = co + r * P;
              for (let c = 0; c < nr; c++) out[d + c] = out[d + c]! + tile[r * 8 + c]!;
            }
          }
        }
      }
    }
  }
}

/**
 * Input gradient of `count` images by GEMM + col2im (any stride/padding):
 * cols[K, P] = W^T · dy, then scatter-add into dx (dx images are overwritten).
 * `wtp` = packA of W^T (M = C*KH*KW rows, inner dimension O).
 */
export function convBwdInputGemmImages(
  dy: F, dyOff: number, count: number, O: number, HO: number, WO: number,
  wtp: Float64Array, C: number, H: number, W: number, KH: number, KW: number,
  s: number, ph: number, pw: number, dx: F, dxOff: number, ws: Workspace,
): void {
  const K = C * KH * KW;
  const P = HO * WO;
  const cols = wsBuf(ws, 'cols', K * P);
  const pb = wsBuf(ws, 'gemmB', O * 8);
  const tile = wsBuf(ws, 'tile', 32);
  for (let img = 0; img < count; img++) {
    const dyo = dyOff + img * O * P;
    const xo = dxOff + img * C * H * W;
    cols.fill(0, 0, K * P);
    for (let j = 0; j < P; j += 8) {
      const nr = P - j < 8 ? P - j : 8;
      packB(dy, dyo, P, 1, O, j, nr, pb, 0);
      for (let i = 0; i < K; i += 4) {
        const mr = K - i < 4 ? K - i : 4;
        if (mr === 4 && nr === 8) mk4x8(O, wtp, i * O, pb, 0, cols, i * P + j, P);
        else mkEdge(O, wtp, i * O, pb, 0, cols, i * P + j, P, mr, nr, tile);
      }
    }
    dx.fill(0, xo, xo + C * H * W);
    col2imAdd(cols, C, H, W, KH, KW, s, ph, pw, HO, WO, dx, xo);
  }
}

/** dx[xo + (ci*H + ih)*W + iw] += cols[k*P + oh*WO + ow] for all valid taps. */
export function col2imAdd(
  cols: Float64Array, C: number, H: number, W: number, KH: number, KW: number,
  s: number, ph: number, pw: number, HO: number, WO: number, dx: F, xo: number,
): void {
  const P = HO * WO;
  let k = 0;
  for (let ci = 0; ci < C; ci++) {
    for (let kh = 0; kh < KH; kh++) {
      for (let kw = 0; kw < KW; kw++) {
        const d = pw - kw;
        let lo = d > 0 ? ((d + s - 1) / s) | 0 : 0;
        let hi = Math.floor((W - 1 + d) / s) + 1;
        if (lo > WO) lo = WO;
        if (hi > WO) hi = WO;
        for (let oh = 0; oh < HO; oh++) {
          const ih = oh * s - ph + kh;
          if (ih < 0 || ih >= H) continue;
          let xi = xo + (ci * H + ih) * W + lo * s - d;
          let ci0 = k * P + oh * WO + lo;
          for (let ow = lo; ow < hi; ow++) {
            dx[xi] = dx[xi]! + cols[ci0]!;
            xi += s;
            ci0++;
          }
        }
        k++;
      }
    }
  }
}

/**
 * Weight gradient accumulated over `count` images: dW[O, K] += dy_i[O, P] · col_i[K, P]^T, into the
 * float64 accumulator `dw` (row stride K, not cleared here). Implicit: reads the taps straight from
 * a zero-padded copy of each image; dy is packed into 4-row panels.
 */
export function convBwdWeightImages(
  dy: F, dyOff: number, count: number, O: number, HO: number, WO: number,
  x: F, xOff: number, C: number, H: number, W: number, KH: number, KW: number,
  s: number, ph: number, pw: number, dw: Float64Array, ws: Workspace,
): void {
  const K = C * KH * KW;
  const P = HO * WO;
  const Hp = H + 2 * ph;
  const Wp = W + 2 * pw;
  const Op = ((O + 3) >> 2) << 2;
  const slack = 8;
  const xp = wsBuf(ws, 'xpad', C * Hp * Wp + slack);
  const koff = wsInt(ws, 'koff', K + 8);
  const pa = wsBuf(ws, 'wgradA', Op * P);
  const tile = wsBuf(ws, 'tile', 32);
  tapOffsets(C, KH, KW, Hp, Wp, koff);
  const rowStep = s * Wp;
  for (let img = 0; img < count; img++) {
    padImage(x, xOff + img * C * H * W, C, H, W, ph, pw, xp, slack);
    packA(dy, dyOff + img * O * P, P, 1, O, P, pa);
    for (let k0 = 0; k0 < K; k0 += 8) {
      const nk = K - k0 < 8 ? K - k0 : 8;
      for (let i = 0; i < O; i += 4) {
        const mr = O - i < 4 ? O - i : 4;
        if (mr === 4 && nk === 8) {
          mkWgrad(HO, WO, s, rowStep, pa, i * P, xp, koff, k0, dw, i * K + k0, K);
        } else {
          for (let t = 0; t < 32; t++) tile[t] = 0;
          mkWgrad(HO, WO, s, rowStep, pa, i * P, xp, koff, k0, tile, 0, 8);
          for (let r = 0; r < mr; r++) {
            const d = (i + r) * K + k0;
            for (let c = 0; c < nk; c++) dw[d + c] = dw[d + c]! + tile[r * 8 + c]!;
          }
        }
      }
    }
  }
}

/** Job descriptor exchanged with workers (all arrays live in SharedArrayBuffers). */
export interface KernelJob {
  op: 'fwd' | 'bwdInGemm' | 'bwdW' | 'gemm';
  [key: string]: unknown;
}

/** The fields the jobs use (a job carries only those of its op). */
interface JobArgs {
  x: F; xOff: number; count: number; C: number; H: number; W: number;
  wp: Float64Array; wtp: Float64Array; O: number; KH: number; KW: number; s: number; ph: number; pw: number;
  HO: number; WO: number; bias: F | null; out: F; outOff: number;
  dy: F; dyOff: number; dx: F; dxOff: number; dw: Float64Array;
  M: number; N: number; K: number; A: F; aOff: number; ars: number; acs: number;
  B: F; bOff: number; brs: number; bcs: number; Cm: F; cOff: number; ldc: number;
}

/** Worker-side dispatcher: runs one job descriptor. */
export function runKernelJob(j: KernelJob, ws: Workspace): void {
  const a = j as unknown as JobArgs;
  if (j.op === 'fwd') {
    convFwdImages(a.x, a.xOff, a.count, a.C, a.H, a.W, a.wp, a.O, a.KH, a.KW, a.s, a.ph, a.pw, a.HO, a.WO, a.bias, a.out, a.outOff, ws);
  } else if (j.op === 'bwdInGemm') {
    convBwdInputGemmImages(a.dy, a.dyOff, a.count, a.O, a.HO, a.WO, a.wtp, a.C, a.H, a.W, a.KH, a.KW, a.s, a.ph, a.pw, a.dx, a.dxOff, ws);
  } else if (j.op === 'bwdW') {
    convBwdWeightImages(a.dy, a.dyOff, a.count, a.O, a.HO, a.WO, a.x, a.xOff, a.C, a.H, a.W, a.KH, a.KW, a.s, a.ph, a.pw, a.dw, ws);
  } else if (j.op === 'gemm') {
    gemmAcc(a.M, a.N, a.K, a.A, a.aOff, a.ars, a.acs, a.B, a.bOff, a.brs, a.bcs, a.Cm, a.cOff, a.ldc, ws);
  } else {
    throw new Error('unknown kernel job ' + String(j.op));
  }
}
