/**
 * Workloads W1–W3 of ../shared/peers/SPEC.md on ResUNet-lite, batch 32, 48×32, CPU backend:
 *  W1 supervised train step (BCE with logits + Adam), W2 size-loss train step (n = 1, fast and naive
 *  estimators), W3 inference in eval mode. Reports medians and the W2/W1 ratio from the same run.
 * Peers measured on this machine (../shared/peers, the issues): PyTorch CPU W1 ≈ 0.2 s, TensorFlow.js
 * WebAssembly W1 ≈ 5.1 s and W3 ≈ 0.26–0.43 s, TensorFlow.js pure JS W1 ≈ 54 s.
 */
import { Rng, Tensor, bceWithLogits, noGrad, randn } from '../src/index.js';
import { sizeLoss } from '../src/estimators/sizeLossOp.js';
import { generateSynthetic, makeBatch } from '../src/data/index.js';
import { ResUNet } from '../src/models/resunet.js';
import { Adam } from '../src/models/optim.js';
import { isMain, timeTasks } from './_util.js';

export async function run(): Promise<Record<string, unknown>> {
  const B = 32, H = 48, W = 32;
  const ds = generateSynthetic({ count: B, seed: 0 });
  const batch = makeBatch(ds, Array.from({ length: B }, (_, i) => i));
  const x = new Tensor(batch.images, [B, 1, H, W]);
  const target = new Tensor(Float32Array.from(batch.masks), [B, 1, H, W]);
  const model = new ResUNet({ rng: new Rng(0) });
  const opt = new Adam(model.parameters(), { lr: 1e-4 });
  const sampler = new Rng(1);
  const step = (loss: () => Tensor) => () => {
    opt.zeroGrad();
    const l = loss();
    l.backward();
    opt.step();
  };
  const tasks = {
    'W1 supervised step': step(() => bceWithLogits(model.forward(x), target)),
    'W2 size step (fast)': step(() => sizeLoss(model.forward(x), batch.sizes, { rng: sampler, method: 'fast' })),
    'W2 size step (naive)': step(() => sizeLoss(model.forward(x), batch.sizes, { rng: sampler, method: 'naive' })),
    'W3 inference': () => noGrad(() => model.eval().forward(x)),
  };
  model.train();
  const medians = await timeTasks(
    { 'W1 supervised step': tasks['W1 supervised step'], 'W2 size step (fast)': tasks['W2 size step (fast)'], 'W2 size step (naive)': tasks['W2 size step (naive)'] },
    { time: 0, iterations: 5, warmupIterations: 1 },
  );
  Object.assign(medians, await timeTasks({ 'W3 inference': tasks['W3 inference'] }, { time: 0, iterations: 8, warmupIterations: 1 }));
  // the size loss alone (W5-like, batch of 32): how much of W2 is the estimator
  const logits = randn([B, 1, H, W], new Rng(2)).mul(3);
  Object.assign(medians, await timeTasks({
    'size loss fwd+bwd only (fast)': () => sizeLoss(logits.detach().requiresGrad_(), batch.sizes, { rng: sampler, method: 'fast' }).backward(),
  }, { time: 0, iterations: 10 }));
  const gflop = 0.13 * B; // forward GFLOP per batch (SPEC.md); a train step is ≈ 3× that
  const rows = Object.entries(medians).map(([task, ms]) => ({ task, 'median ms': Number(ms.toFixed(1)) }));
  console.table(rows);
  const w1 = medians['W1 supervised step']!;
  const result = {
    model: 'ResUNet-lite', parameters: model.parameterCount(), batch: B, medians_ms: medians,
    ratio_W2fast_over_W1: medians['W2 size step (fast)']! / w1,
    ratio_W2naive_over_W1: medians['W2 size step (naive)']! / w1,
    W1_effective_GFLOPs: (3 * gflop) / (w1 / 1000),
    W3_effective_GFLOPs: gflop / (medians['W3 inference']! / 1000),
    peers_W1_s: { pytorch_cpu: 0.2, tfjs_wasm: 5.1, tfjs_js: 54 },
    speedup_vs_tfjs_wasm_W1: 5100 / w1,
  };
  console.log(`W2/W1 = ${result.ratio_W2fast_over_W1.toFixed(2)} (fast), ${result.ratio_W2naive_over_W1.toFixed(2)} (naive); W1 ${(w1 / 1000).toFixed(2)} s vs TF.js-WASM 5.1 s, PyTorch 0.2 s`);
  return result;
}

if (isMain(import.meta.url)) await run();
