/**
 * W3 (../shared/peers/SPEC.md: inference in eval mode, batch 32, ResUNet-lite [16, 32, 64, 128], 48×32; the
 * set-up of bench/_resunet.ts) in onnxruntime-web on the network `exportOnnx` wrote, beside sizeseg's own
 * W3 on the same weights and images, in this one run and with the same number of threads:
 *
 *   sizeseg            noGrad(model.forward) in a step arena, as bench/training.bench.ts times W3
 *   onnxruntime-web    InferenceSession.run on its WebAssembly backend (in Node), graph optimisation 'all'
 *
 * Both give the same logits (the ratio of their largest difference to the largest logit is recorded).
 * onnxruntime-node is not benched: its install downloads binaries from outside the npm registry.
 * Medians from tinybench; SIZESEG_BENCH_QUICK=1 for a smoke run.
 *
 *   npm run bench -- onnx        (or: npx tsx bench/onnx.bench.ts)
 */
import { Bench } from 'tinybench';
import * as ort from 'onnxruntime-web';
import { noGrad, withStepArena } from '../src/index.js';
import { exportOnnx } from '../src/export/onnx.js';
import { getNumThreads } from '../src/kernels/wasm/threads.js';
import { cpuKernels } from '../src/kernels/engine.js';
import { isMain, median, r2, runConditions, samples, startLoadProbe } from './_util.js';
import { resunetConvFlops, workloadSetup } from './_resunet.js';

const ORT_VERSION = '1.30.0'; // package.json pins the devDependency; ort.env.versions says what loaded

/** Median ms of each (possibly asynchronous) task. */
async function timeAsync(tasks: Record<string, () => unknown>, iterations: number): Promise<Record<string, number>> {
  const bench = new Bench({ time: 0, iterations, warmup: true, warmupIterations: 2, warmupTime: 50, throws: true });
  for (const [name, fn] of Object.entries(tasks)) bench.add(name, fn as () => Promise<void>);
  await bench.run();
  return Object.fromEntries(
    Object.keys(tasks).map((name) => [name, median(bench.getTask(name), `onnx bench ${name}`)]),
  );
}

export async function run(): Promise<Record<string, unknown>> {
  const threads = getNumThreads();
  const otherLoad = startLoadProbe();
  const { x, model } = workloadSetup();
  model.eval();
  const bytes = exportOnnx(model, { height: 48, width: 32 });
  // onnxruntime-web reads its thread count once, at its first session
  ort.env.wasm.numThreads = threads;
  const session = await ort.InferenceSession.create(bytes, {
    executionProviders: ['wasm'],
    graphOptimizationLevel: 'all',
  });
  const feeds = { images: new ort.Tensor('float32', x.values() as Float32Array, [...x.shape]) };
  try {
    const ours = noGrad(() => model.forward(x)).values();
    const theirs = (await session.run(feeds))['logits']!.data as Float32Array;
    let diff = 0,
      scale = 0;
    for (let i = 0; i < ours.length; i++) {
      diff = Math.max(diff, Math.abs((ours[i] as number) - theirs[i]!));
      scale = Math.max(scale, Math.abs(ours[i] as number));
    }
    const ms = await timeAsync(
      {
        sizeseg: () =>
          withStepArena(() => {
            noGrad(() => model.forward(x));
          }),
        'onnxruntime-web': async () => {
          await session.run(feeds);
        },
      },
      samples(11),
    );
    const gflop = resunetConvFlops().forward / 1e9;
    const rows = Object.entries(ms).map(([runtime, m]) => ({
      runtime,
      'median ms': r2(m),
      'conv GFLOP/s': r2(gflop / (m / 1000)),
    }));
    console.log(
      `W3 inference, batch 32, ResUNet-lite, 48×32, ${threads} thread(s), identical weights and images (logits agree to ${(diff / scale).toExponential(1)} of their scale):`,
    );
    console.table(rows);
    return {
      workload:
        'W3 inference in eval mode, batch 32, ResUNet-lite [16, 32, 64, 128], 48×32 synthetic images (bench/_resunet.ts)',
      threads,
      sizeseg: { kernels: cpuKernels(), median_ms: r2(ms['sizeseg']!) },
      onnxruntime_web: {
        version: ort.env.versions?.web ?? ORT_VERSION,
        backend: 'wasm',
        num_threads: ort.env.wasm.numThreads,
        graph_optimization: 'all',
        median_ms: r2(ms['onnxruntime-web']!),
      },
      onnxruntime_web_vs_sizeseg: r2(ms['onnxruntime-web']! / ms['sizeseg']!),
      logits_max_diff_relative: Number((diff / scale).toExponential(2)),
      onnx_bytes: bytes.length,
      ...runConditions(otherLoad()),
    };
  } finally {
    await session.release();
  }
}

if (isMain(import.meta.url)) {
  console.log(JSON.stringify(await run(), null, 2));
  process.exit(0);
}
