/**
 * The WebAssembly backend's scoped memory. While a scope is open (src/kernels/engine.ts: `scope(fn)`,
 * a training step), every float32 tensor the backend makes keeps its storage in the kernels' shared
 * WebAssembly memory, taken from a bump allocator: kernels read their operands in place and write their
 * results straight into the storage of the output tensor — no copy into the memory before a kernel, no
 * copy out after it, and no garbage for the JavaScript collector. A scope remembers where the allocator
 * stood when it opened (its mark); when it ends, every tensor above the mark is released (reading it
 * throws, never a later step's values) or, if kept, moved into ordinary memory, and the allocator goes
 * back to the mark. So scopes nest.
 *
 * Where the memory is not shared (a browser page without cross-origin isolation, whose memory may detach
 * its views when it grows), scopes give no scoped memory: tensors are ordinary arrays, kernels copy.
 */
import type { ScopedTensor } from '../engine.js';
import type { DType, TypedArray } from '../types.js';
import { ARENA_START, SHARED, copyHeap, heapF32, heapOffsetOf, readHeap, scratch, zeroHeap } from './runtime.js';

let top = ARENA_START;
/** The marks of the open scopes, innermost last. */
const marks: number[] = [];

/** Whether tensors made now get scoped memory. */
export function scopeActive(): boolean {
  return marks.length > 0;
}

export function scopedMemory(): boolean {
  return SHARED;
}

export function beginScope(): void {
  if (SHARED) marks.push(top);
}

/** Bytes of tensor storage the open scopes hold. */
export function scopeBytes(): number {
  return top - ARENA_START;
}

/** New storage: a block of scoped memory inside a scope (zeroed by a generated store loop when asked), else an array. */
export function alloc(dtype: DType, n: number, zeroed: boolean): TypedArray {
  if (dtype !== 'float32') return new Float64Array(n);
  if (marks.length === 0) return new Float32Array(n);
  const at = allocBlock(n);
  // a generated store loop: TypedArray.fill over a SharedArrayBuffer ran at half its speed here
  if (zeroed) zeroHeap(at, n);
  return viewAt(at, n);
}

/** Copies between blocks of the memory by the kernels' copier (V8 copies SharedArrayBuffer views element by element). */
export function copy(dst: TypedArray, dstIndex: number, src: TypedArray, srcIndex: number, n: number): boolean {
  if (!(dst instanceof Float32Array) || !(src instanceof Float32Array)) return false;
  const d = heapOffsetOf(dst), s = heapOffsetOf(src);
  if (d < 0 || s < 0) return false;
  copyHeap(d + 4 * dstIndex, s + 4 * srcIndex, n);
  return true;
}

/** The scope ends: release (or, if kept, move out) its tensors above the mark; the rest belong to the enclosing scope. */
export function endScope(tensors: readonly ScopedTensor[], isKept: (t: ScopedTensor) => boolean): ScopedTensor[] {
  const mark = marks.pop();
  if (mark === undefined) return [...tensors];
  const survivors: ScopedTensor[] = [];
  for (const t of tensors) {
    const inScope = t.dtype === 'float32' && t.device === null && heapOffsetOf(t.storage as Float32Array) >= mark;
    if (!inScope) survivors.push(t);
    else if (isKept(t)) t.relocate_({ storage: t.dataSync() as Float32Array });
    else t.release_();
  }
  top = mark;
  scratch.setFloor(top);
  return survivors;
}

/** Reserves `floats` float32 of scoped memory (64-byte aligned, 16 floats of slack for vector tails). */
function allocBlock(floats: number): number {
  const at = top;
  top += Math.ceil(((floats + 16) * 4) / 64) * 64;
  scratch.setFloor(top);
  return at;
}

function viewAt(byte: number, floats: number): Float32Array {
  return new Float32Array(heapF32().buffer, byte, floats);
}

/** A kernel's result buffer (see kernelOutput). */
export interface KernelOutputBuffer {
  /** Byte offset the kernel writes to. */
  readonly byte: number;
  /** The result as a Float32Array: the scoped block itself, or a copy out of scratch. */
  result(): Float32Array;
}

/**
 * The buffer a kernel writes its `floats` results to: a block of scoped memory (the result is a view of
 * it), or else scratch (the result is a copy). Call it right after `scratch.reset()` and before any
 * `scratch.alloc` of the same call: growing the scoped memory moves scratch up. The kernel must write every
 * element (scoped blocks are not zeroed).
 */
export function kernelOutput(floats: number): KernelOutputBuffer {
  if (marks.length === 0) {
    const byte = scratch.alloc(floats);
    return { byte, result: () => readHeap(byte, floats) };
  }
  if (!scratch.empty) throw new Error('kernelOutput: the output must be reserved before any scratch of the same call');
  const byte = allocBlock(floats);
  return { byte, result: () => viewAt(byte, floats) };
}

/** The byte offset of `a`'s values for a kernel: in place when `a` lives in the memory, else copied into scratch. */
export function kernelInput(a: Float32Array): number {
  const at = heapOffsetOf(a);
  if (at >= 0) return at;
  const b = scratch.alloc(a.length);
  heapF32().set(a, b / 4);
  return b;
}
