/**
 * A tiny synchronous thread pool for the CPU kernels.
 *
 * - Workers are created from a self-contained plain-JavaScript source string (`eval: true`), built
 *   from `Function.prototype.toString()` of the functions in `kernels.ts`; nothing points a Worker at
 *   a .ts/.js file, so the same code runs under tsx, vitest and compiled `dist/`.
 * - Synchronisation: each worker owns an Int32Array over a SharedArrayBuffer
 *   (`[0]` = job sequence requested, `[1]` = job sequence done, `[2]` = error flag, `[3]` = ready
 *   state). The main thread posts the job descriptor on a MessagePort, bumps `[0]` and notifies;
 *   the worker, blocked in `Atomics.wait`, wakes, takes the message with `receiveMessageOnPort`,
 *   runs it, stores `[1]` and notifies. The main thread works meanwhile and then blocks in
 *   `Atomics.wait` (allowed in Node) until every worker is done.
 * - Work is handed out dynamically by the callers (a shared counter that every thread, main
 *   included, increments to take the next image / row block), so a thread slowed down by other load
 *   on the machine just takes fewer items instead of holding everybody up.
 * - Workers are `unref()`ed: they never keep the process alive, `process.exit` is never needed.
 * - Any failure to start a worker disables threading (single-threaded fallback), never an error.
 * - Platform-neutral: this module touches no Node API. How a worker is started and how a job reaches
 *   it is a `ThreadPlatform`, installed by `nodeThreads.ts` in Node (the Node entry points import it).
 *   Without a platform (e.g. in a browser bundle that installs none) everything runs on one thread.
 */
import * as kernels from './kernels.js';
import type { F, KernelJob } from './kernels.js';

/**
 * Default thread count: SIZESEG_THREADS when it is an integer ≥ 1 (capped at 64), otherwise
 * min(2, cores). Pure function of its inputs (exported for tests).
 */
export function defaultThreadCount(env: string | undefined, cores: number): number {
  if (env !== undefined && /^\s*\d+\s*$/.test(env)) {
    const n = Number.parseInt(env, 10);
    if (n >= 1) return Math.min(n, 64);
  }
  return Math.max(1, Math.min(2, Math.floor(cores) || 1));
}

/**
 * How a platform starts a worker: `source` is the worker's plain-JavaScript program (see
 * `buildWorkerSource`), `ctrl` its control words. The returned handle posts jobs and reads the
 * error text a failed job left behind.
 */
export interface ThreadPlatform {
  /** Human-readable name ('node worker_threads', ...), for `sizeseg info`. */
  readonly name: string;
  /** Cores available to this process. */
  cores(): number;
  /** SIZESEG_THREADS or the platform's equivalent (undefined when unset). */
  threadsSetting(): string | undefined;
  /** Script text that defines `ctrl`, `takeJob()` and `reportError(text)` for the worker loop. */
  readonly prologue: string;
  /** Starts a worker running `source`; it signals ready/failed through ctrl[3] (see the loop below). */
  startWorker(source: string, ctrl: SharedArrayBuffer): PoolWorkerHandle;
}

export interface PoolWorkerHandle {
  post(job: unknown): void;
  /** The next message the worker posted back (a failed job's error text), if any. */
  receive(): unknown;
  terminate(): void;
  onError(cb: () => void): void;
}

let platform: ThreadPlatform | null = null;
let numThreads: number | null = null;
let numThreadsExplicit = false;

/** Installs the platform's worker threads (Node: `nodeThreads.ts`). Idempotent for the same platform. */
export function installThreadPlatform(p: ThreadPlatform): void {
  if (platform === p) return;
  platform = p;
  if (!numThreadsExplicit) numThreads = null; // the default now comes from the platform
}

/** The installed thread platform's name, or null (single-threaded). */
export function threadPlatformName(): string | null {
  return platform?.name ?? null;
}

/** Number of threads (main thread included) the kernels may use. Default min(2, cores), or SIZESEG_THREADS. */
export function getNumThreads(): number {
  if (numThreads === null) {
    numThreads = platform === null ? 1 : defaultThreadCount(platform.threadsSetting(), platform.cores());
  }
  return numThreads;
}

/** Set the number of threads (≥ 1; 1 = single-threaded). Workers are started lazily on first use. */
export function setNumThreads(n: number): void {
  if (!Number.isFinite(n) || n < 1) throw new Error(`setNumThreads: expected an integer ≥ 1, got ${n}`);
  numThreads = Math.min(Math.floor(n), 64);
  numThreadsExplicit = true;
}

interface PoolWorker {
  handle: PoolWorkerHandle;
  ctrl: Int32Array;
  seq: number;
}

const workers: PoolWorker[] = [];
let parallelRuns = 0;
let workerItems = 0;

/** How many multi-threaded kernel calls have run so far (diagnostics, tests). */
export function parallelRunCount(): number {
  return parallelRuns;
}

/** How many work items (images, row blocks) worker threads have processed so far (diagnostics, tests). */
export function workerItemCount(): number {
  return workerItems;
}

/** Counts the items of a dynamically scheduled run that a worker produced (who[i] ≠ 0). */
export function countWorkerItems(who: Int32Array, n: number): number {
  let c = 0;
  for (let i = 0; i < n; i++) if (who[i] !== 0) c++;
  workerItems += c;
  return c;
}
let broken = false;
let brokenReason = '';

/** Why threading was disabled (empty string when it works or was never tried). */
export function threadingDisabledReason(): string {
  return brokenReason;
}

/** How long a worker (and the main thread, waiting for workers) polls before it sleeps. */
export const SPIN_MS = 1;

/**
 * What every worker runs first, whatever drives its jobs: its workspace, a self-test, the ready signal, and
 * `finishJob(job, seq)`, which runs one job and signals it done through the control words (ctrl[1] = seq,
 * ctrl[2] = 1 on an error, whose text goes to `reportError`). The platform's prologue defines `ctrl`,
 * `takeJob()` and `reportError(text)`; a platform without a synchronous receive (a browser) drives
 * `finishJob` from its own message handler instead of WORKER_LOOP's.
 */
export const WORKER_SETUP = `
const ws = {};
try {
  // self-test: a tiny GEMM through the same code path the jobs use
  const A = new Float64Array([1, 2, 3, 4, 5, 6]), B = new Float64Array([1, 0, 0, 1, 1, 1]);
  const C = new Float64Array(4);
  gemmAcc(2, 2, 3, A, 0, 3, 1, B, 0, 2, 1, C, 0, 2, ws);
  if (C[0] !== 4 || C[1] !== 5 || C[2] !== 10 || C[3] !== 11) throw new Error('worker self-test failed');
  Atomics.store(ctrl, 3, 1);
} catch (e) {
  Atomics.store(ctrl, 3, 2);
  Atomics.notify(ctrl, 3);
  throw e;
}
Atomics.notify(ctrl, 3);
function finishJob(job, seq) {
  try {
    if (job === undefined) throw new Error('no job message');
    if (job.op === 'wasm') runWasmJob(job, ws);
    else runKernelJob(job, ws);
  } catch (e) {
    Atomics.store(ctrl, 2, 1);
    try { reportError(String(e && e.stack ? e.stack : e)); } catch (e2) { /* ignore */ }
  }
  Atomics.store(ctrl, 1, seq);
  Atomics.notify(ctrl, 1);
}
`;

/** The synchronous job loop (Node): wait for the next sequence number, take its job, finish it. */
export const WORKER_LOOP = `
const SPIN_MS = ${SPIN_MS};
let last = 0;
for (;;) {
  // Spin a little before sleeping: kernel calls come in bursts, and waking a sleeping thread (a futex, and in
  // a virtual machine an idle virtual CPU) took 0.1-0.4 ms here, longer than many kernels.
  if (Atomics.load(ctrl, 0) === last) {
    const until = performance.now() + SPIN_MS;
    do {
      for (let i = 0; i < 256 && Atomics.load(ctrl, 0) === last; i++);
    } while (Atomics.load(ctrl, 0) === last && performance.now() < until);
  }
  if (Atomics.load(ctrl, 0) === last) Atomics.wait(ctrl, 0, last);
  const seq = Atomics.load(ctrl, 0);
  if (seq === last) continue;
  last = seq;
  finishJob(takeJob(), seq);
}
`;

/** The worker's full source: helper shims + every kernel function's source + the job loop (after the platform's prologue). */
export function buildWorkerSource(prologue = ''): string {
  const parts: string[] = ['"use strict";', 'var __name = function (f) { return f; };', prologue];
  for (const [name, value] of Object.entries(kernels)) {
    if (typeof value === 'function') {
      const src = Function.prototype.toString.call(value);
      if (!src.startsWith('function')) throw new Error(`kernel ${name} is not a plain function declaration`);
      parts.push(src);
    }
  }
  parts.push(WORKER_SETUP, WORKER_LOOP);
  return parts.join('\n');
}

function startWorker(p: ThreadPlatform): PoolWorker | null {
  try {
    const ctrlBuf = new SharedArrayBuffer(16);
    const ctrl = new Int32Array(ctrlBuf);
    const handle = p.startWorker(buildWorkerSource(p.prologue), ctrlBuf);
    handle.onError(() => {
      // Only reachable for failures outside a job (jobs catch their own errors).
      broken = true;
      brokenReason = brokenReason || 'worker crashed';
    });
    // Block until the worker reports ready (it boots on its own thread; the main thread's event
    // loop is not needed for that) or failed; give up after 10 s.
    const deadline = Date.now() + 10_000;
    while (Atomics.load(ctrl, 3) === 0) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      Atomics.wait(ctrl, 3, 0, left);
    }
    if (Atomics.load(ctrl, 3) !== 1) {
      handle.terminate();
      broken = true;
      brokenReason = 'worker failed to start';
      return null;
    }
    return { handle, ctrl, seq: 0 };
  } catch (e) {
    broken = true;
    brokenReason = `worker could not be created: ${String(e)}`;
    return null;
  }
}

/**
 * How many worker threads (besides the main thread) are ready for use right now, starting them
 * if needed: min(getNumThreads() - 1, started workers). 0 means "run single-threaded".
 */
export function availableWorkers(): number {
  const want = getNumThreads() - 1;
  if (want <= 0 || broken || platform === null) return 0;
  while (workers.length < want) {
    const w = startWorker(platform);
    if (w === null) return 0;
    workers.push(w);
  }
  return want;
}

/**
 * Run `jobs[i]` on worker i (jobs.length ≤ availableWorkers()) while the main thread runs
 * `mainWork()`; returns when everything is finished. A worker error is rethrown here.
 */
export function runParallel(jobs: KernelJob[], mainWork: () => void): void {
  if (jobs.length > workers.length) throw new Error('runParallel: more jobs than workers');
  parallelRuns++;
  for (let i = 0; i < jobs.length; i++) {
    const w = workers[i]!;
    w.handle.post(jobs[i]);
    w.seq = (w.seq + 1) | 0;
    Atomics.store(w.ctrl, 0, w.seq);
    Atomics.notify(w.ctrl, 0);
  }
  let mainError: unknown = null;
  try {
    mainWork();
  } catch (e) {
    mainError = e;
  }
  const errors: string[] = [];
  for (let i = 0; i < jobs.length; i++) {
    const w = workers[i]!;
    // poll first (a worker usually finishes within microseconds of the main thread), then sleep
    const until = performance.now() + SPIN_MS;
    while (Atomics.load(w.ctrl, 1) !== w.seq && performance.now() < until);
    for (;;) {
      const done = Atomics.load(w.ctrl, 1);
      if (done === w.seq) break;
      Atomics.wait(w.ctrl, 1, done, 1000);
    }
    if (Atomics.load(w.ctrl, 2) !== 0) {
      Atomics.store(w.ctrl, 2, 0);
      const m = w.handle.receive();
      errors.push(m === undefined ? 'unknown worker error' : String(m));
    }
  }
  if (mainError !== null) throw mainError;
  if (errors.length > 0) throw new Error(`kernel worker failed: ${errors.join('\n')}`);
}

// ---------------------------------------------------------------------------------------------
// Shared scratch memory (grown on demand, reused between calls). Tags are by role ('in1', 'in2',
// 'out', 'wpack', ...) rather than by caller, so the retained memory is bounded by a few buffers of
// the largest size used; kernel calls are sequential on the main thread, so roles never collide.

const sharedCache = new Map<string, Float32Array | Float64Array>();
const sharedInts = new Map<string, Int32Array>();

/** A shared Float64Array scratch of at least `len` elements under the name `tag`. */
export function sharedF64(tag: string, len: number): Float64Array {
  const key = `${tag}:f64`;
  const cur = sharedCache.get(key);
  if (cur instanceof Float64Array && cur.length >= len) return cur;
  const a = new Float64Array(new SharedArrayBuffer(Math.max(len, 1) * 8));
  sharedCache.set(key, a);
  return a;
}

/** A shared Float32Array scratch of at least `len` elements under the name `tag`. */
export function sharedF32(tag: string, len: number): Float32Array {
  const key = `${tag}:f32`;
  const cur = sharedCache.get(key);
  if (cur instanceof Float32Array && cur.length >= len) return cur;
  const a = new Float32Array(new SharedArrayBuffer(Math.max(len, 1) * 4));
  sharedCache.set(key, a);
  return a;
}

/** A shared Int32Array scratch of at least `len` elements under the name `tag`. */
export function sharedI32(tag: string, len: number): Int32Array {
  const key = `${tag}:i32`;
  const cur = sharedInts.get(key);
  if (cur !== undefined && cur.length >= len) return cur;
  const a = new Int32Array(new SharedArrayBuffer(Math.max(len, 1) * 4));
  sharedInts.set(key, a);
  return a;
}

/** Shared scratch of the same element type as `like`. */
export function sharedLike(like: F, tag: string, len: number): F {
  return like instanceof Float32Array ? sharedF32(tag, len) : sharedF64(tag, len);
}

/**
 * `arr[off .. off+len)` visible to workers: returns `{ buf, off }` — the array itself when it already
 * lives in a SharedArrayBuffer, otherwise a copy in shared scratch `tag`.
 */
export function toShared(arr: F, off: number, len: number, tag: string): { buf: F; off: number } {
  if (arr.buffer instanceof SharedArrayBuffer) return { buf: arr, off };
  const s = sharedLike(arr, tag, len);
  s.set(arr.subarray(off, off + len));
  return { buf: s, off: 0 };
}
