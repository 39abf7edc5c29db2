/**
 * Peak memory of W1 (ResUNet-lite supervised step, batch 32) in a fresh process, so that nothing else
 * the bench did counts: run by bench/training.bench.ts as a child,
 *
 *   node <tsx loader> bench/peers/w1Memory.ts <js|wasm> <steps> <threads>
 *
 * Prints one JSON line: the process's RSS high-water mark (`process.resourceUsage().maxRSS`, worker
 * threads included) after setup and after the steps, the WebAssembly memory (of which the step arena
 * holds the step's tensors), and V8's array buffers.
 */
import { bceWithLogits, openStepArena } from '../../src/index.js';
import { workloadSetup } from '../_resunet.js';
import { setCpuKernels, type CpuKernelSet } from '../../src/kernels/engine.js';
import { wasmMemory } from '../../src/kernels/wasm/runtime.js';
import { setNumThreads } from '../../src/kernels/wasm/threads.js';

const MiB = 2 ** 20;
const kernels = (process.argv[2] ?? 'wasm') as CpuKernelSet;
const steps = Number(process.argv[3] ?? 3);
const threads = Number(process.argv[4] ?? 2);
setCpuKernels(kernels);
setNumThreads(threads);

const { x, target, model, opt } = workloadSetup();
model.train();

const maxRssSetup = process.resourceUsage().maxRSS * 1024;
const t0 = performance.now();
let arenaBytes = 0;
for (let i = 0; i < steps; i++) {
  // as the trainer runs a step: inside a step arena (tensors in the WebAssembly memory; a no-op on js)
  const arena = openStepArena();
  opt.zeroGrad();
  const l = bceWithLogits(model.forward(x), target);
  l.backward();
  opt.step();
  arenaBytes = Math.max(arenaBytes, arena.bytes);
  arena.close();
}
const ms = (performance.now() - t0) / steps;
const maxRss = process.resourceUsage().maxRSS * 1024;
const mem = process.memoryUsage();
const r1 = (v: number): number => Math.round(v * 10) / 10;
console.log(
  JSON.stringify({
    kernels,
    steps,
    threads,
    mean_step_ms: r1(ms),
    maxRSS_after_setup_MiB: r1(maxRssSetup / MiB),
    maxRSS_MiB: r1(maxRss / MiB),
    step_maxRSS_increase_MiB: r1((maxRss - maxRssSetup) / MiB),
    rss_now_MiB: r1(mem.rss / MiB),
    // only the wasm kernels create the memory; asking for it under 'js' would allocate it
    wasm_memory_MiB: kernels === 'wasm' ? r1(wasmMemory().buffer.byteLength / MiB) : null,
    step_arena_MiB: r1(arenaBytes / MiB),
    arrayBuffers_MiB: r1(mem.arrayBuffers / MiB),
    heapUsed_MiB: r1(mem.heapUsed / MiB),
  }),
);
process.exit(0);
