/**
 * General matrix multiply over typed arrays, C[M,N] (+)= op(A)[M,K] · op(B)[K,N], with BLAS-like
 * transposition flags and row strides: the readable reference. One thread; each C(i,j) is one float64 sum
 * over k = 0 … K−1, rounded once into C's type. The loop runs along a row of B (j innermost), so the
 * JavaScript engine streams through memory.
 */
import type { TypedArray as F } from '../types.js';

export type { F };

function checkInt(name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new Error(`gemm: ${name} must be an integer ≥ ${min}, got ${v}`);
}

/**
 * C[M,N] (+)= op(A) · op(B).
 *
 * - `transA = false`: A(i,k) = A[aOff + i*lda + k] (A stored M×K); `true`: A(i,k) = A[aOff + k*lda + i]
 *   (A stored K×M, i.e. a transposed view without copying). Same for B with `transB`
 *   (false: B stored K×N; true: stored N×K).
 * - C(i,j) = C[cOff + i*ldc + j]. With `accumulate` the product is added (beta = 1), otherwise
 *   the M×N block is overwritten (beta = 0).
 * Any mix of Float32Array/Float64Array works; accumulation is in float64.
 */
export function gemm(
  transA: boolean,
  transB: boolean,
  M: number,
  N: number,
  K: number,
  A: F,
  aOff: number,
  lda: number,
  B: F,
  bOff: number,
  ldb: number,
  C: F,
  cOff: number,
  ldc: number,
  accumulate: boolean,
): void {
  checkInt('M', M, 0);
  checkInt('N', N, 0);
  checkInt('K', K, 0);
  checkInt('aOff', aOff, 0);
  checkInt('bOff', bOff, 0);
  checkInt('cOff', cOff, 0);
  checkInt('lda', lda, 0);
  checkInt('ldb', ldb, 0);
  checkInt('ldc', ldc, 0);
  if (M === 0 || N === 0) return;
  if (M > 1 && ldc < N) throw new Error(`gemm: ldc (${ldc}) must be ≥ N (${N})`);
  if (cOff + (M - 1) * ldc + N > C.length) throw new Error('gemm: C is too small for M, N, cOff, ldc');
  const ars = transA ? 1 : lda;
  const acs = transA ? lda : 1;
  const brs = transB ? 1 : ldb;
  const bcs = transB ? ldb : 1;
  if (K > 0) {
    if (aOff + (M - 1) * ars + (K - 1) * acs >= A.length) throw new Error('gemm: A is too small for M, K, aOff, lda');
    if (bOff + (K - 1) * brs + (N - 1) * bcs >= B.length) throw new Error('gemm: B is too small for K, N, bOff, ldb');
  }

  const row = new Float64Array(N);
  for (let i = 0; i < M; i++) {
    row.fill(0);
    for (let k = 0; k < K; k++) {
      const a = A[aOff + i * ars + k * acs]!;
      const b0 = bOff + k * brs;
      for (let j = 0; j < N; j++) row[j] = row[j]! + a * B[b0 + j * bcs]!;
    }
    const c0 = cOff + i * ldc;
    if (accumulate) for (let j = 0; j < N; j++) C[c0 + j] = C[c0 + j]! + row[j]!;
    else C.set(row, c0);
  }
}
