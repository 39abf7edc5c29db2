/**
 * Step arenas: while one is open, every float32 tensor the cpu backend makes keeps its storage in the
 * WebAssembly kernels' shared memory, so kernels read their operands in place and write their results
 * straight into the storage of the output tensor — no copy into the memory before a kernel, no copy
 * out after it, and no garbage for the JavaScript collector. Closing the arena gives all of that memory
 * back at once (a bump allocator: opening is free, closing is free).
 *
 *   const arena = openStepArena();
 *   try { optimizer.zeroGrad(); const loss = lossOf(model.forward(x)); loss.backward(); optimizer.step(); value = loss.item(); }
 *   finally { arena.close(); }
 *
 * Lifetimes are explicit, as with tf.tidy: a tensor made inside the arena must not be used after close().
 * Such a tensor is *released* when the arena closes — reading it throws an error that says so, never a
 * later step's values. What outlives the arena lives outside it: parameters and buffers (updated in
 * place), gradients of leaves (`.grad` is a copy), optimiser state (allocatePersistent), and whatever
 * you copy out (`item()`, `dataSync()`).
 *
 * Where the memory is not shared (a browser page without cross-origin isolation, whose memory may
 * detach its views when it grows) or the JS kernels run, an arena is a no-op: `resident` is false.
 */
import { setFloat32Copier, setFloat32Source } from '../../autograd/dtype.js';
import { Tensor, setTensorCreationHook } from '../../autograd/tensor.js';
import { cpuKernels } from './index.js';
import { ARENA_START, SHARED, copyHeap, heapF32, heapOffsetOf, readHeap, scratch, wasmSimdAvailable, zeroHeap } from './runtime.js';

export interface StepArena {
  /** Whether tensors made now live in the shared memory (false: the arena does nothing here). */
  readonly resident: boolean;
  /** Bytes of tensor storage the arena holds now. */
  readonly bytes: number;
  /** Releases every tensor made since the arena opened; the memory is reused by the next arena. */
  close(): void;
}

let top = ARENA_START;
let current: Arena | null = null;

class Arena implements StepArena {
  readonly resident = true;
  private readonly tensors: Tensor[] = [];
  private closed = false;

  constructor() {
    setFloat32Source((n, zeroed) => {
      const at = allocBlock(n);
      // a generated store loop: TypedArray.fill over a SharedArrayBuffer ran at half its speed here
      if (zeroed) zeroHeap(at, n);
      return viewAt(at, n);
    });
    // blocks of the arena (a concatenation's parts, a slice made contiguous) are copied by the kernels' copier
    setFloat32Copier((dst, dstIndex, src, srcIndex, n) => {
      const d = heapOffsetOf(dst), s = heapOffsetOf(src);
      if (d < 0 || s < 0) return false;
      copyHeap(d + 4 * dstIndex, s + 4 * srcIndex, n);
      return true;
    });
    setTensorCreationHook((t) => {
      if (t.dtype === 'float32' && t.device === null && heapOffsetOf(t.storage as Float32Array) >= 0) this.tensors.push(t);
    });
  }

  get bytes(): number {
    return this.closed ? 0 : top - ARENA_START;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    setFloat32Source(null);
    setFloat32Copier(null);
    setTensorCreationHook(null);
    for (const t of this.tensors) t.release_();
    this.tensors.length = 0;
    top = ARENA_START;
    scratch.setFloor(top);
    current = null;
  }
}

const NO_ARENA: StepArena = { resident: false, bytes: 0, close() {} };

/**
 * Opens a step arena (see the top of this file). Arenas do not nest: while one is open, opening
 * another returns a no-op handle and tensors keep going to the open one.
 */
export function openStepArena(): StepArena {
  if (current !== null) return NO_ARENA;
  if (!SHARED || !wasmSimdAvailable() || cpuKernels() !== 'wasm') return NO_ARENA;
  current = new Arena();
  return current;
}

/**
 * Runs `fn` inside a step arena. If `fn` returns a tensor whose storage is in the arena, the result is a
 * copy of its values in ordinary memory (cut from the tape, like tf.tidy's kept result); anything else
 * made inside is released.
 */
export function withStepArena<T>(fn: () => T): T {
  const arena = openStepArena();
  try {
    const result = fn();
    if (result instanceof Tensor && result.device === null && heapOffsetOf(result.storage as Float32Array) >= 0) {
      return new Tensor(result.dataSync(), result.shape) as T;
    }
    return result;
  } finally {
    arena.close();
  }
}

/** True while a step arena is open and resident. */
export function arenaOpen(): boolean {
  return current !== null;
}

/** Reserves `floats` float32 of the arena (64-byte aligned, 16 floats of slack for vector tails). */
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
export interface KernelOutput {
  /** Byte offset the kernel writes to. */
  readonly byte: number;
  /** The result as a Float32Array: the arena block itself, or a copy out of scratch. */
  result(): Float32Array;
}

/**
 * The buffer a kernel writes its `floats` results to: a block of the open arena (the result is a view of
 * it), or else scratch (the result is a copy). Call it right after `scratch.reset()` and before any
 * `scratch.alloc` of the same call: growing the arena moves scratch up. The kernel must write every
 * element (arena blocks are not zeroed).
 */
export function kernelOutput(floats: number): KernelOutput {
  if (current === null) {
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
