import { describe, expect, it } from 'vitest';
import { gemm } from '../../../src/kernels/js/index.js';
import { makeRng, randArray, relErr } from '../../_helpers/random.js';

type F = Float32Array | Float64Array;

/** The textbook triple loop, one dot product per C(i,j) in float64: the reference. */
function gemmNaive(
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
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++)
        s +=
          (transA ? A[aOff + k * lda + i]! : A[aOff + i * lda + k]!) *
          (transB ? B[bOff + j * ldb + k]! : B[bOff + k * ldb + j]!);
      const o = cOff + i * ldc + j;
      C[o] = accumulate ? C[o]! + s : s;
    }
  }
}

interface Case {
  M: number;
  N: number;
  K: number;
  tA: boolean;
  tB: boolean;
  aOff: number;
  bOff: number;
  cOff: number;
  padA: number;
  padB: number;
  padC: number;
  acc: boolean;
}

function runCase(rng: () => number, c: Case, f32: boolean): number {
  const lda = (c.tA ? c.M : c.K) + c.padA;
  const ldb = (c.tB ? c.K : c.N) + c.padB;
  const ldc = c.N + c.padC;
  const A = randArray(rng, c.aOff + (c.tA ? c.K : c.M) * lda, f32);
  const B = randArray(rng, c.bOff + (c.tB ? c.N : c.K) * ldb, f32);
  const C0 = randArray(rng, c.cOff + c.M * ldc + 3, f32);
  const C1 = C0.slice();
  const C2 = f32 ? Float64Array.from(C0) : C0.slice();
  gemm(c.tA, c.tB, c.M, c.N, c.K, A, c.aOff, lda, B, c.bOff, ldb, C1, c.cOff, ldc, c.acc);
  gemmNaive(c.tA, c.tB, c.M, c.N, c.K, A, c.aOff, lda, B, c.bOff, ldb, C2, c.cOff, ldc, c.acc);
  // untouched regions (padding columns, prefix, suffix) must be unchanged
  for (let i = 0; i < C0.length; i++) {
    const inBlock = i >= c.cOff && i < c.cOff + c.M * ldc && (i - c.cOff) % ldc < c.N;
    if (!inBlock) expect(C1[i]).toBe(C0[i]);
  }
  return relErr(C1, C2);
}

describe('gemm', () => {
  it('matches the naive triple loop for all transpose combinations, offsets, strides, accumulate', () => {
    const rng = makeRng(1);
    const sizes: [number, number, number][] = [
      [1, 1, 1],
      [3, 5, 7],
      [4, 8, 16],
      [5, 9, 3],
      [13, 17, 31],
      [37, 21, 300],
      [130, 11, 9],
      [7, 70, 0],
    ];
    for (const [M, N, K] of sizes) {
      for (const tA of [false, true]) {
        for (const tB of [false, true]) {
          for (const acc of [false, true]) {
            for (const f32 of [false, true]) {
              const c: Case = {
                M,
                N,
                K,
                tA,
                tB,
                acc,
                aOff: Math.floor(rng() * 5),
                bOff: Math.floor(rng() * 5),
                cOff: Math.floor(rng() * 5),
                padA: Math.floor(rng() * 3),
                padB: Math.floor(rng() * 3),
                padC: Math.floor(rng() * 3),
              };
              const e = runCase(rng, c, f32);
              expect(e, JSON.stringify({ ...c, f32 })).toBeLessThan(f32 ? 1e-6 : 1e-12);
            }
          }
        }
      }
    }
  });

  it('keeps the output dtype and handles M = 0 / N = 0', () => {
    const A = new Float64Array(6).fill(1);
    const B = new Float64Array(6).fill(2);
    const C = new Float32Array(4).fill(7);
    gemm(false, false, 2, 2, 3, A, 0, 3, B, 0, 2, C, 0, 2, false);
    expect(Array.from(C)).toEqual([6, 6, 6, 6]);
    gemm(false, false, 0, 2, 3, A, 0, 3, B, 0, 2, C, 0, 2, false);
    gemm(false, false, 2, 0, 3, A, 0, 3, B, 0, 2, C, 0, 2, false);
    expect(Array.from(C)).toEqual([6, 6, 6, 6]);
  });

  it('rejects out-of-bounds operands', () => {
    const A = new Float64Array(6);
    const B = new Float64Array(6);
    const C = new Float64Array(4);
    expect(() => gemm(false, false, 2, 2, 4, A, 0, 4, B, 0, 2, C, 0, 2, false)).toThrow(/A is too small/);
    expect(() => gemm(false, false, 2, 2, 3, A, 0, 3, B, 1, 2, C, 0, 2, false)).toThrow(/B is too small/);
    expect(() => gemm(false, false, 2, 2, 3, A, 0, 3, B, 0, 2, C, 1, 2, false)).toThrow(/C is too small/);
    expect(() => gemm(false, false, 2, 2, 3, A, 0, 3, B, 0, 2, C, 0, 1, false)).toThrow(/ldc/);
  });

  it('handles a long K', () => {
    const rng = makeRng(11);
    const [M, N, K] = [3, 50, 40000];
    const A = randArray(rng, M * K, false);
    const B = randArray(rng, K * N, false);
    const C1 = new Float64Array(M * N);
    const C2 = new Float64Array(M * N);
    gemm(false, false, M, N, K, A, 0, K, B, 0, N, C1, 0, N, false);
    gemmNaive(false, false, M, N, K, A, 0, K, B, 0, N, C2, 0, N, false);
    expect(relErr(C1, C2)).toBeLessThan(1e-12);
  });
});
