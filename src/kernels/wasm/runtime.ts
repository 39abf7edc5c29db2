/**
 * The runtime of the WebAssembly kernels: one shared linear memory, a scratch allocator over it, the
 * cache of generated modules, and `runItems`, which runs a kernel's work items on the main thread and
 * the thread pool's workers at once.
 *
 * - One `WebAssembly.Memory` (shared, so every worker's instance sees the same bytes; in a browser page
 *   without cross-origin isolation an ordinary one, used by one thread, whose growth detaches views: see
 *   arena.ts for how scoped tensors survive it). Views are renewed after growth. Bytes [0, 64) hold the work counter, [64, 1024) the argument
 *   block of the running kernel; scratch starts at 1024.
 * - Kernel calls are sequential on the main thread, so scratch is a bump allocator reset by each call.
 *   While a step arena is open (arena.ts), tensor storage sits in [1024, arena top) and scratch starts
 *   above it; a kernel's result is then a block of the arena (a view, no copy out) and operands already
 *   in the arena are read in place (no copy in).
 * - Determinism: a kernel is split into work items fixed by the shape alone (never by the thread
 *   count); an item's result does not depend on which thread ran it or when. So 1, 2 or 16 threads give
 *   bit-identical results.
 * - No Node API here: the browser page uses the same kernels (one thread, or a Web Worker pool).
 */
import { ModuleBuilder, f32, f32x4, i32, v128, type Expr } from './emitter.js';
import { availableWorkers, getNumThreads, runParallel, type WasmJob } from './threads.js';
import { fusedMultiplyAddActive } from './multiplyAdd.js';

const PAGE = 65536;
/** 2 GiB: addresses stay below 2^31, so signed i32 comparisons in kernels are safe. */
const MAX_PAGES = 32768;
const COUNTER_BYTE = 0;
export const ARGS_BYTE = 64;
const SCRATCH_START = 1024;

let memory: WebAssembly.Memory | null = null;
let simdSupport: boolean | null = null;

/**
 * Whether the memory is shared (and so visible to worker threads): wherever SharedArrayBuffer exists and
 * the context is not a browser page without cross-origin isolation. In such a page the kernels run on one
 * thread over an ordinary memory.
 */
export const SHARED = typeof SharedArrayBuffer === 'function' && (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated !== false;

/** A module builder whose memory import matches the runtime's memory (every kernel module starts here). */
export function newKernelModule(): ModuleBuilder {
  return new ModuleBuilder({ module: 'env', name: 'memory', initial: 1, maximum: MAX_PAGES, shared: SHARED });
}

/** True when this engine runs WebAssembly SIMD (checked once, by validating a tiny module). */
export function wasmSimdAvailable(): boolean {
  if (simdSupport === null) {
    try {
      const m = new ModuleBuilder({ module: 'env', name: 'memory', initial: 1, maximum: 1, shared: SHARED });
      m.function('probe', [['p', 'i32']], (f, p) => {
        const v = f.local('v128');
        f.set(v, v128Probe(p!));
      });
      const bytes = m.bytes();
      simdSupport = typeof WebAssembly === 'object' && WebAssembly.validate(bytes);
    } catch {
      simdSupport = false;
    }
  }
  return simdSupport;
}

function v128Probe(p: Expr): Expr {
  return f32x4.add(v128.load(p), v128.load32_splat(p));
}

/** The shared memory (created on first use). */
export function wasmMemory(): WebAssembly.Memory {
  if (memory === null) memory = new WebAssembly.Memory({ initial: 16, maximum: MAX_PAGES, shared: SHARED });
  return memory;
}

let f32View: Float32Array | null = null;
let i32View: Int32Array | null = null;
/**
 * Every buffer object the memory has handed out. A shared memory's buffer is a new SharedArrayBuffer
 * object after each growth, but all of them alias the same bytes (and never detach), so a view made
 * before a growth stays valid; this set tells views of the heap from ordinary arrays.
 */
const heapBuffers = new WeakSet<ArrayBufferLike>();

/** A Float32Array over the whole memory (renewed after growth). */
export function heapF32(): Float32Array {
  const buf = wasmMemory().buffer;
  if (f32View === null || f32View.buffer !== buf) {
    f32View = new Float32Array(buf);
    heapBuffers.add(buf);
  }
  return f32View;
}

/** The byte offset of `a` in the memory when `a` is a view of it (arena storage), else −1. */
export function heapOffsetOf(a: Float32Array): number {
  return heapBuffers.has(a.buffer) ? a.byteOffset : -1;
}

/** An Int32Array over the whole memory (renewed after growth). */
export function heapI32(): Int32Array {
  const buf = wasmMemory().buffer;
  if (i32View === null || i32View.buffer !== buf) i32View = new Int32Array(buf);
  return i32View;
}

/**
 * Called around a growth of an unshared memory, whose growth replaces its ArrayBuffer and detaches every view
 * of the old one: the hook runs before the growth and returns what to run after it (arena.ts re-points the
 * open scopes' tensors at the new buffer).
 */
let privateGrowHook: (() => () => void) | null = null;

export function setPrivateGrowHook(hook: () => () => void): void {
  privateGrowHook = hook;
}

/** Bytes the memory holds now (grows only, never shrinks). */
export function memoryBytes(): number {
  return wasmMemory().buffer.byteLength;
}

/** Grows the memory to at least `bytes`. */
export function ensureBytes(bytes: number): void {
  const mem = wasmMemory();
  const have = mem.buffer.byteLength;
  if (bytes <= have) return;
  const pages = Math.ceil((bytes - have) / PAGE);
  if (have / PAGE + pages > MAX_PAGES) {
    throw new Error(
      `WebAssembly kernels: this call needs ${(bytes / 2 ** 20).toFixed(0)} MiB of scratch, over the 2 GiB limit; use a smaller batch (or SIZESEG_KERNELS=js).`,
    );
  }
  const after = !SHARED && privateGrowHook ? privateGrowHook() : null;
  mem.grow(pages);
  after?.();
}

/**
 * Bump allocator over the shared memory, reset at the start of every kernel call. Returns byte
 * offsets aligned to 64 (a cache line).
 */
export class Scratch {
  private top = SCRATCH_START;
  /** Where scratch starts: the arena's top while a step arena is open, else SCRATCH_START. */
  private floor = SCRATCH_START;

  /** The most scratch one kernel call has used above the floor (bytes). */
  peakUse = 0;

  reset(): this {
    this.top = this.floor;
    return this;
  }

  /** Moves the floor (the arena grew or was emptied); scratch is empty afterwards. */
  setFloor(byte: number): void {
    this.floor = byte;
    this.top = byte;
    ensureBytes(byte);
  }

  /** True when nothing was allocated since the last reset. */
  get empty(): boolean {
    return this.top === this.floor;
  }

  /** Reserves `floats` 4-byte elements (plus `slackFloats` readable past the end) and returns the byte offset. */
  alloc(floats: number, slackFloats = 16): number {
    const at = this.top;
    this.top = at + Math.ceil(((floats + slackFloats) * 4) / 64) * 64;
    if (this.top - this.floor > this.peakUse) this.peakUse = this.top - this.floor;
    ensureBytes(this.top);
    return at;
  }
}

export const scratch = new Scratch();

/** The first free byte of the memory: where the arena may grow (SCRATCH_START when no arena is open). */
export const ARENA_START = SCRATCH_START;

/**
 * A fresh Float32Array holding `n` floats of the heap from byte `byteOffset`. (Not `heap.slice`: V8 copies
 * out of a SharedArrayBuffer element by element there, measured 7× slower than `set` from a subarray.)
 */
export function readHeap(byteOffset: number, n: number): Float32Array {
  const out = new Float32Array(n);
  out.set(heapF32().subarray(byteOffset / 4, byteOffset / 4 + n));
  return out;
}

let zeroKernel: ((from: number, to: number) => void) | null = null;

/**
 * Sets `floats` floats of the memory from byte `byte` (a multiple of 4) to zero, on the calling thread:
 * vector stores, then the scalar tail.
 */
export function zeroHeap(byte: number, floats: number): void {
  if (zeroKernel === null) {
    const k = kernelModule('zero', () => {
      const m = newKernelModule();
      m.function('zero', [['p', 'i32'], ['end', 'i32']], (f, p, end) => {
        const vecEnd = f.local('i32', 'vecEnd');
        f.set(vecEnd, i32.sub(end!, i32.and(i32.sub(end!, p!), i32.const(15))));
        f.forRange(p!, p!, vecEnd, 16, () => f.do(v128.store(p!, v128.zero())));
        f.forRange(p!, p!, end!, 4, () => f.do(f32.store(p!, f32.const(0))));
      });
      return m;
    });
    zeroKernel = k.instance.exports.zero as (from: number, to: number) => void;
  }
  zeroKernel(byte, byte + floats * 4);
}

let copyKernel: ((to: number, from: number, end: number) => void) | null = null;

/**
 * Copies `floats` floats from byte `from` to byte `to` of the memory (non-overlapping; multiples of 4), on
 * the calling thread: vector loads and stores, then the scalar tail.
 */
export function copyHeap(to: number, from: number, floats: number): void {
  if (copyKernel === null) {
    const k = kernelModule('copy', () => {
      const m = newKernelModule();
      m.function('copy', [['q', 'i32'], ['p', 'i32'], ['end', 'i32']], (f, q, p, end) => {
        const vecEnd = f.local('i32', 'vecEnd');
        f.set(vecEnd, i32.sub(end!, i32.and(i32.sub(end!, p!), i32.const(15))));
        f.forRange(p!, p!, vecEnd, 16, () => {
          f.do(v128.store(q!, v128.load(p!)));
          f.set(q!, i32.add(q!, i32.const(16)));
        });
        f.forRange(p!, p!, end!, 4, () => {
          f.do(f32.store(q!, f32.load(p!)));
          f.set(q!, i32.add(q!, i32.const(4)));
        });
      });
      return m;
    });
    copyKernel = k.instance.exports.copy as (to: number, from: number, end: number) => void;
  }
  copyKernel(to, from, from + floats * 4);
}

/** Writes the argument block (byte offsets and sizes, as i32) of the next kernel call. */
export function setArgs(args: readonly number[]): number {
  const h = heapI32();
  if (args.length > 200) throw new Error('setArgs: too many arguments');
  for (let i = 0; i < args.length; i++) h[ARGS_BYTE / 4 + i] = args[i]!;
  return ARGS_BYTE;
}

export interface CompiledKernel {
  key: string;
  module: WebAssembly.Module;
  instance: WebAssembly.Instance;
  /** Generated code size in bytes (for `sizeseg info` and the bench). */
  bytes: number;
}

const cache = new Map<string, CompiledKernel>();

/**
 * `key` with the code-generation settings that change what a shape compiles to (today the fused multiply-add
 * mode, multiplyAdd.ts): the module cache and the drivers' plan caches (which hold compiled kernels) look
 * kernels up under it, so a kernel built under one setting is never run under the other.
 */
export function codeVariantKey(key: string): string {
  return fusedMultiplyAddActive() ? `${key}|fma` : key;
}

/** The compiled kernel module for `key`, generated by `build` the first time. */
export function kernelModule(shapeKey: string, build: () => ModuleBuilder): CompiledKernel {
  const key = codeVariantKey(shapeKey);
  let k = cache.get(key);
  if (k === undefined) {
    const bytes = build().bytes();
    const module = new WebAssembly.Module(bytes);
    const instance = new WebAssembly.Instance(module, { env: { memory: wasmMemory() } });
    k = { key, module, instance, bytes: bytes.length };
    cache.set(key, k);
  }
  return k;
}

/** How many kernel modules have been generated so far, and their total size. */
export function kernelCacheStats(): { modules: number; bytes: number } {
  let bytes = 0;
  for (const k of cache.values()) bytes += k.bytes;
  return { modules: cache.size, bytes };
}

/**
 * Threads for a memory-bound pass over `floats` floats (padding, transposing and subsampling copies, the
 * elementwise ops, upsampling with concatenation): all of them from 128 Ki floats (512 KiB) up, else one. On
 * this Intel Xeon (2 cores, 2 MiB of L2 each) sharing these passes took a training step (W1) 0.966× and inference
 * (W3) 0.939× the time, alternated step by step in one process (`bench/compareSettings.ts`): they had run on one
 * thread since the AMD machine, where a 290 000-float copy took 22 µs on one thread and a hand-off cost more;
 * inside a step's scope they write to memory the other core's caches do not hold, and two cores fetch it faster.
 * Items are fixed by the shape, so the thread count changes no bit.
 */
export const MEMORY_PASS_THREAD_MIN = 1 << 17;

export function memoryPassThreads(floats: number): number {
  return floats >= MEMORY_PASS_THREAD_MIN ? getNumThreads() : 1;
}

/** Per worker index: the module keys it has instantiated, and whether it has the memory. */
const workerHas: { memory: boolean; keys: Set<string> }[] = [];

/**
 * Runs `fn(argsPtr, item)` of `kernel` for item = 0 .. count−1. Items are taken dynamically, through an
 * atomic counter in the shared memory, by the main thread and up to `maxThreads − 1` workers, each calling
 * the module's `fn$items` driver once; the result must not depend on who ran which item.
 * `maxThreads` lets small calls stay on one thread (a hand-off costs tens of microseconds).
 */
export function runItems(kernel: CompiledKernel, fn: string, argsPtr: number, count: number, maxThreads: number): void {
  if (count <= 0) return;
  const h = heapI32();
  h[COUNTER_BYTE / 4] = 0;
  const workers = SHARED && maxThreads > 1 && count > 1 ? Math.min(availableWorkers(), maxThreads - 1, count - 1) : 0;
  const drive = kernel.instance.exports[`${fn}$items`] as (argsPtr: number, counter: number, count: number) => void;
  if (workers === 0) {
    drive(argsPtr, COUNTER_BYTE, count);
    return;
  }
  const jobs: WasmJob[] = [];
  for (let w = 0; w < workers; w++) {
    const has = (workerHas[w] ??= { memory: false, keys: new Set() });
    const job: WasmJob = { key: kernel.key, fn, argsPtr, ctrByte: COUNTER_BYTE, count };
    if (!has.memory) {
      job.memory = wasmMemory();
      has.memory = true;
    }
    if (!has.keys.has(kernel.key)) {
      job.module = kernel.module;
      has.keys.add(kernel.key);
    }
    jobs.push(job);
  }
  // the main thread takes items from the same counter through its own instance
  runParallel(jobs, () => drive(argsPtr, COUNTER_BYTE, count));
}
