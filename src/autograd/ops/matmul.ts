/**
 * Batched matrix product with NumPy semantics: a [..., M, K] @ b [..., K, N] → [..., M, N], batch axes
 * broadcast; a 1-D operand is treated as a row (left) or column (right) vector and that axis is dropped.
 * The products run in the backend's 'BatchMatMul' kernel ([count, M, K] @ [count, K, N]).
 */
import { record } from '../engine.js';
import { runKernel } from '../kernel.js';
import { broadcastShapes, formatShape, sizeOf } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { expand, reshape, sumToShape, transpose } from './shape.js';

export function matmul(a: Tensor, b: Tensor): Tensor {
  if (a.device || b.device)
    throw new Error(
      `matmul: ${a.device ? a : b} lives on the '${(a.device ?? b.device)!.backend}' backend, which has no matmul kernel; use host tensors (await toHost(t)).`,
    );
  if (a.rank === 0 || b.rank === 0)
    throw new Error('matmul: operands must have at least one axis; use mul for scalars.');
  if (a.dtype !== b.dtype)
    throw new Error(`matmul: dtype mismatch (${a.dtype} and ${b.dtype}); convert one with .to('${a.dtype}').`);
  if (a.rank === 1)
    return reshape(
      matmul(reshape(a, [1, a.size]), b),
      dropAxis(b.rank === 1 ? [1, 1] : [...b.shape.slice(0, -2), 1, b.shape[b.rank - 1] as number], -2, b.rank === 1),
    );
  if (b.rank === 1) return reshape(matmul(a, reshape(b, [b.size, 1])), a.shape.slice(0, -1));
  const M = a.shape[a.rank - 2] as number;
  const K = a.shape[a.rank - 1] as number;
  const K2 = b.shape[b.rank - 2] as number;
  const N = b.shape[b.rank - 1] as number;
  if (K !== K2) {
    throw new Error(
      `matmul: inner dimensions differ, ${formatShape(a.shape)} @ ${formatShape(b.shape)} (${K} vs ${K2}); the last axis of a must equal the second-to-last of b.`,
    );
  }
  const batch = broadcastShapes('matmul', a.shape.slice(0, -2), b.shape.slice(0, -2));
  const count = sizeOf(batch);
  const av = reshape(expand(a.detach(), [...batch, M, K]).contiguous(), [count, M, K]);
  const bv = reshape(expand(b.detach(), [...batch, K, N]).contiguous(), [count, K, N]);
  const result = reshape(runKernel('BatchMatMul', [av, bv])[0] as Tensor, [...batch, M, N]);
  return record(result, 'matmul', [a, b], (g) => [
    sumToShape(matmul(g, transpose(b, -2, -1)), a.shape),
    sumToShape(matmul(transpose(a, -2, -1), g), b.shape),
  ]);
}

function dropAxis(shape: number[], axis: number, vector: boolean): number[] {
  if (vector) return [];
  const s = [...shape];
  s.splice(s.length + axis, 1);
  return s;
}
