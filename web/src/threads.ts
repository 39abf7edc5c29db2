/**
 * More than one kernel thread in a page: a ThreadPlatform (src/kernels/wasm/threads.ts) made of Web Workers,
 * for the training worker when the page is cross-origin isolated (SharedArrayBuffer and Atomics.wait exist).
 *
 * Two browser facts shape it (../shared/browser/README.md): a browser has no synchronous `receiveMessageOnPort`,
 * and a worker blocked in `Atomics.wait` cannot deliver a `postMessage` to a worker it created, while messages
 * on a MessageChannel port arrive. So:
 *  - the pool workers are started and connected by a MessageChannel *before* training, while the training
 *    worker's event loop is free (`preparePoolWorkers`);
 *  - when the thread pool starts a worker, its program goes over that port, with this platform's job loop in
 *    place of the synchronous one (which needs a synchronous receive): a job arrives as a port message, runs,
 *    and is signalled done through the shared control words exactly as the pool expects (ctrl[1] = the job's
 *    sequence number, then Atomics.notify). The training worker blocks in Atomics.wait meanwhile, which a
 *    worker may do.
 */
import { installThreadPlatform, type PoolWorkerHandle, type ThreadPlatform } from '../../src/kernels/wasm/threads.js';

/** The event-driven job loop: each job arrives as a port message and goes to the pool's finishJob. */
const EVENT_LOOP = `
let last = 0;
port.onmessage = (ev) => {
  last = (last + 1) | 0; // jobs arrive in order, one per sequence number
  finishJob(ev.data, last);
};
`;

/** What the pool's program finds when it is evaluated: its control words and its port. */
const PROLOGUE = `
const ctrl = new Int32Array(self.__sizesegCtrl);
const port = self.__sizesegPort;
function takeJob() { return undefined; }
function reportError(text) { self.__sizesegLastError = text; console.warn('sizeseg kernel worker: ' + text); }
`;

/** A pool worker's first program: wait for the real one on the port, then evaluate it. */
const BOOTSTRAP = `
self.onmessage = (ev) => {
  const port = ev.data.port;
  self.onmessage = null;
  port.onmessage = (e) => {
    port.onmessage = null;
    self.__sizesegCtrl = e.data.ctrl;
    self.__sizesegPort = port;
    (0, eval)(e.data.source);
  };
  port.postMessage('booted');
};
`;

interface Prepared {
  worker: Worker;
  port: MessagePort;
}

const prepared: Prepared[] = [];
let started = 0;

/** Start and connect `count` pool workers (call while the event loop is free, before training). */
export async function preparePoolWorkers(count: number): Promise<void> {
  const url = URL.createObjectURL(new Blob([BOOTSTRAP], { type: 'text/javascript' }));
  try {
    const want = count - (prepared.length + started);
    await Promise.all(
      Array.from(
        { length: Math.max(0, want) },
        () =>
          new Promise<void>((resolve, reject) => {
            const worker = new Worker(url);
            const channel = new MessageChannel();
            const timer = setTimeout(() => reject(new Error('a kernel Web Worker did not start within 10 s')), 10_000);
            channel.port1.onmessage = () => {
              clearTimeout(timer);
              channel.port1.onmessage = null;
              prepared.push({ worker, port: channel.port1 });
              resolve();
            };
            worker.onerror = (e) => {
              clearTimeout(timer);
              reject(new Error(`a kernel Web Worker failed: ${e.message}`));
            };
            worker.postMessage({ port: channel.port2 }, [channel.port2]);
          }),
      ),
    );
  } finally {
    URL.revokeObjectURL(url);
  }
}

export const webWorkerThreadPlatform: ThreadPlatform = {
  name: 'Web Workers',
  prologue: PROLOGUE,
  jobLoop: EVENT_LOOP,
  cores: () => navigator.hardwareConcurrency || 1,
  threadsSetting: () => undefined,
  startWorker(source: string, ctrl: SharedArrayBuffer): PoolWorkerHandle {
    const slot = prepared.shift();
    if (!slot) throw new Error('no prepared kernel Web Worker (call preparePoolWorkers first)');
    started++;
    slot.port.postMessage({ source, ctrl });
    return {
      post: (job) => slot.port.postMessage(job),
      // the pool worker keeps the text; a browser cannot read it back synchronously, the console has it
      receive: () => 'a kernel job failed in a Web Worker (its error is in the browser console)',
      terminate: () => slot.worker.terminate(),
      onError: (cb) => slot.worker.addEventListener('error', () => cb()),
    };
  },
};

/** Use Web Workers for the kernels' extra threads (needs cross-origin isolation). */
export function installWebWorkerThreads(): void {
  installThreadPlatform(webWorkerThreadPlatform);
}
