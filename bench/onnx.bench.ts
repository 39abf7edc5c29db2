/**
 * W3 (../shared/peers/SPEC.md: inference in eval mode, batch 32, ResUNet-lite [16, 32, 64, 128], 48×32; the
 * set-up of bench/_resunet.ts) in onnxruntime-web on the network `exportOnnx` wrote, beside sizeseg's own
 * W3 on the same weights and images, in this one run and with the same number of threads:
 *
 *   sizeseg            noGrad(model.forward) in a step arena, as bench/training.bench.ts times W3
 *   onnxruntime-web    InferenceSession.run on its WebAssembly backend (in Node), graph optimisation 'all'
 *
 *   onnxruntime-node   the native CPU runtime, when installed (`npm run bench:peers`: it is 96 MB, so it lives in
 *                      bench/peers/onnxruntime-node/, apart from sizeseg's dependencies), intra-op threads = ours
 *
 * All give the same logits (the ratio of their largest difference to the largest logit is recorded).
 * Medians from tinybench, the runtimes interleaved; SIZESEG_BENCH_QUICK=1 for a smoke run.
 *
 *   npm run bench -- onnx        (or: npx tsx bench/onnx.bench.ts)
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';
import * as ort from 'onnxruntime-web';
import { noGrad, withStepArena } from '../src/index.js';
import { exportOnnx } from '../src/export/onnx.js';
import { getNumThreads } from '../src/kernels/wasm/threads.js';
import { cpuKernels } from '../src/kernels/engine.js';
import { isMain, median, r2, runConditions, samples, startLoadProbe } from './_util.js';
import { resunetConvFlops, workloadSetup } from './_resunet.js';

const ORT_VERSION = '1.30.0'; // package.json pins the devDependency; ort.env.versions says what loaded

/** The part of onnxruntime-node's API used here (its types live in the peer folder, not in sizeseg's dependencies). */
interface OrtNode {
  env: { versions?: Record<string, string> };
  Tensor: new (type: 'float32', data: Float32Array, dims: number[]) => unknown;
  InferenceSession: {
    create(
      model: Uint8Array,
      options: Record<string, unknown>,
    ): Promise<{
      run(feeds: Record<string, unknown>): Promise<Record<string, { data: unknown }>>;
      release(): Promise<void>;
    }>;
  };
}

const ORT_NODE_DIR = join(dirname(fileURLToPath(import.meta.url)), 'peers', 'onnxruntime-node');

/** onnxruntime-node from the peer folder, or why it is not there. */
function loadOrtNode(): { ort: OrtNode } | { reason: string } {
  if (!existsSync(join(ORT_NODE_DIR, 'node_modules', 'onnxruntime-node')))
    return { reason: 'not installed: npm run bench:peers (96 MB into bench/peers/onnxruntime-node/)' };
  try {
    return { ort: createRequire(join(ORT_NODE_DIR, 'package.json'))('onnxruntime-node') as OrtNode };
  } catch (e) {
    return { reason: `onnxruntime-node did not load: ${(e as Error).message.split('\n')[0]}` };
  }
}

/** The largest |a − b| over the largest |a|. */
function relativeMaxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0,
    scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs((a[i] as number) - (b[i] as number)));
    scale = Math.max(scale, Math.abs(a[i] as number));
  }
  return diff / scale;
}

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
  const native = loadOrtNode();
  const nativeSession =
    'ort' in native
      ? await native.ort.InferenceSession.create(bytes, {
          intraOpNumThreads: threads,
          interOpNumThreads: 1,
          executionMode: 'sequential',
          graphOptimizationLevel: 'all',
        })
      : null;
  const nativeFeeds =
    'ort' in native ? { images: new native.ort.Tensor('float32', Float32Array.from(x.values()), [...x.shape]) } : {};
  try {
    const ours = noGrad(() => model.forward(x)).values();
    const diff = relativeMaxDiff(ours, (await session.run(feeds))['logits']!.data as Float32Array);
    const nativeDiff = nativeSession
      ? relativeMaxDiff(ours, (await nativeSession.run(nativeFeeds))['logits']!.data as Float32Array)
      : null;
    const tasks: Record<string, () => unknown> = {
      sizeseg: () =>
        withStepArena(() => {
          noGrad(() => model.forward(x));
        }),
      'onnxruntime-web': async () => {
        await session.run(feeds);
      },
    };
    if (nativeSession)
      tasks['onnxruntime-node'] = async () => {
        await nativeSession.run(nativeFeeds);
      };
    const ms = await timeAsync(tasks, samples(11));
    const gflop = resunetConvFlops().forward / 1e9;
    const rows = Object.entries(ms).map(([runtime, m]) => ({
      runtime,
      'median ms': r2(m),
      'conv GFLOP/s': r2(gflop / (m / 1000)),
    }));
    console.log(
      `W3 inference, batch 32, ResUNet-lite, 48×32, ${threads} thread(s), identical weights and images (logits agree to ${diff.toExponential(1)} of their scale${nativeDiff === null ? '' : `; onnxruntime-node ${nativeDiff.toExponential(1)}`}):`,
    );
    if (!nativeSession && 'reason' in native) console.log(`onnxruntime-node: ${native.reason}`);
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
      onnxruntime_node:
        'ort' in native
          ? {
              version: native.ort.env.versions?.['node'] ?? null,
              intra_op_threads: threads,
              graph_optimization: 'all',
              median_ms: r2(ms['onnxruntime-node']!),
              logits_max_diff_relative: Number(nativeDiff!.toExponential(2)),
            }
          : { measured: false, reason: native.reason },
      sizeseg_vs_onnxruntime_node: 'ort' in native ? r2(ms['sizeseg']! / ms['onnxruntime-node']!) : null,
      logits_max_diff_relative: Number(diff.toExponential(2)),
      onnx_bytes: bytes.length,
      ...runConditions(otherLoad()),
    };
  } finally {
    await session.release();
    await nativeSession?.release();
  }
}

if (isMain(import.meta.url)) {
  console.log(JSON.stringify(await run(), null, 2));
  process.exit(0);
}
