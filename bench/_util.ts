/** Shared tinybench plumbing: run named tasks, return each task's median latency in ms. */
import '../src/kernels/wasm/index.js'; // the host kernel backends, as every entry point registers them
import '../src/kernels/wasm/nodeThreads.js'; // Node's worker threads for the WebAssembly kernels
import { readFileSync } from 'node:fs';
import { Bench } from 'tinybench';
import { Rng } from '../src/autograd/rng.js';

export function median(task: { result: unknown } | undefined, where = 'bench'): number {
  const r = task?.result as { state?: string; latency?: { p50?: number } } | undefined;
  if (r === undefined || r.latency?.p50 === undefined) {
    throw new Error(`${where}: a task did not complete (state ${String(r?.state)}).`);
  }
  return r.latency.p50;
}

export async function timeTasks(
  tasks: Record<string, () => void>,
  opts: { time: number; iterations: number; warmup?: boolean; warmupIterations?: number },
): Promise<Record<string, number>> {
  const bench = new Bench({
    time: opts.time,
    iterations: opts.iterations,
    warmup: opts.warmup ?? true,
    warmupIterations: opts.warmupIterations ?? 2,
    warmupTime: 50,
    throws: true,
  });
  for (const [name, fn] of Object.entries(tasks)) bench.add(name, fn, { async: false });
  await bench.run();
  const out: Record<string, number> = {};
  for (const name of Object.keys(tasks)) out[name] = median(bench.getTask(name));
  return out;
}

/** True when the file is run directly (`npx tsx bench/x.bench.ts`), not imported by bench/run.ts. */
export function isMain(importMetaUrl: string): boolean {
  return process.argv[1] !== undefined && importMetaUrl === new URL(`file://${process.argv[1]}`).href;
}

/** Fastest sample (ms): less sensitive than the median to other load on a shared machine. */
export function fastest(task: { name: string; result: unknown }): number {
  const r = task.result as { state?: string; latency?: { min?: number } };
  if (r.state !== 'completed' || r.latency?.min === undefined)
    throw new Error(`bench task ${task.name} did not complete: ${String(r.state)}`);
  return r.latency.min;
}

/**
 * CPU seconds of this process's finished children (a peer run with spawnSync, a memory child): fields
 * cutime and cstime of /proc/self/stat; 0 where that is unavailable.
 */
function childrenCpuSeconds(): number {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[13]) + Number(rest[14])) / 100; // fields 16 and 17, USER_HZ = 100
  } catch {
    return 0;
  }
}

/**
 * Average number of cores used by OTHER processes while `run()` ran (Linux /proc/stat minus this
 * process's own CPU time and its children's: the peers it runs are not other load); null where
 * /proc/stat is unavailable. Other load distorts 2-thread timings.
 */
export function startLoadProbe(): () => number | null {
  const busy = (): number | null => {
    try {
      const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
      const idle = (f[3] ?? 0) + (f[4] ?? 0);
      return (f.reduce((a, b) => a + b, 0) - idle) / 100; // USER_HZ = 100
    } catch {
      return null;
    }
  };
  const b0 = busy();
  const c0 = process.cpuUsage();
  const k0 = childrenCpuSeconds();
  const t0 = performance.now();
  return () => {
    const b1 = busy();
    if (b0 === null || b1 === null) return null;
    const own = process.cpuUsage(c0);
    const children = childrenCpuSeconds() - k0;
    const wall = (performance.now() - t0) / 1000;
    return Math.max(0, (b1 - b0 - (own.user + own.system) / 1e6 - children) / wall);
  };
}

export const r2 = (v: number): number => Math.round(v * 100) / 100;
export const gflops = (flops: number, ms: number): number => r2(flops / (ms * 1e6));

/** A uniform [0, 1) source from the library's seeded generator, for benchmark data. */
export function uniformSource(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.uniform();
}

/** n float32 values uniform in [−1, 1). */
export function randF32(rng: () => number, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => rng() * 2 - 1);
}

/**
 * SIZESEG_BENCH_QUICK=1: a smoke run (every task, a couple of samples) to check that the benches work;
 * its numbers are noise. Results record `quick: true`.
 */
export const quickRun = ((): boolean => {
  const v = process.env['SIZESEG_BENCH_QUICK'];
  return v !== undefined && v !== '' && v !== '0';
})();

/** `n` samples, or at most 2 in a quick run. */
export const samples = (n: number): number => (quickRun ? Math.min(n, 2) : n);

/** Console note when other processes loaded the machine while a bench ran. */
export function warnLoad(others: number | null): void {
  if (others !== null && others > 0.2) {
    console.warn(
      `note: other processes used ${others.toFixed(2)} cores on average during this run; 2-thread numbers are unreliable`,
    );
  }
}

/**
 * What every bench result records about its conditions, after warning on the console about other load
 * and about a smoke run: `...runConditions(otherLoad())` in a result object.
 */
export function runConditions(others: number | null): { quick: boolean; otherProcessesCores: number | null } {
  warnLoad(others);
  if (quickRun) console.warn('note: SIZESEG_BENCH_QUICK smoke run, 2 samples a task: these numbers are noise');
  return { quick: quickRun, otherProcessesCores: others === null ? null : r2(others) };
}
