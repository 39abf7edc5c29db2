/**
 * Matrix-multiply benchmark (tinybench): C = A·B, 256×256×256 float32 (2·256³ FLOPs), our packed
 * GEMM with 1 and 2 threads vs a naive triple loop; also transposed operands (A^T·B, A·B^T).
 *
 *   npx tsx bench/matmul.bench.ts
 */
import { Bench } from 'tinybench';
import type { Task } from 'tinybench';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gemm, gemmNaive, getNumThreads, setNumThreads } from '../src/kernels/cpu/index.js';

function makeRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function median(t: Task): number {
  const r = t.result;
  if (r.state !== 'completed') throw new Error(`bench task ${t.name} did not complete: ${r.state}`);
  return r.latency.p50;
}

/**
 * Average number of cores used by OTHER processes while `run()` ran (Linux /proc/stat minus this
 * process's own CPU time); null where /proc/stat is unavailable. Other load distorts 2-thread timings.
 */
function startLoadProbe(): () => number | null {
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
  const t0 = performance.now();
  return () => {
    const b1 = busy();
    if (b0 === null || b1 === null) return null;
    const own = process.cpuUsage(c0);
    const wall = (performance.now() - t0) / 1000;
    return Math.max(0, (b1 - b0 - (own.user + own.system) / 1e6) / wall);
  };
}

const r2 = (v: number): number => Math.round(v * 100) / 100;

export async function run(): Promise<Record<string, unknown>> {
  const saved = getNumThreads();
  const otherLoad = startLoadProbe();
  const n = 256;
  const flops = 2 * n * n * n;
  const rng = makeRng(7);
  const A = new Float32Array(n * n).map(() => rng() * 2 - 1);
  const B = new Float32Array(n * n).map(() => rng() * 2 - 1);
  const C = new Float32Array(n * n);
  const threads = (t: number) => ({ beforeAll: () => setNumThreads(t) });
  try {
    const bench = new Bench({ name: 'matmul 256³ float32', iterations: 20, time: 500, warmupIterations: 5, warmupTime: 0 });
    bench.add('naive triple loop', () => gemmNaive(false, false, n, n, n, A, 0, n, B, 0, n, C, 0, n, false), threads(1));
    for (const t of [1, 2]) {
      bench.add(`gemm ${t}T`, () => gemm(false, false, n, n, n, A, 0, n, B, 0, n, C, 0, n, false), threads(t));
      bench.add(`gemm A^T·B ${t}T`, () => gemm(true, false, n, n, n, A, 0, n, B, 0, n, C, 0, n, false), threads(t));
      bench.add(`gemm A·B^T ${t}T`, () => gemm(false, true, n, n, n, A, 0, n, B, 0, n, C, 0, n, false), threads(t));
    }
    await bench.run();
    const rows = bench.tasks.map((t) => {
      const ms = median(t);
      return { task: t.name, 'median ms': r2(ms), 'GFLOP/s': r2(flops / (ms * 1e6)) };
    });
    console.table(rows);
    const get = (name: string) => median(bench.tasks.find((t) => t.name === name)!);
    const others = otherLoad();
    if (others !== null && others > 0.2) {
      console.warn(`note: other processes used ${others.toFixed(2)} cores on average during this run; 2-thread numbers are unreliable`);
    }
    return {
      otherProcessesCores: others === null ? null : r2(others),
      size: n,
      flops,
      rows,
      gflops1T: r2(flops / (get('gemm 1T') * 1e6)),
      gflops2T: r2(flops / (get('gemm 2T') * 1e6)),
      speedupVsNaive: r2(get('naive triple loop') / get('gemm 2T')),
    };
  } finally {
    setNumThreads(saved);
  }
}

const invokedDirectly = process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) {
  run().then(
    () => undefined,
    (e: unknown) => {
      console.error(e);
      process.exitCode = 1;
    },
  );
}
