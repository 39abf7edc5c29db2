/**
 * General matrix multiply over typed arrays: C[M,N] (+)= op(A)[M,K] · op(B)[K,N], row-major with
 * row strides, BLAS-like transposition flags. Packed panels + 8×8 register-tiled micro-kernel
 * (see kernels.ts); large products are split by rows over the thread pool.
 */
import { gemmAcc, gemmDyn, packBAll } from './kernels.js';
import type { F, KernelJob, Workspace } from './kernels.js';
import { availableWorkers, countWorkerItems, runParallel, sharedF64, sharedI32, sharedLike } from './threadPool.js';

export type { F } from './kernels.js';

/** Scratch of the main thread, shared by all kernels of this package (single-threaded JS). */
export const mainWorkspace: Workspace = {};

/** Minimum 2·M·N·K before a GEMM is split over threads (measured break-even ≈ 1 MFLOP on 2 cores; below it the hand-off costs more than it saves). */
export const GEMM_THREAD_MIN_FLOPS = 1.5e6;

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
  const T = flops >= GEMM_THREAD_MIN_FLOPS && M >= 16 ? 1 + availableWorkers() : 1;
  // B is packed (as float64) one column chunk at a time, at most ~1 Mi elements (8 MiB) per chunk.
  const NC = Math.max(8, ((1 << 20) / K) & ~7);
  if (T <= 1) {
    for (let j0 = 0; j0 < N; j0 += NC) {
      const nc = Math.min(NC, N - j0);
      gemmAcc(M, nc, K, A, aOff, ars, acs, B, bOff + j0 * bcs, brs, bcs, C, cOff + j0, ldc, mainWorkspace);
    }
    return;
  }
  // Threaded: each B chunk is packed once into shared memory; blocks of `rb` rows are handed out
  // dynamically. The main thread works in C directly; workers read a shared compact copy of A and
  // write a zeroed shared C; the blocks they produced are added back afterwards.
  const As = sharedLike(A, 'in1', M * K);
  for (let i = 0; i < M; i++) {
    const src = aOff + i * ars;
    const dst = i * K;
    for (let k = 0; k < K; k++) As[dst + k] = A[src + k * acs]!;
  }
  const Cs = sharedLike(C, 'out', M * N);
  const rb = Math.max(8, ((Math.ceil(M / 16) + 7) >> 3) << 3);
  const nb = Math.ceil(M / rb);
  for (let j0 = 0; j0 < N; j0 += NC) {
    const nc = Math.min(NC, N - j0);
    const pb = sharedF64('wpack', K * (((nc + 7) >> 3) << 3));
    packBAll(B, bOff + j0 * bcs, brs, bcs, K, nc, pb);
    Cs.fill(0, 0, M * N);
    const ctr = sharedI32('sched.ctr', 1);
    const who = sharedI32('sched.who', nb);
    Atomics.store(ctr, 0, 0);
    who.fill(0, 0, nb);
    const jobs: KernelJob[] = [];
    for (let t = 1; t < T; t++) {
      jobs.push({
        op: 'gemm', M, N: nc, K, A: As, aOff: 0, ars: K, acs: 1, pb, Cm: Cs, cOff: 0, ldc: N, rb, ctr, who, me: t,
      });
    }
    runParallel(jobs, () => {
      gemmDyn(M, nc, K, A, aOff, ars, acs, pb, C, cOff + j0, ldc, rb, ctr, who, 0, mainWorkspace);
    });
    countWorkerItems(who, nb);
    for (let b = 0; b < nb; b++) {
      if (who[b] === 0) continue;
      const r1 = Math.min(M, (b + 1) * rb);
      for (let i = b * rb; i < r1; i++) {
        const dst = cOff + i * ldc + j0;
        const src = i * N;
        for (let j = 0; j < nc; j++) C[dst + j] = C[dst + j]! + Cs[src + j]!;
      }
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
