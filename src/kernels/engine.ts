/**
 * The engine: the one way from an op to a kernel, and the one place where memory lifetimes are set.
 * (tfjs-core's `engine.ts` is the model: ops call `runKernel` and nothing else; `tidy`/`keep` belong to
 * the engine, allocation to the backend.)
 *
 * Two words, kept apart:
 *  - a **device** is where values live: 'cpu' (host memory, typed arrays) or a device such as 'gpu';
 *    every tensor lives on one (`t.backend`), and users choose it (`setBackend('gpu')`, `model.to('gpu')`);
 *  - a **kernel backend** is a set of kernels plus the memory rules of its device: 'js' (the readable
 *    reference) and 'wasm' (generated WebAssembly SIMD) both compute on 'cpu' memory; 'gpu' on its own.
 *    Which one runs host tensors is `setCpuKernels('wasm' | 'js')` (default: the fastest available).
 *
 * Dispatch (`runKernel`): the inputs' device → that device's current kernel backend → its kernel of that
 * name; if it has none, does not take the inputs' dtype, or declines the call (`accepts`), the backend's
 * `fallback` is tried, and so on ('wasm' → 'js'). Both compute on host memory, so falling back copies nothing.
 *
 * Memory (`scope`, `keep`): a scope is a lifetime. Every tensor made inside one is released when it ends,
 * unless it is kept (`keep(t)`) or is the scope's result; scopes nest. What "released" means is the host
 * backend's business: 'wasm' hands its tensors memory from a bump allocator in its shared WebAssembly memory
 * (kernels then read and write them in place) and resets it to the scope's mark at the end, so a released
 * tensor refuses to be read; 'js' allocates ordinary arrays and lets the garbage collector have them.
 * Device backends are told too: 'gpu' disposes the device values the scope made (src/kernels/gpu/deviceData.ts).
 * Persistent state — parameters, leaf gradients, optimiser moments — is allocated outside any scope, or
 * kept (a leaf's device gradient with `keepWhile`, for as long as it is the leaf's `.grad`).
 */
import { getKernel, listKernels, type KernelConfig } from './registry.js';
import type { DType, KernelAttrs, KernelInput, KernelOutput, TypedArray } from './types.js';

/** A tensor as the engine's scopes see it (an autograd `Tensor` is one). */
export interface ScopedTensor {
  readonly dtype: DType;
  readonly device: unknown;
  /** The storage; reading it after release throws. */
  readonly storage: TypedArray;
  /** A fresh row-major copy of the values. */
  dataSync(): TypedArray;
  /** Give the storage back (a device tensor's value too): any later read throws (called on tensors a scope releases). */
  release_(): void;
  /** Move the values into `storage`, cut from the tape (called on kept tensors whose memory is released). */
  relocate_(where: { storage: Float32Array }): unknown;
  /**
   * The same values, now seen through `storage` (a new view of the same bytes: an unshared WebAssembly memory
   * replaced its buffer when it grew). Shape, strides, offset and tape stay.
   */
  rebind_(storage: Float32Array): void;
}

/** A set of kernels and the memory rules of the device they compute on. */
export interface KernelBackend {
  readonly name: string;
  /** Where its tensors live: 'cpu' for host memory, or a device's name. */
  readonly device: string;
  /** The dtypes its kernels take; inputs of another dtype go to the fallback. */
  readonly dtypes: readonly DType[];
  /** The backend whose kernels stand in for the ones this backend lacks or declines. */
  readonly fallback: string | null;
  /** Among host backends, the default is the available one with the highest priority. */
  readonly priority: number;
  /** Whether this JavaScript engine can run it (WebAssembly SIMD, shared memory, …); a reason when not. */
  unavailableReason(): string | null;
  /** New host storage (host backends); `zeroed` false: the caller writes every element. */
  alloc?(dtype: DType, size: number, zeroed: boolean): TypedArray;
  /** dst[dstIndex…+n) = src[srcIndex…+n); false when it does not handle these arrays. */
  copy?(dst: TypedArray, dstIndex: number, src: TypedArray, srcIndex: number, n: number): boolean;
  /** A scope opens: remember where its memory starts. */
  beginScope?(): void;
  /**
   * A scope ends: release the `tensors` made in it whose memory it gives back, moving those that `isKept`
   * into ordinary memory instead. Returns the others (views of older memory, …): the enclosing scope owns them.
   */
  endScope?(tensors: readonly ScopedTensor[], isKept: (t: ScopedTensor) => boolean): ScopedTensor[];
  /** Whether scopes give tensors scoped memory here (false: a scope releases nothing). */
  scopedMemory?(): boolean;
  /** Bytes of scoped memory in use. */
  scopeBytes?(): number;
  /** Threads its kernels use (host backends with worker threads; 1 without). */
  numThreads?(): number;
  /** What it is, for `sizeseg info`. */
  info(): Record<string, unknown>;
}

const backends = new Map<string, KernelBackend>();

/** Make a kernel backend known (its kernels are registered in the registry under its name). */
export function registerKernelBackend(backend: KernelBackend): void {
  if (backends.has(backend.name)) throw new Error(`registerKernelBackend: '${backend.name}' is already registered.`);
  backends.set(backend.name, backend);
}

export function kernelBackend(name: string): KernelBackend | undefined {
  return backends.get(name);
}

/** Every registered kernel backend. */
export function kernelBackends(): KernelBackend[] {
  return [...backends.values()];
}

// ---- which kernel backend runs host tensors ---------------------------------------------------------

let hostChoice: KernelBackend | null = null;

function hostBackends(): KernelBackend[] {
  return kernelBackends().filter((b) => b.device === 'cpu');
}

function environmentChoice(): string | undefined {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[
    'SIZESEG_KERNELS'
  ];
  return env === undefined || env.trim() === '' ? undefined : env.trim();
}

function checkedHostBackend(name: string, what: string): KernelBackend {
  const b = backends.get(name);
  if (b?.device !== 'cpu') {
    throw new Error(
      `${what}: '${name}' is not a kernel backend for host tensors; choose one of: ${
        hostBackends()
          .map((h) => h.name)
          .join(', ') || "(none registered: import sizeseg's entry point)"
      }.`,
    );
  }
  const why = b.unavailableReason();
  if (why !== null) throw new Error(`${what}: the '${name}' kernels cannot run here: ${why}.`);
  return b;
}

/** The kernel backend that runs host tensors now ('wasm' or 'js'). */
export function hostBackend(): KernelBackend {
  if (hostChoice !== null) return hostChoice;
  const env = environmentChoice();
  if (env !== undefined) {
    hostChoice = checkedHostBackend(env, 'SIZESEG_KERNELS');
    return hostChoice;
  }
  const candidates = hostBackends()
    .filter((b) => b.unavailableReason() === null)
    .sort((a, b) => b.priority - a.priority);
  const best = candidates[0];
  if (!best)
    throw new Error(
      'no kernel backend for host tensors is registered; import sizeseg from its entry point (src/index.ts or src/browser.ts).',
    );
  hostChoice = best;
  return best;
}

/** Chooses the kernel backend for host tensors by name ('js' or 'wasm'). Not while a scope is open. */
export function setHostBackend(name: string): void {
  const b = checkedHostBackend(name, 'setCpuKernels');
  if (scopes.length > 0 && b !== hostChoice)
    throw new Error('setCpuKernels: a scope is open; switch kernels between scopes, not inside one.');
  hostChoice = b;
}

/** Threads the host kernels use (main thread included); 1 where the backend has no threads. */
export function getNumThreads(): number {
  return hostBackend().numThreads?.() ?? 1;
}

// ---- dispatch --------------------------------------------------------------------------------------

/** The device the inputs live on; all must share it. 'cpu' for a call without tensor inputs. */
function deviceOf(kernelName: string, inputs: readonly KernelInput[]): string {
  const first = inputs[0];
  const device = first?.device ? first.device.backend : 'cpu';
  for (const t of inputs) {
    const d = t.device ? t.device.backend : 'cpu';
    if (d !== device) {
      throw new Error(
        `${kernelName}: inputs live on different backends ('${device}' and '${d}'); upload host tensors with backendInstance('gpu').upload(t) or model.to('gpu'), or read device ones with await toHost(t).`,
      );
    }
  }
  return device;
}

/** The kernel that runs this call: the device's backend first, then down its fallback chain. */
export function resolveKernel(
  kernelName: string,
  inputs: readonly KernelInput[],
  attrs: KernelAttrs = {},
): KernelConfig | null {
  const device = deviceOf(kernelName, inputs);
  let backend: KernelBackend | undefined = device === 'cpu' ? hostBackend() : backends.get(device);
  const seen = new Set<string>();
  while (backend && !seen.has(backend.name)) {
    seen.add(backend.name);
    const config = getKernel(kernelName, backend.name);
    const dtypesOk = inputs.every((t) => backend!.dtypes.includes(t.dtype));
    if (config && dtypesOk && (config.accepts === undefined || config.accepts(inputs, attrs))) return config;
    backend = backend.fallback === null ? undefined : backends.get(backend.fallback);
  }
  return null;
}

/** Whether some backend in the chain runs this call (ops ask before using a fused kernel). */
export function hasKernel(kernelName: string, inputs: readonly KernelInput[], attrs: KernelAttrs = {}): boolean {
  return resolveKernel(kernelName, inputs, attrs) !== null;
}

/** Calls and milliseconds of one kernel name within a profile. */
export interface KernelTime {
  calls: number;
  ms: number;
}

let profile: Map<string, KernelTime> | null = null;
/** Whether the running profile keys its entries by kernel name and input shapes (profileKernels' byShape). */
let profileByShape = false;
/** How many profiled kernel calls are running (a kernel that calls another is timed once, as the outer one). */
let profiledDepth = 0;

/**
 * Runs `fn` and returns, beside its result, the wall time spent in each kernel it ran (per kernel name,
 * or with `byShape` per kernel name and input shapes, e.g. "Conv2D 32×16×48×32 16×16×3×3"; outermost
 * calls only, so nothing is counted twice). What `fn` spends outside kernels — autograd
 * bookkeeping, generic host loops of views and reductions — is its total minus their sum.
 */
export function profileKernels<T>(
  fn: () => T,
  options: { byShape?: boolean } = {},
): { result: T; kernels: Map<string, KernelTime> } {
  if (profile !== null) throw new Error('profileKernels: a profile is already running; profiles do not nest.');
  const kernels = new Map<string, KernelTime>();
  profile = kernels;
  profileByShape = options.byShape === true;
  try {
    return { result: fn(), kernels };
  } finally {
    profile = null;
  }
}

/** The input shapes for a by-shape profile: the first four, and how many more (the optimiser takes hundreds). */
function shapesLabel(inputs: readonly KernelInput[]): string {
  const shown = inputs.slice(0, 4).map((t) => t.shape.join('×') || 'scalar');
  return inputs.length > 4 ? `${shown.join(' ')} +${inputs.length - 4} more` : shown.join(' ');
}

/** Run a kernel on the inputs' device (inputs contiguous, all on one device): the only way to a kernel. */
export function runKernel(kernelName: string, inputs: readonly KernelInput[], attrs: KernelAttrs = {}): KernelOutput[] {
  const config = resolveKernel(kernelName, inputs, attrs);
  if (!config) {
    const device = deviceOf(kernelName, inputs);
    const where = listKernels()
      .filter((c) => c.kernelName === kernelName)
      .map((c) => c.backendName);
    const chain = device === 'cpu' ? `host kernels '${hostBackend().name}'` : `device '${device}'`;
    throw new Error(
      `${kernelName}: no kernel for ${chain} and ${inputs.map((t) => t.dtype).join('/') || 'these'} inputs` +
        (where.length ? ` (registered on: ${where.join(', ')}).` : ' (registered nowhere).') +
        ' Import the backend that registers it, or run this op on another backend.',
    );
  }
  if (profile === null || profiledDepth > 0) return config.kernelFunc(inputs, attrs);
  const into = profile;
  profiledDepth++;
  const t0 = performance.now();
  try {
    return config.kernelFunc(inputs, attrs);
  } finally {
    profiledDepth--;
    const key = profileByShape ? `${kernelName} ${shapesLabel(inputs)}` : kernelName;
    const entry = into.get(key) ?? { calls: 0, ms: 0 };
    entry.calls++;
    entry.ms += performance.now() - t0;
    into.set(key, entry);
  }
}

// ---- host memory -----------------------------------------------------------------------------------

/** New host storage from the host backend (inside a scope, 'wasm' hands out scoped memory). */
export function allocHost(dtype: DType, size: number, zeroed: boolean): TypedArray {
  const b = hostBackend();
  if (b.alloc && b.dtypes.includes(dtype)) return b.alloc(dtype, size, zeroed);
  return dtype === 'float64' ? new Float64Array(size) : new Float32Array(size);
}

/** New host storage that outlives every scope (optimiser state, caches): ordinary memory. */
export function allocPersistent(dtype: DType, size: number): TypedArray {
  return dtype === 'float64' ? new Float64Array(size) : new Float32Array(size);
}

/** dst[dstIndex…+n) = src[srcIndex…+n), by the host backend's copier where it has one for these arrays. */
export function copyHost(dst: TypedArray, dstIndex: number, src: TypedArray, srcIndex: number, n: number): void {
  const b = hostChoice;
  if (b?.copy && dst.constructor === src.constructor && b.copy(dst, dstIndex, src, srcIndex, n)) return;
  dst.set(src.subarray(srcIndex, srcIndex + n), dstIndex);
}

// ---- scopes ----------------------------------------------------------------------------------------

interface Scope {
  /** The host backend, then the device backends: each releases its own tensors at the end. */
  readonly backends: readonly KernelBackend[];
  readonly tensors: ScopedTensor[];
  ended: boolean;
}

const scopes: Scope[] = [];
/** Tensors that no scope releases (`keep`). */
let kept = new WeakSet<ScopedTensor>();

/** Called by every new tensor: the innermost open scope owns it. */
export function trackTensor(t: ScopedTensor): void {
  const top = scopes[scopes.length - 1];
  if (top !== undefined) top.tensors.push(t);
}

/** A handle on an open scope; `end()` releases what it made (ending an outer scope ends the inner ones). */
export interface ScopeHandle {
  /** Whether tensors made now get scoped memory (false: this scope releases nothing here). */
  readonly resident: boolean;
  /** Bytes of scoped memory the host backend holds now. */
  readonly bytes: number;
  end(): void;
}

/** Opens a scope (prefer `scope(fn)`, which cannot forget to end it). */
export function beginScope(): ScopeHandle {
  const backend = hostBackend();
  const backends = [backend, ...kernelBackends().filter((b) => b.device !== 'cpu')];
  const s: Scope = { backends, tensors: [], ended: false };
  for (const b of backends) b.beginScope?.();
  scopes.push(s);
  return {
    resident: backend.scopedMemory?.() ?? false,
    get bytes() {
      return s.ended ? 0 : (backend.scopeBytes?.() ?? 0);
    },
    end: () => endScope(s),
  };
}

function endScope(s: Scope): void {
  if (s.ended) return;
  const at = scopes.indexOf(s);
  // scopes end innermost first: ending an outer scope ends those opened inside it
  while (scopes.length > at) {
    const top = scopes.pop()!;
    top.ended = true;
    releaseDropped();
    let survivors = top.tensors;
    for (const b of top.backends) if (b.endScope) survivors = b.endScope(survivors, isKept);
    const parent = scopes[scopes.length - 1];
    if (parent !== undefined) for (const t of survivors) parent.tensors.push(t);
    top.tensors.length = 0;
  }
}

/**
 * Runs `fn` in a scope: every tensor it makes is released at the end, except those kept with `keep(t)`
 * and what it returns (a tensor, or tensors in an array or object one level deep), which move into ordinary
 * memory, cut from the tape. Scopes nest.
 */
export function scope<T>(fn: () => T): T {
  const handle = beginScope();
  let result: T;
  try {
    result = fn();
    for (const t of tensorsIn(result)) kept.add(t);
  } finally {
    handle.end();
  }
  return result;
}

/** The tensor survives every scope it was made in (moved into ordinary memory when its scope ends). */
export function keep<T extends ScopedTensor>(t: T): T {
  kept.add(t);
  return t;
}

/** Every tensor the open scopes own (a host backend whose memory replaces its buffer re-points them). */
export function* openScopeTensors(): Generator<ScopedTensor> {
  for (const s of scopes) yield* s.tensors;
}

/** Tensors kept only while they are wanted (`keepWhile`). */
const keptWhile = new Map<ScopedTensor, () => boolean>();

/**
 * The tensor survives scopes while `wanted()` holds; once it does not, the next scope to end releases it
 * as if it had made it. (A leaf's device gradient: kept while it is the leaf's `.grad`, so that the one
 * `zeroGrad` drops is freed by the step that dropped it, not left to the garbage collector.) Outside
 * every scope it does nothing: no scope will end to look.
 */
export function keepWhile<T extends ScopedTensor>(t: T, wanted: () => boolean): T {
  if (scopes.length > 0) keptWhile.set(t, wanted);
  return t;
}

function isKept(t: ScopedTensor): boolean {
  return kept.has(t) || keptWhile.get(t)?.() === true;
}

/** Tensors kept by `keepWhile` that are no longer wanted are released by the scope that ends now. */
function releaseDropped(): void {
  for (const [t, wanted] of keptWhile) {
    if (wanted()) continue;
    keptWhile.delete(t);
    if (!kept.has(t)) t.release_();
  }
}

/** Whether a scope is open. */
export function scopeOpen(): boolean {
  return scopes.length > 0;
}

function isScopedTensor(v: unknown): v is ScopedTensor {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as ScopedTensor).release_ === 'function' &&
    typeof (v as ScopedTensor).relocate_ === 'function'
  );
}

function tensorsIn(v: unknown): ScopedTensor[] {
  if (isScopedTensor(v)) return [v];
  if (Array.isArray(v)) return v.filter(isScopedTensor);
  if (typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype)
    return Object.values(v).filter(isScopedTensor);
  return [];
}

/** For tests: forget every `keep` (scopes hold no other state between calls). */
export function resetKept(): void {
  kept = new WeakSet();
  keptWhile.clear();
}

// ---- the names of earlier releases -----------------------------------------------------------------

/** A kernel backend for host tensors: 'wasm' or 'js' (earlier releases called them the cpu kernel sets). */
export type CpuKernelSet = 'js' | 'wasm';

/** The kernel backend that runs host tensors ('wasm' or 'js'); `hostBackend().name`. */
export function cpuKernels(): CpuKernelSet {
  return hostBackend().name as CpuKernelSet;
}

/** Chooses the kernel backend for host tensors ('wasm' needs WebAssembly SIMD); `setHostBackend`. */
export function setCpuKernels(set: CpuKernelSet): void {
  if (set !== 'js' && set !== 'wasm') throw new Error(`setCpuKernels: expected 'js' or 'wasm', got '${String(set)}'.`);
  setHostBackend(set);
}

/** An open scope, as earlier releases called it (`openStepArena()` = `beginScope()`, `close()` = `end()`). */
export interface StepArena {
  readonly resident: boolean;
  readonly bytes: number;
  close(): void;
}

/** Opens a scope; earlier releases' name for `beginScope()`. */
export function openStepArena(): StepArena {
  const h = beginScope();
  return {
    resident: h.resident,
    get bytes() {
      return h.bytes;
    },
    close: () => h.end(),
  };
}

/** Runs `fn` in a scope; earlier releases' name for `scope(fn)`. */
export const withStepArena: <T>(fn: () => T) => T = scope;
