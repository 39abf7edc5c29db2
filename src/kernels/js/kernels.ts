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
 * All micro-kernels compute an 8×8 register tile (MR = 8 rows × NR = 8 columns, 64 float64
 * accumulators in locals — the JIT keeps what it can in registers; 8×8 measured ~15% faster than
 * 4×8 here). Packed A panels: `pa[(panelRow0*K) + k*8 + r]`; packed B panels: `pb[k*8 + c]`.
 * Packing converts float32 inputs to float64 once, so the inner loops are monomorphic and
 * accumulate in float64; results are rounded once when added into the output.
 * The convolution kernels are implicit GEMMs over a zero-padded float64 copy of each image
 * (no im2col buffer): tap k = (ci, kh, kw) sits at `koff[k]` from an output position's origin.
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
    a = new Float64Array(Math.max(size, 64));
    ws[name] = a;
  }
  return a;
}

/** An Int32Array scratch of at least `size` elements (contents are NOT cleared). */
export function wsInt(ws: Workspace, name: string, size: number): Int32Array {
  let a = ws[name];
  if (!(a instanceof Int32Array) || a.length < size) {
    a = new Int32Array(Math.max(size, 64));
    ws[name] = a;
  }
  return a;
}

/**
 * C[8×8 block at co, row stride ldc] += Apanel(8×K) · Bpanel(K×8), packed operands:
 * pa[ia + k*8 + r], pb[ib + k*8 + c]. 64 accumulators held in locals (mechanically unrolled).
 */
export function mk8x8(K: number, pa: Float64Array, ia: number, pb: Float64Array, ib: number, C: F, co: number, ldc: number): void {
  let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c04 = 0, c05 = 0, c06 = 0, c07 = 0;
  let c10 = 0, c11 = 0, c12 = 0, c13 = 0, c14 = 0, c15 = 0, c16 = 0, c17 = 0;
  let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c24 = 0, c25 = 0, c26 = 0, c27 = 0;
  let c30 = 0, c31 = 0, c32 = 0, c33 = 0, c34 = 0, c35 = 0, c36 = 0, c37 = 0;
  let c40 = 0, c41 = 0, c42 = 0, c43 = 0, c44 = 0, c45 = 0, c46 = 0, c47 = 0;
  let c50 = 0, c51 = 0, c52 = 0, c53 = 0, c54 = 0, c55 = 0, c56 = 0, c57 = 0;
  let c60 = 0, c61 = 0, c62 = 0, c63 = 0, c64 = 0, c65 = 0, c66 = 0, c67 = 0;
  let c70 = 0, c71 = 0, c72 = 0, c73 = 0, c74 = 0, c75 = 0, c76 = 0, c77 = 0;
  for (let k = 0; k < K; k++) {
    const a0 = pa[ia]!, a1 = pa[ia + 1]!, a2 = pa[ia + 2]!, a3 = pa[ia + 3]!;
    const a4 = pa[ia + 4]!, a5 = pa[ia + 5]!, a6 = pa[ia + 6]!, a7 = pa[ia + 7]!;
    let b = pb[ib]!;
    c00 += a0 * b; c10 += a1 * b; c20 += a2 * b; c30 += a3 * b; c40 += a4 * b; c50 += a5 * b; c60 += a6 * b; c70 += a7 * b;
    b = pb[ib + 1]!;
    c01 += a0 * b; c11 += a1 * b; c21 += a2 * b; c31 += a3 * b; c41 += a4 * b; c51 += a5 * b; c61 += a6 * b; c71 += a7 * b;
    b = pb[ib + 2]!;
    c02 += a0 * b; c12 += a1 * b; c22 += a2 * b; c32 += a3 * b; c42 += a4 * b; c52 += a5 * b; c62 += a6 * b; c72 += a7 * b;
    b = pb[ib + 3]!;
    c03 += a0 * b; c13 += a1 * b; c23 += a2 * b; c33 += a3 * b; c43 += a4 * b; c53 += a5 * b; c63 += a6 * b; c73 += a7 * b;
    b = pb[ib + 4]!;
    c04 += a0 * b; c14 += a1 * b; c24 += a2 * b; c34 += a3 * b; c44 += a4 * b; c54 += a5 * b; c64 += a6 * b; c74 += a7 * b;
    b = pb[ib + 5]!;
    c05 += a0 * b; c15 += a1 * b; c25 += a2 * b; c35 += a3 * b; c45 += a4 * b; c55 += a5 * b; c65 += a6 * b; c75 += a7 * b;
    b = pb[ib + 6]!;
    c06 += a0 * b; c16 += a1 * b; c26 += a2 * b; c36 += a3 * b; c46 += a4 * b; c56 += a5 * b; c66 += a6 * b; c76 += a7 * b;
    b = pb[ib + 7]!;
    c07 += a0 * b; c17 += a1 * b; c27 += a2 * b; c37 += a3 * b; c47 += a4 * b; c57 += a5 * b; c67 += a6 * b; c77 += a7 * b;
    ia += 8;
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
  o += ldc;
  C[o] = C[o]! + c40; C[o + 1] = C[o + 1]! + c41; C[o + 2] = C[o + 2]! + c42; C[o + 3] = C[o + 3]! + c43; C[o + 4] = C[o + 4]! + c44; C[o + 5] = C[o + 5]! + c45; C[o + 6] = C[o + 6]! + c46; C[o + 7] = C[o + 7]! + c47;
  o += ldc;
  C[o] = C[o]! + c50; C[o + 1] = C[o + 1]! + c51; C[o + 2] = C[o + 2]! + c52; C[o + 3] = C[o + 3]! + c53; C[o + 4] = C[o + 4]! + c54; C[o + 5] = C[o + 5]! + c55; C[o + 6] = C[o + 6]! + c56; C[o + 7] = C[o + 7]! + c57;
  o += ldc;
  C[o] = C[o]! + c60; C[o + 1] = C[o + 1]! + c61; C[o + 2] = C[o + 2]! + c62; C[o + 3] = C[o + 3]! + c63; C[o + 4] = C[o + 4]! + c64; C[o + 5] = C[o + 5]! + c65; C[o + 6] = C[o + 6]! + c66; C[o + 7] = C[o + 7]! + c67;
  o += ldc;
  C[o] = C[o]! + c70; C[o + 1] = C[o + 1]! + c71; C[o + 2] = C[o + 2]! + c72; C[o + 3] = C[o + 3]! + c73; C[o + 4] = C[o + 4]! + c74; C[o + 5] = C[o + 5]! + c75; C[o + 6] = C[o + 6]! + c76; C[o + 7] = C[o + 7]! + c77;
}

/**
 * Implicit-GEMM convolution micro-kernel for 8 consecutive output positions of one row, stride 1:
 * C[8×8] += Wpanel(8×K) · X, X(k, c) = xp[koff[k] + base + c] (xp = zero-padded float64 image).
 */
export function mkConvS1(
  K: number, pa: Float64Array, ia: number, xp: Float64Array, koff: Int32Array, base: number,
  C: F, co: number, ldc: number,
): void {
  let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c04 = 0, c05 = 0, c06 = 0, c07 = 0;
  let c10 = 0, c11 = 0, c12 = 0, c13 = 0, c14 = 0, c15 = 0, c16 = 0, c17 = 0;
  let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c24 = 0, c25 = 0, c26 = 0, c27 = 0;
  let c30 = 0, c31 = 0, c32 = 0, c33 = 0, c34 = 0, c35 = 0, c36 = 0, c37 = 0;
  let c40 = 0, c41 = 0, c42 = 0, c43 = 0, c44 = 0, c45 = 0, c46 = 0, c47 = 0;
  let c50 = 0, c51 = 0, c52 = 0, c53 = 0, c54 = 0, c55 = 0, c56 = 0, c57 = 0;
  let c60 = 0, c61 = 0, c62 = 0, c63 = 0, c64 = 0, c65 = 0, c66 = 0, c67 = 0;
  let c70 = 0, c71 = 0, c72 = 0, c73 = 0, c74 = 0, c75 = 0, c76 = 0, c77 = 0;
  for (let k = 0; k < K; k++) {
    const bo = koff[k]! + base;
    const a0 = pa[ia]!, a1 = pa[ia + 1]!, a2 = pa[ia + 2]!, a3 = pa[ia + 3]!;
    const a4 = pa[ia + 4]!, a5 = pa[ia + 5]!, a6 = pa[ia + 6]!, a7 = pa[ia + 7]!;
    let b = xp[bo]!;
    c00 += a0 * b; c10 += a1 * b; c20 += a2 * b; c30 += a3 * b; c40 += a4 * b; c50 += a5 * b; c60 += a6 * b; c70 += a7 * b;
    b = xp[bo + 1]!;
    c01 += a0 * b; c11 += a1 * b; c21 += a2 * b; c31 += a3 * b; c41 += a4 * b; c51 += a5 * b; c61 += a6 * b; c71 += a7 * b;
    b = xp[bo + 2]!;
    c02 += a0 * b; c12 += a1 * b; c22 += a2 * b; c32 += a3 * b; c42 += a4 * b; c52 += a5 * b; c62 += a6 * b; c72 += a7 * b;
    b = xp[bo + 3]!;
    c03 += a0 * b; c13 += a1 * b; c23 += a2 * b; c33 += a3 * b; c43 += a4 * b; c53 += a5 * b; c63 += a6 * b; c73 += a7 * b;
    b = xp[bo + 4]!;
    c04 += a0 * b; c14 += a1 * b; c24 += a2 * b; c34 += a3 * b; c44 += a4 * b; c54 += a5 * b; c64 += a6 * b; c74 += a7 * b;
    b = xp[bo + 5]!;
    c05 += a0 * b; c15 += a1 * b; c25 += a2 * b; c35 += a3 * b; c45 += a4 * b; c55 += a5 * b; c65 += a6 * b; c75 += a7 * b;
    b = xp[bo + 6]!;
    c06 += a0 * b; c16 += a1 * b; c26 += a2 * b; c36 += a3 * b; c46 += a4 * b; c56 += a5 * b; c66 += a6 * b; c76 += a7 * b;
    b = xp[bo + 7]!;
    c07 += a0 * b; c17 += a1 * b; c27 += a2 * b; c37 += a3 * b; c47 += a4 * b; c57 += a5 * b; c67 += a6 * b; c77 += a7 * b;
    ia += 8;
  }
  let o = co;
  C[o] = C[o]! + c00; C[o + 1] = C[o + 1]! + c01; C[o + 2] = C[o + 2]! + c02; C[o + 3] = C[o + 3]! + c03; C[o + 4] = C[o + 4]! + c04; C[o + 5] = C[o + 5]! + c05; C[o + 6] = C[o + 6]! + c06; C[o + 7] = C[o + 7]! + c07;
  o += ldc;
  C[o] = C[o]! + c10; C[o + 1] = C[o + 1]! + c11; C[o + 2] = C[o + 2]! + c12; C[o + 3] = C[o + 3]! + c13; C[o + 4] = C[o + 4]! + c14; C[o + 5] = C[o + 5]! + c15; C[o + 6] = C[o + 6]! + c16; C[o + 7] = C[o + 7]! + c17;
  o += ldc;
  C[o] = C[o]! + c20; C[o + 1] = C[o + 1]! + c21; C[o + 2] = C[o + 2]! + c22; C[o + 3] = C[o + 3]! + c23; C[o + 4] = C[o + 4]! + c24; C[o + 5] = C[o + 5]! + c25; C[o + 6] = C[o + 6]! + c26; C[o + 7] = C[o + 7]! + c27;
  o += ldc;
  C[o] = C[o]! + c30; C[o + 1] = C[o + 1]! + c31; C[o + 2] = C[o + 2]! + c32; C[o + 3] = C[o + 3]! + c33; C[o + 4] = C[o + 4]! + c34; C[o + 5] = C[o + 5]! + c35; C[o + 6] = C[o + 6]! + c36; C[o + 7] = C[o + 7]! + c37;
  o += ldc;
  C[o] = C[o]! + c40; C[o + 1] = C[o + 1]! + c41; C[o + 2] = C[o + 2]! + c42; C[o + 3] = C[o + 3]! + c43; C[o + 4] = C[o + 4]! + c44; C[o + 5] = C[o + 5]! + c45; C[o + 6] = C[o + 6]! + c46; C[o + 7] = C[o + 7]! + c47;
  o += ldc;
  C[o] = C[o]! + c50; C[o + 1] = C[o + 1]! + c51; C[o + 2] = C[o + 2]! + c52; C[o + 3] = C[o + 3]! + c53; C[o + 4] = C[o + 4]! + c54; C[o + 5] = C[o + 5]! + c55; C[o + 6] = C[o + 6]! + c56; C[o + 7] = C[o + 7]! + c57;
  o += ldc;
  C[o] = C[o]! + c60; C[o + 1] = C[o + 1]! + c61; C[o + 2] = C[o + 2]! + c62; C[o + 3] = C[o + 3]! + c63; C[o + 4] = C[o + 4]! + c64; C[o + 5] = C[o + 5]! + c65; C[o + 6] = C[o + 6]! + c66; C[o + 7] = C[o + 7]! + c67;
  o += ldc;
  C[o] = C[o]! + c70; C[o + 1] = C[o + 1]! + c71; C[o + 2] = C[o + 2]! + c72; C[o + 3] = C[o + 3]! + c73; C[o + 4] = C[o + 4]! + c74; C[o + 5] = C[o + 5]! + c75; C[o + 6] = C[o + 6]! + c76; C[o + 7] = C[o + 7]! + c77;
}

/**
 * Implicit-GEMM convolution micro-kernel for any 8 output positions (any stride, tiles that cross
 * rows): X(k, c) = xp[koff[k] + d[c]], d = the positions' offsets into the padded image.
 */
export function mkConvG(
  K: number, pa: Float64Array, ia: number, xp: Float64Array, koff: Int32Array, d: Int32Array,
  C: F, co: number, ldc: number,
): void {
  const d0 = d[0]!, d1 = d[1]!, d2 = d[2]!, d3 = d[3]!, d4 = d[4]!, d5 = d[5]!, d6 = d[6]!, d7 = d[7]!;
  let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c04 = 0, c05 = 0, c06 = 0, c07 = 0;
  let c10 = 0, c11 = 0, c12 = 0, c13 = 0, c14 = 0, c15 = 0, c16 = 0, c17 = 0;
  let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c24 = 0, c25 = 0, c26 = 0, c27 = 0;
  let c30 = 0, c31 = 0, c32 = 0, c33 = 0, c34 = 0, c35 = 0, c36 = 0, c37 = 0;
  let c40 = 0, c41 = 0, c42 = 0, c43 = 0, c44 = 0, c45 = 0, c46 = 0, c47 = 0;
  let c50 = 0, c51 = 0, c52 = 0, c53 = 0, c54 = 0, c55 = 0, c56 = 0, c57 = 0;
  let c60 = 0, c61 = 0, c62 = 0, c63 = 0, c64 = 0, c65 = 0, c66 = 0, c67 = 0;
  let c70 = 0, c71 = 0, c72 = 0, c73 = 0, c74 = 0, c75 = 0, c76 = 0, c77 = 0;
  for (let k = 0; k < K; k++) {
    const bo = koff[k]!;
    const a0 = pa[ia]!, a1 = pa[ia + 1]!, a2 = pa[ia + 2]!, a3 = pa[ia + 3]!;
    const a4 = pa[ia + 4]!, a5 = pa[ia + 5]!, a6 = pa[ia + 6]!, a7 = pa[ia + 7]!;
    let b = xp[bo + d0]!;
    c00 += a0 * b; c10 += a1 * b; c20 += a2 * b; c30 += a3 * b; c40 += a4 * b; c50 += a5 * b; c60 += a6 * b; c70 += a7 * b;
    b = xp[bo + d1]!;
    c01 += a0 * b; c11 += a1 * b; c21 += a2 * b; c31 += a3 * b; c41 += a4 * b; c51 += a5 * b; c61 += a6 * b; c71 += a7 * b;
    b = xp[bo + d2]!;
    c02 += a0 * b; c12 += a1 * b; c22 += a2 * b; c32 += a3 * b; c42 += a4 * b; c52 += a5 * b; c62 += a6 * b; c72 += a7 * b;
    b = xp[bo + d3]!;
    c03 += a0 * b; c13 += a1 * b; c23 += a2 * b; c33 += a3 * b; c43 += a4 * b; c53 += a5 * b; c63 += a6 * b; c73 += a7 * b;
    b = xp[bo + d4]!;
    c04 += a0 * b; c14 += a1 * b; c24 += a2 * b; c34 += a3 * b; c44 += a4 * b; c54 += a5 * b; c64 += a6 * b; c74 += a7 * b;
    b = xp[bo + d5]!;
    c05 += a0 * b; c15 += a1 * b; c25 += a2 * b; c35 += a3 * b; c45 += a4 * b; c55 += a5 * b; c65 += a6 * b; c75 += a7 * b;
    b = xp[bo + d6]!;
    c06 += a0 * b; c16 += a1 * b; c26 += a2 * b; c36 += a3 * b; c46 += a4 * b; c56 += a5 * b; c66 += a6 * b; c76 += a7 * b;
    b = xp[bo + d7]!;
    c07 += a0 * b; c17 += a1 * b; c27 += a2 * b; c37 += a3 * b; c47 += a4 * b; c57 += a5 * b; c67 += a6 * b; c77 += a7 * b;
    ia += 8;
  }
  let o = co;
  C[o] = C[o]! + c00; C[o + 1] = C[o + 1]! + c01; C[o + 2] = C[o + 2]! + c02; C[o + 3] = C[o + 3]! + c03; C[o + 4] = C[o + 4]! + c04; C[o + 5] = C[o + 5]! + c05; C[o + 6] = C[o + 6]! + c06; C[o + 7] = C[o + 7]! + c07;
  o += ldc;
  C[o] = C[o]! + c10; C[o + 1] = C[o + 1]! + c11; C[o + 2] = C[o + 2]! + c12; C[o + 3] = C[o + 3]! + c13; C[o + 4] = C[o + 4]! + c14; C[o + 5] = C[o + 5]! + c15; C[o + 6] = C[o + 6]! + c16; C[o + 7] = C[o + 7]! + c17;
  o += ldc;
  C[o] = C[o]! + c20; C[o + 1] = C[o + 1]! + c21; C[o + 2] = C[o + 2]! + c22; C[o + 3] = C[o + 3]! + c23; C[o + 4] = C[o + 4]! + c24; C[o + 5] = C[o + 5]! + c25; C[o + 6] = C[o + 6]! + c26; C[o + 7] = C[o + 7]! + c27;
  o += ldc;
  C[o] = C[o]! + c30; C[o + 1] = C[o + 1]! + c31; C[o + 2] = C[o + 2]! + c32; C[o + 3] = C[o + 3]! + c33; C[o + 4] = C[o + 4]! + c34; C[o + 5] = C[o + 5]! + c35; C[o + 6] = C[o + 6]! + c36; C[o + 7] = C[o + 7]! + c37;
  o += ldc;
  C[o] = C[o]! + c40; C[o + 1] = C[o + 1]! + c41; C[o + 2] = C[o + 2]! + c42; C[o + 3] = C[o + 3]! + c43; C[o + 4] = C[o + 4]! + c44; C[o + 5] = C[o + 5]! + c45; C[o + 6] = C[o + 6]! + c46; C[o + 7] = C[o + 7]! + c47;
  o += ldc;
  C[o] = C[o]! + c50; C[o + 1] = C[o + 1]! + c51; C[o + 2] = C[o + 2]! + c52; C[o + 3] = C[o + 3]! + c53; C[o + 4] = C[o + 4]! + c54; C[o + 5] = C[o + 5]! + c55; C[o + 6] = C[o + 6]! + c56; C[o + 7] = C[o + 7]! + c57;
  o += ldc;
  C[o] = C[o]! + c60; C[o + 1] = C[o + 1]! + c61; C[o + 2] = C[o + 2]! + c62; C[o + 3] = C[o + 3]! + c63; C[o + 4] = C[o + 4]! + c64; C[o + 5] = C[o + 5]! + c65; C[o + 6] = C[o + 6]! + c66; C[o + 7] = C[o + 7]! + c67;
  o += ldc;
  C[o] = C[o]! + c70; C[o + 1] = C[o + 1]! + c71; C[o + 2] = C[o + 2]! + c72; C[o + 3] = C[o + 3]! + c73; C[o + 4] = C[o + 4]! + c74; C[o + 5] = C[o + 5]! + c75; C[o + 6] = C[o + 6]! + c76; C[o + 7] = C[o + 7]! + c77;
}

/**
 * Weight-gradient micro-kernel: dw[8×8 at co] += Σ_p dyPanel(8, p) · X(p, k0 + c) over all HO×WO
 * output positions p = (oh, ow), X(p, k) = xp[koff[k] + oh*rowStep + ow*s] (xp = zero-padded
 * float64 image); dy packed as pa[ia + p*8 + r]. koff must have 8 readable entries from k0.
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
  let c40 = 0, c41 = 0, c42 = 0, c43 = 0, c44 = 0, c45 = 0, c46 = 0, c47 = 0;
  let c50 = 0, c51 = 0, c52 = 0, c53 = 0, c54 = 0, c55 = 0, c56 = 0, c57 = 0;
  let c60 = 0, c61 = 0, c62 = 0, c63 = 0, c64 = 0, c65 = 0, c66 = 0, c67 = 0;
  let c70 = 0, c71 = 0, c72 = 0, c73 = 0, c74 = 0, c75 = 0, c76 = 0, c77 = 0;
  for (let oh = 0; oh < HO; oh++) {
    let q = oh * rowStep;
    for (let ow = 0; ow < WO; ow++) {
      const a0 = pa[ia]!, a1 = pa[ia + 1]!, a2 = pa[ia + 2]!, a3 = pa[ia + 3]!;
      const a4 = pa[ia + 4]!, a5 = pa[ia + 5]!, a6 = pa[ia + 6]!, a7 = pa[ia + 7]!;
      let b = xp[f0 + q]!;
      c00 += a0 * b; c10 += a1 * b; c20 += a2 * b; c30 += a3 * b; c40 += a4 * b; c50 += a5 * b; c60 += a6 * b; c70 += a7 * b;
      b = xp[f1 + q]!;
      c01 += a0 * b; c11 += a1 * b; c21 += a2 * b; c31 += a3 * b; c41 += a4 * b; c51 += a5 * b; c61 += a6 * b; c71 += a7 * b;
      b = xp[f2 + q]!;
      c02 += a0 * b; c12 += a1 * b; c22 += a2 * b; c32 += a3 * b; c42 += a4 * b; c52 += a5 * b; c62 += a6 * b; c72 += a7 * b;
      b = xp[f3 + q]!;
      c03 += a0 * b; c13 += a1 * b; c23 += a2 * b; c33 += a3 * b; c43 += a4 * b; c53 += a5 * b; c63 += a6 * b; c73 += a7 * b;
      b = xp[f4 + q]!;
      c04 += a0 * b; c14 += a1 * b; c24 += a2 * b; c34 += a3 * b; c44 += a4 * b; c54 += a5 * b; c64 += a6 * b; c74 += a7 * b;
      b = xp[f5 + q]!;
      c05 += a0 * b; c15 += a1 * b; c25 += a2 * b; c35 += a3 * b; c45 += a4 * b; c55 += a5 * b; c65 += a6 * b; c75 += a7 * b;
      b = xp[f6 + q]!;
      c06 += a0 * b; c16 += a1 * b; c26 += a2 * b; c36 += a3 * b; c46 += a4 * b; c56 += a5 * b; c66 += a6 * b; c76 += a7 * b;
      b = xp[f7 + q]!;
      c07 += a0 * b; c17 += a1 * b; c27 += a2 * b; c37 += a3 * b; c47 += a4 * b; c57 += a5 * b; c67 += a6 * b; c77 += a7 * b;
      ia += 8;
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
  o += ldc;
  C[o] = C[o]! + c40; C[o + 1] = C[o + 1]! + c41; C[o + 2] = C[o + 2]! + c42; C[o + 3] = C[o + 3]! + c43; C[o + 4] = C[o + 4]! + c44; C[o + 5] = C[o + 5]! + c45; C[o + 6] = C[o + 6]! + c46; C[o + 7] = C[o + 7]! + c47;
  o += ldc;
  C[o] = C[o]! + c50; C[o + 1] = C[o + 1]! + c51; C[o + 2] = C[o + 2]! + c52; C[o + 3] = C[o + 3]! + c53; C[o + 4] = C[o + 4]! + c54; C[o + 5] = C[o + 5]! + c55; C[o + 6] = C[o + 6]! + c56; C[o + 7] = C[o + 7]! + c57;
  o += ldc;
  C[o] = C[o]! + c60; C[o + 1] = C[o + 1]! + c61; C[o + 2] = C[o + 2]! + c62; C[o + 3] = C[o + 3]! + c63; C[o + 4] = C[o + 4]! + c64; C[o + 5] = C[o + 5]! + c65; C[o + 6] = C[o + 6]! + c66; C[o + 7] = C[o + 7]! + c67;
  o += ldc;
  C[o] = C[o]! + c70; C[o + 1] = C[o + 1]! + c71; C[o + 2] = C[o + 2]! + c72; C[o + 3] = C[o + 3]! + c73; C[o + 4] = C[o + 4]! + c74; C[o + 5] = C[o + 5]! + c75; C[o + 6] = C[o + 6]! + c76; C[o + 7] = C[o + 7]! + c77;
}

/**
 * One output channel × 8 consecutive positions of one row, stride 1 (used for the last 1–3 output
 * channels when O is not a multiple of 8): C[co + c] += Σ_k pa[ia + 8k] · xp[koff[k] + base + c].
 */
export function mkConvRowS1(
  K: number, pa: Float64Array, ia: number, xp: Float64Array, koff: Int32Array, base: number, C: F, co: number,
): void {
  let r0 = 0, r1 = 0, r2 = 0, r3 = 0, r4 = 0, r5 = 0, r6 = 0, r7 = 0;
  for (let k = 0; k < K; k++) {
    const bo = koff[k]! + base;
    const a = pa[ia]!;
    r0 += a * xp[bo]!; r1 += a * xp[bo + 1]!; r2 += a * xp[bo + 2]!; r3 += a * xp[bo + 3]!; r4 += a * xp[bo + 4]!; r5 += a * xp[bo + 5]!; r6 += a * xp[bo + 6]!; r7 += a * xp[bo + 7]!;
    ia += 8;
  }
  C[co] = C[co]! + r0; C[co + 1] = C[co + 1]! + r1; C[co + 2] = C[co + 2]! + r2; C[co + 3] = C[co + 3]! + r3; C[co + 4] = C[co + 4]! + r4; C[co + 5] = C[co + 5]! + r5; C[co + 6] = C[co + 6]! + r6; C[co + 7] = C[co + 7]! + r7;
}

/** As mkConvRowS1 for any 8 positions: C[co + c] += Σ_k pa[ia + 8k] · xp[koff[k] + d[c]]. */
export function mkConvRowG(
  K: number, pa: Float64Array, ia: number, xp: Float64Array, koff: Int32Array, d: Int32Array, C: F, co: number,
): void {
  const d0 = d[0]!, d1 = d[1]!, d2 = d[2]!, d3 = d[3]!, d4 = d[4]!, d5 = d[5]!, d6 = d[6]!, d7 = d[7]!;
  let r0 = 0, r1 = 0, r2 = 0, r3 = 0, r4 = 0, r5 = 0, r6 = 0, r7 = 0;
  for (let k = 0; k < K; k++) {
    const bo = koff[k]!;
    const a = pa[ia]!;
    r0 += a * xp[bo + d0]!; r1 += a * xp[bo + d1]!; r2 += a * xp[bo + d2]!; r3 += a * xp[bo + d3]!; r4 += a * xp[bo + d4]!; r5 += a * xp[bo + d5]!; r6 += a * xp[bo + d6]!; r7 += a * xp[bo + d7]!;
    ia += 8;
  }
  C[co] = C[co]! + r0; C[co + 1] = C[co + 1]! + r1; C[co + 2] = C[co + 2]! + r2; C[co + 3] = C[co + 3]! + r3; C[co + 4] = C[co + 4]! + r4; C[co + 5] = C[co + 5]! + r5; C[co + 6] = C[co + 6]! + r6; C[co + 7] = C[co + 7]! + r7;
}

/** One output channel of the weight gradient (see mkWgrad): C[co + c] += Σ_p pa[ia + 8p] · X(p, k0 + c). */
export function mkWgradRow(
  HO: number, WO: number, s: number, rowStep: number, pa: Float64Array, ia: number,
  xp: Float64Array, koff: Int32Array, k0: number, C: F, co: number,
): void {
  const f0 = koff[k0]!, f1 = koff[k0 + 1]!, f2 = koff[k0 + 2]!, f3 = koff[k0 + 3]!;
  const f4 = koff[k0 + 4]!, f5 = koff[k0 + 5]!, f6 = koff[k0 + 6]!, f7 = koff[k0 + 7]!;
  let r0 = 0, r1 = 0, r2 = 0, r3 = 0, r4 = 0, r5 = 0, r6 = 0, r7 = 0;
  for (let oh = 0; oh < HO; oh++) {
    let q = oh * rowStep;
    for (let ow = 0; ow < WO; ow++) {
      const a = pa[ia]!;
      r0 += a * xp[f0 + q]!; r1 += a * xp[f1 + q]!; r2 += a * xp[f2 + q]!; r3 += a * xp[f3 + q]!; r4 += a * xp[f4 + q]!; r5 += a * xp[f5 + q]!; r6 += a * xp[f6 + q]!; r7 += a * xp[f7 + q]!;
      ia += 8;
      q += s;
    }
  }
  C[co] = C[co]! + r0; C[co + 1] = C[co + 1]! + r1; C[co + 2] = C[co + 2]! + r2; C[co + 3] = C[co + 3]! + r3; C[co + 4] = C[co + 4]! + r4; C[co + 5] = C[co + 5]! + r5; C[co + 6] = C[co + 6]! + r6; C[co + 7] = C[co + 7]! + r7;
}

/** Adds the valid mr×nr corner of an 8×8 `tile` (row stride 8) into C and clears the tile. */
export function addTile(tile: Float64Array, mr: number, nr: number, C: F, co: number, ldc: number): void {
  for (let r = 0; r < mr; r++) {
    const o = co + r * ldc;
    for (let c = 0; c < nr; c++) C[o + c] = C[o + c]! + tile[r * 8 + c]!;
  }
  for (let t = 0; t < 64; t++) tile[t] = 0;
}

/**
 * Pack an M×K block of A (element (i,k) at A[aOff + i*rs + k*cs]) into 8-row panels:
 * out[i0*K + k*8 + r] = A(i0 + r, k) for i0 = 0, 8, 16, ...; rows ≥ M zero-filled.
 * Needs ceil(M/8)*8*K elements.
 */
export function packA(A: F, aOff: number, rs: number, cs: number, M: number, K: number, out: Float64Array): void {
  for (let i0 = 0; i0 < M; i0 += 8) {
    const base = i0 * K;
    const mr = M - i0 < 8 ? M - i0 : 8;
    if (cs === 1) {
      for (let r = 0; r < mr; r++) {
        let src = aOff + (i0 + r) * rs;
        let dst = base + r;
        for (let k = 0; k < K; k++) {
          out[dst] = A[src]!;
          src++;
          dst += 8;
        }
      }
    } else {
      for (let k = 0; k < K; k++) {
        const src = aOff + i0 * rs + k * cs;
        const dst = base + k * 8;
        for (let r = 0; r < mr; r++) out[dst + r] = A[src + r * rs]!;
      }
    }
    if (mr < 8) {
      for (let k = 0; k < K; k++) for (let r = mr; r < 8; r++) out[base + k * 8 + r] = 0;
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

/** Rows of a K-block in the packed GEMM (packed A block MC×KC ≈ 256 KiB stays in L2). */
export function gemmKC(): number {
  return 256;
}

/**
 * Pack the whole K×N operand B (element (k,j) at B[bOff + k*rs + j*cs]) for gemmPackedB: for each
 * K-block starting at row pc (kc = min(KC, K - pc) rows) and each 8-column panel starting at jc,
 * out[pc*Np + jc*kc + k*8 + c] with Np = ceil(N/8)*8; columns ≥ N zero-filled. Needs K*Np elements.
 */
export function packBAll(B: F, bOff: number, rs: number, cs: number, K: number, N: number, out: Float64Array): void {
  const KC = gemmKC();
  const Np = ((N + 7) >> 3) << 3;
  for (let pc = 0; pc < K; pc += KC) {
    const kc = K - pc < KC ? K - pc : KC;
    for (let jc = 0; jc < N; jc += 8) {
      const nr = N - jc < 8 ? N - jc : 8;
      packB(B, bOff + pc * rs, rs, cs, kc, jc, nr, out, pc * Np + jc * kc);
    }
  }
}

/**
 * C[M×N] (row stride ldc, at cOff) += A·B with B pre-packed by packBAll and strided A
 * (i,k) -> A[aOff + i*ars + k*acs]. A is packed in blocks of MC = 128 rows × KC columns.
 */
export function gemmPackedB(
  M: number, N: number, K: number, A: F, aOff: number, ars: number, acs: number,
  pb: Float64Array, C: F, cOff: number, ldc: number, ws: Workspace,
): void {
  const KC = gemmKC();
  const MC = 128;
  const Np = ((N + 7) >> 3) << 3;
  const pa = wsBuf(ws, 'gemmA', MC * KC);
  const tile = wsBuf(ws, 'tile', 64);
  tile.fill(0, 0, 64);
  for (let pc = 0; pc < K; pc += KC) {
    const kc = K - pc < KC ? K - pc : KC;
    for (let ic = 0; ic < M; ic += MC) {
      const mc = M - ic < MC ? M - ic : MC;
      packA(A, aOff + ic * ars + pc * acs, ars, acs, mc, kc, pa);
      for (let jc = 0; jc < N; jc += 8) {
        const nr = N - jc < 8 ? N - jc : 8;
        const ib = pc * Np + jc * kc;
        for (let ir = 0; ir < mc; ir += 8) {
          const mr = mc - ir < 8 ? mc - ir : 8;
          const co = cOff + (ic + ir) * ldc + jc;
          if (mr === 8 && nr === 8) {
            mk8x8(kc, pa, ir * kc, pb, ib, C, co, ldc);
          } else {
            mk8x8(kc, pa, ir * kc, pb, ib, tile, 0, 8);
            addTile(tile, mr, nr, C, co, ldc);
          }
        }
      }
    }
  }
}

/** Single-threaded C[M×N] += A·B for strided A and B (packs B into the workspace, then gemmPackedB). */
export function gemmAcc(
  M: number, N: number, K: number,
  A: F, aOff: number, ars: number, acs: number,
  B: F, bOff: number, brs: number, bcs: number,
  C: F, cOff: number, ldc: number, ws: Workspace,
): void {
  const Np = ((N + 7) >> 3) << 3;
  const pb = wsBuf(ws, 'gemmBAll', K * Np);
  packBAll(B, bOff, brs, bcs, K, N, pb);
  gemmPackedB(M, N, K, A, aOff, ars, acs, pb, C, cOff, ldc, ws);
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
    const n = C * H * W;
    for (let i = 0; i < n; i++) xp[i] = x[xo + i]!;
    xp.fill(0, n, n + slack);
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
 * GEMM over a zero-padded copy of each image. The output positions p = oh*WO + ow are cut into
 * tiles of 8 consecutive p (contiguous in the output); a tile inside one row at stride 1 uses
 * mkConvS1, any other tile (row-crossing, stride > 1) mkConvG. The output is overwritten
 * (bias or 0, plus the convolution).
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
  const d = wsInt(ws, 'dpos', 8);
  const tile = wsBuf(ws, 'tile', 64);
  tile.fill(0, 0, 64);
  tapOffsets(C, KH, KW, Hp, Wp, koff);
  const rowStep = s * Wp;
  for (let img = 0; img < count; img++) {
    const oo = outOff + img * O * P;
    padImage(x, xOff + img * C * H * W, C, H, W, ph, pw, xp, slack);
    for (let o = 0; o < O; o++) {
      const v = bias === null ? 0 : bias[o]!;
      out.fill(v, oo + o * P, oo + (o + 1) * P);
    }
    let oh = 0;
    let ow = 0;
    for (let p0 = 0; p0 < P; p0 += 8) {
      const nr = P - p0 < 8 ? P - p0 : 8;
      const inRow = s === 1 && nr === 8 && ow + 8 <= WO;
      const base = oh * rowStep + ow * s;
      if (!inRow) {
        let h = oh;
        let w = ow;
        for (let c = 0; c < 8; c++) {
          d[c] = c < nr ? h * rowStep + w * s : base;
          w++;
          if (w === WO) {
            w = 0;
            h++;
          }
        }
      }
      for (let i = 0; i < O; i += 8) {
        const mr = O - i < 8 ? O - i : 8;
        const co = oo + i * P + p0;
        if (mr === 8 && nr === 8) {
          if (inRow) mkConvS1(K, wp, i * K, xp, koff, base, out, co, P);
          else mkConvG(K, wp, i * K, xp, koff, d, out, co, P);
        } else if (mr <= 3) {
          // last 1–3 output channels: one row at a time instead of a mostly empty 8-row tile
          for (let r = 0; r < mr; r++) {
            if (nr === 8) {
              if (inRow) mkConvRowS1(K, wp, i * K + r, xp, koff, base, out, co + r * P);
              else mkConvRowG(K, wp, i * K + r, xp, koff, d, out, co + r * P);
            } else {
              mkConvRowG(K, wp, i * K + r, xp, koff, d, tile, 0);
              addTile(tile, 1, nr, out, co + r * P, P);
            }
          }
        } else {
          if (inRow) mkConvS1(K, wp, i * K, xp, koff, base, tile, 0, 8);
          else mkConvG(K, wp, i * K, xp, koff, d, tile, 0, 8);
          addTile(tile, mr, nr, out, co, P);
        }
      }
      ow += 8;
      while (ow >= WO) {
        ow -= WO;
        oh++;
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
  const tile = wsBuf(ws, 'tile', 64);
  tile.fill(0, 0, 64);
  for (let img = 0; img < count; img++) {
    const dyo = dyOff + img * O * P;
    const xo = dxOff + img * C * H * W;
    cols.fill(0, 0, K * P);
    for (let j = 0; j < P; j += 8) {
      const nr = P - j < 8 ? P - j : 8;
      packB(dy, dyo, P, 1, O, j, nr, pb, 0);
      for (let i = 0; i < K; i += 8) {
        const mr = K - i < 8 ? K - i : 8;
        if (mr === 8 && nr === 8) {
          mk8x8(O, wtp, i * O, pb, 0, cols, i * P + j, P);
        } else {
          mk8x8(O, wtp, i * O, pb, 0, tile, 0, 8);
          addTile(tile, mr, nr, cols, i * P + j, P);
        }
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
        const dd = pw - kw;
        let lo = dd > 0 ? ((dd + s - 1) / s) | 0 : 0;
        let hi = Math.floor((W - 1 + dd) / s) + 1;
        if (lo > WO) lo = WO;
        if (hi > WO) hi = WO;
        for (let oh = 0; oh < HO; oh++) {
          const ih = oh * s - ph + kh;
          if (ih < 0 || ih >= H) continue;
          let xi = xo + (ci * H + ih) * W + lo * s - dd;
          let c0 = k * P + oh * WO + lo;
          for (let ow = lo; ow < hi; ow++) {
            dx[xi] = dx[xi]! + cols[c0]!;
            xi += s;
            c0++;
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
 * a zero-padded copy of each image; dy is packed into 8-row panels.
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
  const Op = ((O + 7) >> 3) << 3;
  const slack = 8;
  const xp = wsBuf(ws, 'xpad', C * Hp * Wp + slack);
  const koff = wsInt(ws, 'koff', K + 8);
  const pa = wsBuf(ws, 'wgradA', Op * P);
  const tile = wsBuf(ws, 'tile', 64);
  tile.fill(0, 0, 64);
  tapOffsets(C, KH, KW, Hp, Wp, koff);
  const rowStep = s * Wp;
  for (let img = 0; img < count; img++) {
    padImage(x, xOff + img * C * H * W, C, H, W, ph, pw, xp, slack);
    packA(dy, dyOff + img * O * P, P, 1, O, P, pa);
    for (let k0 = 0; k0 < K; k0 += 8) {
      const nk = K - k0 < 8 ? K - k0 : 8;
      for (let i = 0; i < O; i += 8) {
        const mr = O - i < 8 ? O - i : 8;
        if (mr === 8 && nk === 8) {
          mkWgrad(HO, WO, s, rowStep, pa, i * P, xp, koff, k0, dw, i * K + k0, K);
        } else if (mr <= 3) {
          for (let r = 0; r < mr; r++) {
            if (nk === 8) {
              mkWgradRow(HO, WO, s, rowStep, pa, i * P + r, xp, koff, k0, dw, (i + r) * K + k0);
            } else {
              mkWgradRow(HO, WO, s, rowStep, pa, i * P + r, xp, koff, k0, tile, 0);
              addTile(tile, 1, nk, dw, (i + r) * K + k0, K);
            }
          }
        } else {
          mkWgrad(HO, WO, s, rowStep, pa, i * P, xp, koff, k0, tile, 0, 8);
          addTile(tile, mr, nk, dw, i * K + k0, K);
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Dynamically scheduled loops: every participating thread (main included) grabs the next image
// (or row block) from a shared counter, so a thread that is slowed down (other load on the
// machine) simply takes fewer items. `who[i]` records which thread (`me`) produced item i.

/** Forward convolution over a batch, dynamically scheduled by image (see convFwdImages). */
export function convFwdDyn(
  x: F, count: number, C: number, H: number, W: number,
  wp: Float64Array, O: number, KH: number, KW: number, s: number, ph: number, pw: number,
  HO: number, WO: number, bias: F | null, out: F, ctr: Int32Array, who: Int32Array, me: number, ws: Workspace,
): void {
  const CHW = C * H * W;
  const OP = O * HO * WO;
  for (;;) {
    const i = Atomics.add(ctr, 0, 1);
    if (i >= count) return;
    convFwdImages(x, i * CHW, 1, C, H, W, wp, O, KH, KW, s, ph, pw, HO, WO, bias, out, i * OP, ws);
    who[i] = me;
  }
}

/** GEMM + col2im input gradient over a batch, dynamically scheduled by image. */
export function convBwdInGemmDyn(
  dy: F, count: number, O: number, HO: number, WO: number,
  wtp: Float64Array, C: number, H: number, W: number, KH: number, KW: number,
  s: number, ph: number, pw: number, dx: F, ctr: Int32Array, who: Int32Array, me: number, ws: Workspace,
): void {
  const CHW = C * H * W;
  const OP = O * HO * WO;
  for (;;) {
    const i = Atomics.add(ctr, 0, 1);
    if (i >= count) return;
    convBwdInputGemmImages(dy, i * OP, 1, O, HO, WO, wtp, C, H, W, KH, KW, s, ph, pw, dx, i * CHW, ws);
    who[i] = me;
  }
}

/** Weight gradient over a batch into this thread's float64 accumulator `dw`, dynamically scheduled by image. */
export function convBwdWDyn(
  dy: F, count: number, O: number, HO: number, WO: number,
  x: F, C: number, H: number, W: number, KH: number, KW: number,
  s: number, ph: number, pw: number, dw: Float64Array, ctr: Int32Array, who: Int32Array, me: number, ws: Workspace,
): void {
  const CHW = C * H * W;
  const OP = O * HO * WO;
  for (;;) {
    const i = Atomics.add(ctr, 0, 1);
    if (i >= count) return;
    convBwdWeightImages(dy, i * OP, 1, O, HO, WO, x, i * CHW, C, H, W, KH, KW, s, ph, pw, dw, ws);
    who[i] = me;
  }
}

/** C += A·B (B pre-packed by packBAll) by blocks of `rb` rows, dynamically scheduled. */
export function gemmDyn(
  M: number, N: number, K: number, A: F, aOff: number, ars: number, acs: number,
  pb: Float64Array, C: F, cOff: number, ldc: number, rb: number,
  ctr: Int32Array, who: Int32Array, me: number, ws: Workspace,
): void {
  const nb = ((M + rb - 1) / rb) | 0;
  for (;;) {
    const b = Atomics.add(ctr, 0, 1);
    if (b >= nb) return;
    const r0 = b * rb;
    const rows = M - r0 < rb ? M - r0 : rb;
    gemmPackedB(rows, N, K, A, aOff + r0 * ars, ars, acs, pb, C, cOff + r0 * ldc, ldc, ws);
    who[b] = me;
  }
}

/** Job descriptor exchanged with workers (all arrays live in SharedArrayBuffers). */
export interface KernelJob {
  op: 'fwd' | 'bwdInGemm' | 'bwdW' | 'gemm' | 'wasm';
  [key: string]: unknown;
}

/**
 * A WebAssembly kernel job (src/kernels/wasm): run export `fn$items(argsPtr, ctrByte, count)` of the
 * module cached under `key`, which runs `fn(argsPtr, item)` for every item it takes from the shared counter
 * (an i32 at byte `ctrByte` of the shared memory) while the item is below `count`. `memory` and `module` are sent only the first time a worker
 * needs them; the worker keeps its instances.
 */
export interface WasmJob {
  op: 'wasm';
  key: string;
  module?: WebAssembly.Module;
  memory?: WebAssembly.Memory;
  fn: string;
  argsPtr: number;
  ctrByte: number;
  count: number;
}

/** Worker side of a WasmJob: instantiates the module once per worker, then runs the kernel's item driver. */
export function runWasmJob(j: WasmJob, ws: Workspace): void {
  const cache = ws as unknown as { wasmMemory?: WebAssembly.Memory; wasmInstances?: Map<string, WebAssembly.Instance> };
  if (j.memory !== undefined) cache.wasmMemory = j.memory;
  if (cache.wasmInstances === undefined) cache.wasmInstances = new Map();
  const memory = cache.wasmMemory;
  if (memory === undefined) throw new Error('wasm job without a memory');
  let inst = cache.wasmInstances.get(j.key);
  if (inst === undefined) {
    if (j.module === undefined) throw new Error('wasm job for an unknown module ' + j.key);
    inst = new WebAssembly.Instance(j.module, { env: { memory } });
    cache.wasmInstances.set(j.key, inst);
  }
  // the module's driver takes items from the counter (an atomic add in WebAssembly) until none are left
  (inst.exports[j.fn + '$items'] as (argsPtr: number, counter: number, count: number) => void)(j.argsPtr, j.ctrByte, j.count);
}

/** The fields the jobs use (a job carries only those of its op). */
interface JobArgs {
  x: F; count: number; C: number; H: number; W: number;
  wp: Float64Array; wtp: Float64Array; O: number; KH: number; KW: number; s: number; ph: number; pw: number;
  HO: number; WO: number; bias: F | null; out: F;
  dy: F; dx: F; dw: Float64Array;
  M: number; N: number; K: number; A: F; aOff: number; ars: number; acs: number;
  pb: Float64Array; Cm: F; cOff: number; ldc: number; rb: number;
  ctr: Int32Array; who: Int32Array; me: number;
}

/** Worker-side dispatcher: runs one job descriptor. */
export function runKernelJob(j: KernelJob, ws: Workspace): void {
  const a = j as unknown as JobArgs;
  if (j.op === 'fwd') {
    convFwdDyn(a.x, a.count, a.C, a.H, a.W, a.wp, a.O, a.KH, a.KW, a.s, a.ph, a.pw, a.HO, a.WO, a.bias, a.out, a.ctr, a.who, a.me, ws);
  } else if (j.op === 'bwdInGemm') {
    convBwdInGemmDyn(a.dy, a.count, a.O, a.HO, a.WO, a.wtp, a.C, a.H, a.W, a.KH, a.KW, a.s, a.ph, a.pw, a.dx, a.ctr, a.who, a.me, ws);
  } else if (j.op === 'bwdW') {
    convBwdWDyn(a.dy, a.count, a.O, a.HO, a.WO, a.x, a.C, a.H, a.W, a.KH, a.KW, a.s, a.ph, a.pw, a.dw, a.ctr, a.who, a.me, ws);
  } else if (j.op === 'gemm') {
    gemmDyn(a.M, a.N, a.K, a.A, a.aOff, a.ars, a.acs, a.pb, a.Cm, a.cOff, a.ldc, a.rb, a.ctr, a.who, a.me, ws);
  } else {
    throw new Error('unknown kernel job ' + String(j.op));
  }
}
