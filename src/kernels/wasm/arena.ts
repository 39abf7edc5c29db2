/**
 * The WebAssembly backend's scoped memory. While a scope is open (src/kernels/engine.ts: `scope(fn)`,
 * a training step), every float32 tensor the backend makes keeps its storage in the kernels'
 * WebAssembly memory, taken from a bump allocator: kernels read their operands in place and write their
 * results straight into the storage of the output tensor — no copy into the memory before a kernel, no
 * copy out after it, and no garbage for the JavaScript collector. A scope remembers where the allocator
 * stood when it opened (its mark); when it ends, every tensor above the mark is released (reading it
 * throws, never a later step's values) or, if kept, moved into ordinary memory, and the allocator goes
 * back to the mark. So scopes nest.
 *
 * An unshared memory (a browser page without cross-origin isolation, as any static host serves it) gets
 * scoped memory too, with one difference: growing it replaces its ArrayBuffer and detaches every view of
 * the old one, tensors' storage included. So there the memory grows between outermost scopes, when no
 * scoped tensor is alive, to what the scopes so far asked for:
 *  - the first scope only counts what it asks for: its tensors are ordinary arrays (kernels copy, as
 *    without scopes); every later outermost scope first grows the memory to the most asked for so far;
 *  - a block that does not fit the memory as it is (with room left for the largest scratch a kernel call
 *    has used) is an ordinary array instead, and the request is remembered for the next outermost scope;
 *  - should a kernel's scratch still have to grow inside a scope, the open scopes' tensors are re-pointed
 *    at the new buffer (the same bytes at the same offsets), so none of them reads a detached view.
 */
import { type ScopedTensor, openScopeTensors } from '../engine.js';
import type { DType, TypedArray } from '../types.js';
import {
  ARENA_START,
  SHARED,
  copyHeap,
  ensureBytes,
  heapF32,
  heapOffsetOf,
  memoryBytes,
  readHeap,
  scratch,
  setPrivateGrowHook,
  zeroHeap,
} from './runtime.js';

let top = ARENA_START;
/** The marks of the open scopes, innermost last. */
const marks: number[] = [];
/**
 * Unshared memory only: where the top would stand had every block fitted (blocks that did not are ordinary
 * arrays), the marks of that count, and the highest it has reached: what the next outermost scope reserves.
 */
let wantedTop = ARENA_START;
const wantedMarks: number[] = [];
let wantedPeak = ARENA_START;
/** Unshared memory only: whether the memory was grown to what earlier scopes asked (the first scope learns). */
let reserved = false;

/** Whether tensors made now get scoped memory. */
export function scopeActive(): boolean {
  return marks.length > 0;
}

export function scopedMemory(): boolean {
  return true;
}

export function beginScope(): void {
  // an unshared memory grows only here, before the outermost scope, when no view of it is alive
  if (!SHARED && marks.length === 0) {
    ensureBytes(wantedPeak + scratch.peakUse);
    reserved = wantedPeak > ARENA_START;
  }
  marks.push(top);
  wantedMarks.push(wantedTop);
}

/** Bytes of tensor storage the open scopes hold. */
export function scopeBytes(): number {
  return top - ARENA_START;
}

/** New storage: a block of scoped memory inside a scope (zeroed by a generated store loop when asked), else an array. */
export function alloc(dtype: DType, n: number, zeroed: boolean): TypedArray {
  if (dtype !== 'float32') return new Float64Array(n);
  if (marks.length === 0 || !fits(n)) return new Float32Array(n);
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
  wantedTop = wantedMarks.pop() ?? ARENA_START;
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

/** Bytes of a block of `floats` float32 (64-byte aligned, 16 floats of slack for vector tails). */
function blockBytes(floats: number): number {
  return Math.ceil(((floats + 16) * 4) / 64) * 64;
}

/**
 * Whether a block of `floats` goes into the memory now. Always, where the memory is shared (growing it
 * keeps views valid); where it is not, only if the memory holds it without growing, with room left above
 * it for the largest scratch a kernel call has used. Either way the request is counted.
 */
function fits(floats: number): boolean {
  wantedTop += blockBytes(floats);
  if (wantedTop > wantedPeak) wantedPeak = wantedTop;
  return SHARED || (reserved && top + blockBytes(floats) + scratch.peakUse <= memoryBytes());
}

/** Reserves a block of `floats` float32 of scoped memory. */
function allocBlock(floats: number): number {
  const at = top;
  top += blockBytes(floats);
  scratch.setFloor(top);
  return at;
}

/**
 * Unshared memory, growing inside a scope (a kernel's scratch needed more than any before): views of the old
 * buffer detach, so every tensor of the open scopes that views it is re-pointed at the new one.
 */
setPrivateGrowHook(() => {
  const old = heapF32().buffer;
  const moved: { t: ScopedTensor; byte: number; length: number }[] = [];
  for (const t of openScopeTensors()) {
    if (t.dtype !== 'float32' || t.device !== null) continue;
    const a = t.storage as Float32Array;
    if (a.buffer === old) moved.push({ t, byte: a.byteOffset, length: a.length });
  }
  return () => {
    const buffer = heapF32().buffer;
    for (const { t, byte, length } of moved) t.rebind_(new Float32Array(buffer, byte, length));
  };
});

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
  if (marks.length === 0 || !fits(floats)) {
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
