/**
 * Node's worker threads for the WebAssembly kernels' thread pool (threads.ts is platform-neutral).
 * Importing this module installs them; the Node entry points (src/index.ts, the CLI, benches, the
 * test setup) do, a browser bundle does not.
 *
 * A job reaches a worker blocked in `Atomics.wait` through a MessagePort it drains synchronously
 * with `receiveMessageOnPort` (Node-only), so a job costs no event-loop turn on either side.
 */
import { MessageChannel, Worker, receiveMessageOnPort } from 'node:worker_threads';
import os from 'node:os';
import { installThreadPlatform, type ThreadPlatform } from './threads.js';
import './nodeRelaxedSimd.js'; // relaxed SIMD on Node 20 (behind a V8 flag there) for the fused multiply-adds

/** Defines what the worker loop needs (see WORKER_LOOP in threadPool.ts) from Node's worker_threads. */
const prologue = `
const wt = require('node:worker_threads');
const ctrl = new Int32Array(wt.workerData.ctrl);
const port = wt.workerData.port;
function takeJob() { const m = wt.receiveMessageOnPort(port); return m === undefined ? undefined : m.message; }
function reportError(text) { port.postMessage(text); }
`;

export const nodeThreadPlatform: ThreadPlatform = {
  name: 'node worker_threads',
  prologue,
  cores: () => (typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length),
  threadsSetting: () => process.env['SIZESEG_THREADS'],
  startWorker(source, ctrl) {
    const { port1, port2 } = new MessageChannel();
    const worker = new Worker(source, {
      eval: true,
      workerData: { ctrl, port: port2 },
      transferList: [port2],
      stdout: false,
      stderr: false,
    });
    worker.unref();
    port1.unref();
    return {
      post: (job) => port1.postMessage(job),
      receive: () => receiveMessageOnPort(port1)?.message,
      terminate: () => void worker.terminate(),
      onError: (cb) => worker.on('error', cb),
    };
  },
};

installThreadPlatform(nodeThreadPlatform);
