/**
 * Matrix-multiply benchmark (tinybench): C = A·B, 256×256×256 float32 (2·256³ FLOPs), our packed
 * GEMM with 1 and 2 threads vs a naive triple loop; also transposed operands (A^T·B, A·B^T).
 *
 *   npx tsx bench/matmul.bench.ts
 */
import { Bench } from 'tinybench';
import { median, r2, startLoadProbe, uniformSource, isMain } from './_util.js';
import { gemm, gemmNaive, getNumThreads, setNumThreads } from '../src/kernels/cpu/index.js';





export async function run(): Promise<Record<string, unknown>> {
  const saved = getNumThreads();
  const otherLoad = startLoadProbe();
  const n = 256;
  const flops = 2 * n * n * n;
  const rng = uniformSource(7);
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
      const ms = median(t, 'bench/matmul.bench.ts');
      return { task: t.name, 'median ms': r2(ms), 'GFLOP/s': r2(flops / (ms * 1e6)) };
    });
    console.table(rows);
    const get = (name: string) => median(bench.tasks.find((t) => t.name === name)!, 'bench/matmul.bench.ts');
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

if (isMain(import.meta.url)) await run();
