/**
 * C = A·B (row-major float32, A [M×K], B [K×N]) on the gather-convolution micro-kernel: B is an "image"
 * of K channels with one row of N pixels, A the weights of a 1×1 convolution with M output channels.
 * Work items are blocks of BLOCK columns (each a separate "image" of the kernel), plus one call for the
 * remaining columns; each output element is summed over k in order, so threads never change a result.
 */
import { buildGatherModule, OB, type GatherSpec } from './gatherConv.js';
import { ARGS_BYTE, heapF32, kernelModule, runItems, scratch, setArgs } from './runtime.js';
import { getNumThreads } from '../js/threadPool.js';

/** Columns per work item. */
const BLOCK = 64;
const THREAD_MIN_FLOPS = 2e6;

function spec(M: number, N: number, K: number, cols: number): GatherSpec {
  return {
    C: K, srcChanStride: N, srcImageStride: cols, O: M, outChanStride: N, outImageStride: cols, bias: false,
    passes: [{ rows: 1, cols, srcOrigin: 0, srcRowStride: 0, srcColStride: 1, taps: [0], outOrigin: 0, outRowStride: 0, outColStride: 1, weightOffset: 0 }],
  };
}

/** C[M×N] = A[M×K] · B[K×N], float32, accumulated in float32 in the order k = 0 … K−1. */
export function gemmWasm(M: number, N: number, K: number, A: Float32Array, B: Float32Array): Float32Array {
  for (const [name, v] of [['M', M], ['N', N], ['K', K]] as const) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`gemmWasm: ${name} must be a non-negative integer, got ${v}`);
  }
  if (A.length < M * K || B.length < K * N) throw new Error(`gemmWasm: A needs ${M * K} values (has ${A.length}), B needs ${K * N} (has ${B.length})`);
  const C = new Float32Array(M * N);
  if (M === 0 || N === 0) return C;
  if (K === 0) return C;
  scratch.reset();
  const OBn = Math.ceil(M / OB);
  // packed[ob][k][lane] = A[ob·OB + lane][k]
  const packed = new Float32Array(OBn * K * OB);
  for (let m = 0; m < M; m++) {
    const ob = Math.floor(m / OB), lane = m % OB;
    for (let k = 0; k < K; k++) packed[(ob * K + k) * OB + lane] = A[m * K + k]!;
  }
  const aB = scratch.alloc(packed.length);
  const bB = scratch.alloc(K * N);
  const cB = scratch.alloc(M * N);
  const full = Math.floor(N / BLOCK);
  const tail = N - full * BLOCK;
  const blockSpec = spec(M, N, K, BLOCK);
  const tailSpec = spec(M, N, K, tail);
  heapF32().set(packed, aB / 4);
  heapF32().set(B.subarray(0, K * N), bB / 4);
  const threads = 2 * M * N * K >= THREAD_MIN_FLOPS ? getNumThreads() : 1;
  if (full > 0) {
    const kernel = kernelModule(`gemm:${M},${N},${K},${BLOCK}`, () => buildGatherModule(blockSpec));
    setArgs([bB, aB, cB, 0]);
    runItems(kernel, 'image', ARGS_BYTE, full, threads);
  }
  if (tail > 0) {
    const kernel = kernelModule(`gemm:${M},${N},${K},${tail}`, () => buildGatherModule(tailSpec));
    setArgs([bB + full * BLOCK * 4, aB, cB + full * BLOCK * 4, 0]);
    runItems(kernel, 'image', ARGS_BYTE, 1, 1);
  }
  C.set(heapF32().subarray(cB / 4, cB / 4 + M * N));
  return C;
}
