/**
 * The autograd core on U-Net-sized activations ([32, 16, 48, 32] float32, 786k elements): elementwise ops
 * forward and forward+backward through the tape, a broadcasting op, a reduction, and a 256³ matmul.
 */
import { Rng, matmul, noGrad, randn } from '../src/index.js';
import { isMain, timeTasks } from './_util.js';

export async function run(): Promise<Record<string, unknown>> {
  const rng = new Rng(0);
  const shape = [32, 16, 48, 32];
  const a = randn(shape, rng);
  const b = randn(shape, rng);
  const bias = randn([1, 16, 1, 1], rng);
  const m1 = randn([256, 256], rng);
  const m2 = randn([256, 256], rng);
  const elements = a.size;
  const tasks = {
    'add (same shape)': () => noGrad(() => a.add(b)),
    relu: () => noGrad(() => a.relu()),
    'add broadcast [1,16,1,1]': () => noGrad(() => a.add(bias)),
    'sum over all': () => noGrad(() => a.sum()),
    'add+relu fwd+bwd (tape)': () => {
      const x = a.detach().requiresGrad_();
      x.add(b).relu().sum().backward();
    },
    'matmul 256³ float32': () => noGrad(() => matmul(m1, m2)),
  };
  const ms = await timeTasks(tasks, { time: 500, iterations: 10 });
  const rows = Object.entries(ms).map(([task, t]) => ({
    task,
    'median ms': Number(t.toFixed(3)),
    throughput: task.startsWith('matmul')
      ? `${((2 * 256 ** 3) / (t / 1000) / 1e9).toFixed(2)} GFLOP/s`
      : `${(elements / (t / 1000) / 1e6).toFixed(0)} M elem/s`,
  }));
  console.table(rows);
  return { elements, medians_ms: ms, matmul256_GFLOPs: (2 * 256 ** 3) / (ms['matmul 256³ float32']! / 1000) / 1e9 };
}

if (isMain(import.meta.url)) await run();
