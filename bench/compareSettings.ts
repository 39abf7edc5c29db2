/**
 * Two settings of the WebAssembly kernels measured step by step in one process: W1 and W3 (../shared/peers/
 * SPEC.md) alternate between the settings every step, so both see the same machine at the same moments. On a
 * shared, noisy machine this resolves differences of a few per cent that separate processes
 * (compareCheckouts.ts) cannot.
 *
 *   npx tsx bench/compareSettings.ts fma off on [--steps 30]
 *   npx tsx bench/compareSettings.ts conv direct auto [--steps 30]
 *   npx tsx bench/compareSettings.ts dw4 off on [--steps 30]   ('auto' without / with F(4×4) for the weight gradient)
 *
 * Prints the median milliseconds per setting and their ratio (second over first).
 */
import {
  Adam,
  bceWithLogits,
  generateSynthetic,
  makeBatch,
  noGrad,
  openStepArena,
  ResUNet,
  Rng,
  Tensor,
  withStepArena,
} from '../src/index.js';
import { setAutoWeightGrad4, setConvAlgorithm, type ConvAlgorithm } from '../src/kernels/wasm/winogradConv.js';
import { setFusedMultiplyAdd, type FusedMultiplyAddMode } from '../src/kernels/wasm/multiplyAdd.js';

const SETTINGS: Record<string, (value: string) => void> = {
  fma: (v) => setFusedMultiplyAdd(v as FusedMultiplyAddMode),
  conv: (v) => setConvAlgorithm(v as ConvAlgorithm),
  dw4: (v) => {
    if (v !== 'on' && v !== 'off') throw new Error(`compareSettings dw4: expected on or off, got ${v}`);
    setAutoWeightGrad4(v === 'on');
  },
};

const args = process.argv.slice(2);
const [name, a, b] = args;
const stepsAt = args.indexOf('--steps');
const steps = stepsAt >= 0 ? Number(args[stepsAt + 1]) : 30;
const apply = name === undefined ? undefined : SETTINGS[name];
if (apply === undefined || a === undefined || b === undefined) {
  console.log(
    `usage: npx tsx bench/compareSettings.ts {${Object.keys(SETTINGS).join('|')}} VALUE_A VALUE_B [--steps 30]`,
  );
  process.exit(2);
}

const median = (v: number[]) => {
  const s = [...v].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const B = 32;
const ds = generateSynthetic({ count: B, seed: 11 });
const batch = makeBatch(
  ds,
  Array.from({ length: B }, (_, i) => i),
);
const x = new Tensor(Float32Array.from(batch.images), [B, 1, 48, 32]);
const target = new Tensor(Float32Array.from(batch.masks), [B, 1, 48, 32]);
const model = new ResUNet({ widths: [16, 32, 64, 128], rng: new Rng(0) });
const opt = new Adam(model.parameters(), { lr: 1e-3 });

const w1 = () => {
  model.train();
  const arena = openStepArena();
  try {
    opt.zeroGrad();
    bceWithLogits(model.forward(x), target).backward();
    opt.step();
  } finally {
    arena.close();
  }
};
const w3 = () => {
  model.eval();
  withStepArena(() => {
    noGrad(() => model.forward(x));
  });
};

for (const [label, work] of [
  ['W1', w1],
  ['W3', w3],
] as const) {
  const ms: Record<string, number[]> = { [a]: [], [b]: [] };
  for (const v of [a, b]) {
    apply(v);
    work(); // warm-up: the kernels of this setting are generated on first use
  }
  for (let i = 0; i < steps; i++) {
    for (const v of i % 2 === 0 ? [a, b] : [b, a]) {
      apply(v);
      const t0 = performance.now();
      work();
      ms[v]!.push(performance.now() - t0);
    }
  }
  const ma = median(ms[a]!),
    mb = median(ms[b]!);
  console.log(
    `${label}: ${name}=${a} ${ma.toFixed(1)} ms, ${name}=${b} ${mb.toFixed(1)} ms, ratio ${(mb / ma).toFixed(3)} (${steps} steps each, alternated)`,
  );
}
