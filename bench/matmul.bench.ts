/**
 * Matrix-multiply benchmark (tinybench): C = A·B, 256×256×256 float32 (2·256³ FLOPs): the JavaScript packed
 * GEMM with 1 and 2 threads (also with transposed operands, A^T·B and A·B^T) and the generated WebAssembly
 * SIMD GEMM (src/kernels/wasm/gemm.ts) with 1 and 2 threads, against a naive triple loop. The WebAssembly
 * result is checked once against the JS one (max |Δ| / max |ref|). Beside them, the PyTorch CPU peer
 * (bench/peers/torch_kernels.py: `A @ B` in Debian's python3-torch, 1 and 2 threads; skipped with the
 * reason where it cannot run). Debian builds torch on a generic BLAS, which shows here.
 *
 *   npm run bench -- matmul        (or: npx tsx bench/matmul.bench.ts; SIZESEG_BENCH_QUICK=1 for a smoke run)
 */
import { Bench } from 'tinybench';
import { isMain, median, quickRun, r2, samples, startLoadProbe, uniformSource, runConditions } from './_util.js';
import { gemm } from '../src/kernels/js/index.js';
import { getNumThreads, setNumThreads } from '../src/kernels/wasm/threads.js';
import { gemmWasm } from '../src/kernels/wasm/gemm.js';
import { wasmSimdAvailable } from '../src/kernels/wasm/runtime.js';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KEEP_FREED_MEMORY, runPythonPeer } from './peers/python.js';

const TORCH_KERNELS = join(dirname(fileURLToPath(import.meta.url)), 'peers', 'torch_kernels.py');

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
  const wasm = wasmSimdAvailable();
  try {
    let wasmRelError: number | null = null;
    if (wasm) {
      gemm(false, false, n, n, n, A, 0, n, B, 0, n, C, 0, n, false);
      const W = gemmWasm(n, n, n, A, B);
      let d = 0,
        m = 0;
      for (let i = 0; i < C.length; i++) {
        d = Math.max(d, Math.abs(W[i]! - C[i]!));
        m = Math.max(m, Math.abs(C[i]!));
      }
      wasmRelError = Number((d / m).toExponential(2));
    }
    const bench = new Bench({
      name: 'matmul 256³ float32',
      iterations: samples(20),
      time: quickRun ? 0 : 500,
      warmupIterations: 5,
      warmupTime: 0,
      throws: true,
    });
    // the js reference is one thread of plain loops
    bench.add('js gemm (reference)', () => gemm(false, false, n, n, n, A, 0, n, B, 0, n, C, 0, n, false), threads(1));
    bench.add(
      'js gemm A^T·B (reference)',
      () => gemm(true, false, n, n, n, A, 0, n, B, 0, n, C, 0, n, false),
      threads(1),
    );
    bench.add(
      'js gemm A·B^T (reference)',
      () => gemm(false, true, n, n, n, A, 0, n, B, 0, n, C, 0, n, false),
      threads(1),
    );
    for (const t of [1, 2])
      if (wasm)
        bench.add(
          `wasm gemm ${t}T`,
          () => {
            gemmWasm(n, n, n, A, B);
          },
          threads(t),
        );
    await bench.run();
    const workloads = bench.tasks.map((t) => {
      const ms = median(t, 'bench/matmul.bench.ts');
      return { name: t.name, median_ms: r2(ms), gflops: r2(flops / (ms * 1e6)), target: null, meets_target: null };
    });
    const peer: Record<string, unknown> = {};
    for (const t of [1, 2]) {
      const r = runPythonPeer(TORCH_KERNELS, ['--threads', String(t), '--matmul', String(n)], KEEP_FREED_MEMORY);
      const gf = r.ok ? (r.json['matmul_gflops'] as number) : null;
      peer[`${t}T`] = r.ok
        ? { measured: true, torch: r.json['torch'], gflops: gf }
        : { measured: false, reason: r.reason };
      if (gf !== null)
        workloads.push({
          name: `pytorch ${t}T`,
          median_ms: r2(flops / (gf * 1e6)),
          gflops: gf,
          target: null,
          meets_target: null,
        });
      else console.log(`PyTorch CPU peer (${t}T) not measured: ${r.ok ? 'no matmul in its output' : r.reason}`);
    }
    console.table(workloads.map((w) => ({ task: w.name, 'median ms': w.median_ms, 'GFLOP/s': w.gflops })));
    if (wasmRelError !== null) console.log(`wasm vs js GEMM: max |Δ| / max |C| = ${wasmRelError}`);
    const get = (name: string) => workloads.find((w) => w.name === name)?.median_ms ?? null;
    const g = (name: string) => {
      const ms = get(name);
      return ms === null ? null : r2(flops / (ms * 1e6));
    };
    return {
      ...runConditions(otherLoad()),
      size: n,
      flops,
      workloads,
      gflops1T: g('js gemm 1T'),
      gflops2T: g('js gemm 2T'),
      wasm_gflops1T: g('wasm gemm 1T'),
      wasm_gflops2T: g('wasm gemm 2T'),
      speedupVsNaive: r2(get('naive triple loop')! / get('js gemm 2T')!),
      wasm_vs_js_2T: wasm ? r2(get('js gemm 2T')! / get('wasm gemm 2T')!) : null,
      wasm_vs_js_max_rel_error: wasmRelError,
      pytorch_cpu: peer,
      wasm_vs_pytorch_2T: wasm && g('pytorch 2T') !== null ? r2(get('pytorch 2T')! / get('wasm gemm 2T')!) : null,
    };
  } finally {
    setNumThreads(saved);
  }
}

if (isMain(import.meta.url)) await run();
