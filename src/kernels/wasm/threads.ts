/**
 * The WebAssembly kernels' thread pool: a tiny synchronous pool of workers that run work items of the
 * generated modules over the one shared memory (src/kernels/wasm/runtime.ts: `runItems`).
 *
 * - A worker runs one small fixed program (WORKER_SETUP and a job loop, below: plain JavaScript text written
 *   as such): it keeps the memory and the module instances it was sent, and for each job calls the module's
 *   item driver `fn$items(argsPtr, counter, count)`, which takes items from an atomic counter in the memory.
 * - Synchronisation: each worker owns an Int32Array over a SharedArrayBuffer
 *   (`[0]` = job sequence requested, `[1]` = job sequence done, `[2]` = error flag, `[3]` = ready
 *   state). The main thread posts the job, bumps `[0]` and notifies; the worker wakes, runs it, stores `[1]`
 *   and notifies. The main thread works on the same items meanwhile and then blocks in `Atomics.wait`
 *   (allowed in Node and in a Web Worker) until every worker is done.
 * - Workers never keep the process alive; any failure to start one disables threading (single-threaded
 *   fallback), never an error.
 * - Platform-neutral: this module touches no Node API. How a worker is started and how a job reaches it is
 *   a `ThreadPlatform`, installed by `nodeThreads.ts` in Node (the Node entry points import it) or by the
 *   page's Web Workers (web/src/threads.ts). Without a platform everything runs on one thread.
 */
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
  /** Script text that defines `ctrl`, `takeJob()` and `reportError(text)` for the worker program. */
  readonly prologue: string;
  /**
   * How jobs reach `finishJob(job, seq)`: WORKER_LOOP (the default: a synchronous loop that waits on ctrl[0] and
   * takes each job with `takeJob()`), or the platform's own, e.g. a message handler where there is no
   * synchronous receive (a browser).
   */
  readonly jobLoop?: string;
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

/** How many multi-threaded kernel calls have run so far (diagnostics, tests). */
export function parallelRunCount(): number {
  return parallelRuns;
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
 * What every worker runs first, whatever drives its jobs: the ready signal, and `finishJob(job, seq)`, which
 * runs one job and signals it done through the control words (ctrl[1] = seq, ctrl[2] = 1 on an error, whose
 * text goes to `reportError`). A job is a `WasmJob`: the memory and a module come with the first job that
 * needs them; the worker keeps its instances.
 */
export const WORKER_SETUP = `
let memory = null;
const instances = new Map();
function runWasmJob(job) {
  if (job.memory !== undefined) memory = job.memory;
  if (memory === null) throw new Error('wasm job without a memory');
  let instance = instances.get(job.key);
  if (instance === undefined) {
    if (job.module === undefined) throw new Error('wasm job for an unknown module ' + job.key);
    instance = new WebAssembly.Instance(job.module, { env: { memory } });
    instances.set(job.key, instance);
  }
  // the module's driver takes items from the counter (an atomic add in WebAssembly) until none are left
  instance.exports[job.fn + '$items'](job.argsPtr, job.ctrByte, job.count);
}
function finishJob(job, seq) {
  try {
    if (job === undefined) throw new Error('no job message');
    runWasmJob(job);
  } catch (e) {
    Atomics.store(ctrl, 2, 1);
    try { reportError(String(e && e.stack ? e.stack : e)); } catch (e2) { /* ignore */ }
  }
  Atomics.store(ctrl, 1, seq);
  Atomics.notify(ctrl, 1);
}
Atomics.store(ctrl, 3, typeof WebAssembly === 'object' ? 1 : 2);
Atomics.notify(ctrl, 3);
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

/** A WebAssembly kernel job: run export `fn$items(argsPtr, ctrByte, count)` of the module cached under `key`. */
export interface WasmJob {
  key: string;
  module?: WebAssembly.Module;
  memory?: WebAssembly.Memory;
  fn: string;
  argsPtr: number;
  ctrByte: number;
  count: number;
}

/** A worker's whole program: the platform's prologue, WORKER_SETUP, and the platform's job loop. */
export function buildWorkerSource(p: Pick<ThreadPlatform, 'prologue' | 'jobLoop'>): string {
  return ['"use strict";', p.prologue, WORKER_SETUP, p.jobLoop ?? WORKER_LOOP].join('\n');
}

function startWorker(p: ThreadPlatform): PoolWorker | null {
  try {
    const ctrlBuf = new SharedArrayBuffer(16);
    const ctrl = new Int32Array(ctrlBuf);
    const handle = p.startWorker(buildWorkerSource(p), ctrlBuf);
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
export function runParallel(jobs: WasmJob[], mainWork: () => void): void {
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
