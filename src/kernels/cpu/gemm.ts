/**
 * General matrix multiply over typed arrays: C[M,N] (+)= op(A)[M,K] · op(B)[K,N], row-major with
 * row strides, BLAS-like transposition flags. Packed panels + 8×8 register-tiled micro-kernel
 * (see kernels.ts); large products are split by rows over the thread pool.
 */
import { gemmAcc } from './kernels.js';
import type { F, KernelJob, Workspace } from './kernels.js';
import { availableWorkers, runParallel, sharedF32, sharedF64, splitRange } from './threadPool.js';

export type { F } from './kernels.js';

/** Scratch of the main thread, shared by all kernels of this package (single-threaded JS). */
export const mainWorkspace: Workspace = {};

/** Minimum 2·M·N·K before a GEMM is split over threads (below it the hand-off costs more than it saves). */
export const GEMM_THREAD_MIN_FLOPS = 4e6;

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
  transA: boolean, transB: boolean, M: number, N: number, K: number,
  A: F, aOff: number, lda: number,
  B: F, bOff: number, ldb: number,
  C: F, cOff: number, ldc: number,
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
  if (!accumulate) {
    for (let i = 0; i < M; i++) C.fill(0, cOff + i * ldc, cOff + i * ldc + N);
  }
  if (K === 0) return;

  const flops = 2 * M * N * K;
  const T = flops >= GEMM_THREAD_MIN_FLOPS && M >= 16 ? 1 + Math.min(availableWorkers(), (M >> 3) - 1) : 1;
  if (T <= 1) {
    gemmAcc(M, N, K, A, aOff, ars, acs, B, bOff, brs, bcs, C, cOff, ldc, mainWorkspace);
    return;
  }
  // Split rows (in multiples of 8) over T threads; the main thread takes the first block and
  // works directly in C. Workers get compact shared copies of their A rows and of B, and write a
  // compact shared C block that is added back afterwards.
  const panels = (M + 7) >> 3;
  const pb = splitRange(panels, T).map((p) => Math.min(M, p * 8));
  const f32 = C instanceof Float32Array;
  const Bs = f32 ? sharedF32('gemm.B', K * N) : sharedF64('gemm.B', K * N);
  for (let k = 0; k < K; k++) {
    const src = bOff + k * brs;
    const dst = k * N;
    for (let j = 0; j < N; j++) Bs[dst + j] = B[src + j * bcs]!;
  }
  const jobs: KernelJob[] = [];
  const blocks: { r0: number; rows: number; Cs: F }[] = [];
  for (let t = 1; t < T; t++) {
    const r0 = pb[t]!;
    const rows = pb[t + 1]! - r0;
    if (rows <= 0) continue;
    const As = f32 ? sharedF32(`gemm.A${t}`, rows * K) : sharedF64(`gemm.A${t}`, rows * K);
    for (let i = 0; i < rows; i++) {
      const src = aOff + (r0 + i) * ars;
      const dst = i * K;
      for (let k = 0; k < K; k++) As[dst + k] = A[src + k * acs]!;
    }
    const Cs = f32 ? sharedF32(`gemm.C${t}`, rows * N) : sharedF64(`gemm.C${t}`, rows * N);
    Cs.fill(0, 0, rows * N);
    jobs.push({
      op: 'gemm', M: rows, N, K, A: As, aOff: 0, ars: K, acs: 1, B: Bs, bOff: 0, brs: N, bcs: 1, Cm: Cs, cOff: 0, ldc: N,
    });
    blocks.push({ r0, rows, Cs });
  }
  const m0 = pb[1]!;
  runParallel(jobs, () => {
    gemmAcc(m0, N, K, A, aOff, ars, acs, B, bOff, brs, bcs, C, cOff, ldc, mainWorkspace);
  });
  for (const { r0, rows, Cs } of blocks) {
    for (let i = 0; i < rows; i++) {
      const dst = cOff + (r0 + i) * ldc;
      const src = i * N;
      for (let j = 0; j < N; j++) C[dst + j] = C[dst + j]! + Cs[src + j]!;
    }
  }
}

/** Straightforward triple-loop reference (float64 accumulation), handy for tests and benchmarks. */
export function gemmNaive(
  transA: boolean, transB: boolean, M: number, N: number, K: number,
  A: F, aOff: number, lda: number,
  B: F, bOff: number, ldb: number,
  C: F, cOff: number, ldc: number,
  accumulate: boolean,
): void {
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) {
        const a = transA ? A[aOff + k * lda + i]! : A[aOff + i * lda + k]!;
        const b = transB ? B[bOff + j * ldb + k]! : B[bOff + k * ldb + j]!;
        s += a * b;
      }
      const o = cOff + i * ldc + j;
      C[o] = accumulate ? C[o]! + s : s;
    }
  }
}
