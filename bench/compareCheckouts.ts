/**
 * The same workloads (W1, W2, W3 of ../shared/peers/SPEC.md: ResUNet-lite, batch 32, 48×32, the WebAssembly
 * kernels, each step in a step scope as the trainer runs it) on two checkouts of sizeseg, alternated in one run
 * so that both see the same machine: how much a change moved the speed.
 *
 *   npx tsx bench/compareCheckouts.ts OLD_DIR NEW_DIR [--rounds 4] [--steps 6] [--out FILE]
 *
 * Each round runs a fresh child process per checkout (old, new, then new, old in the next round); a child times
 * `--steps` steps of each workload after one warm-up step and prints the medians. The result is the median over
 * rounds of each checkout's medians and their ratio new/old. Only the public API of src/index.ts is used
 * (openStepArena, withStepArena, …), so older checkouts work too.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

type Medians = Record<'W1' | 'W2' | 'W3', number>;

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Child: time the workloads on the checkout at `dir`. */
async function child(dir: string, steps: number): Promise<Medians> {
  const api = await import(pathToFileURL(resolve(dir, 'src/index.ts')).href);
  const { sizeLoss } = await import(pathToFileURL(resolve(dir, 'src/estimators/sizeLossOp.ts')).href);
  const B = 32;
  const ds = api.generateSynthetic({ count: B, seed: 11 });
  const batch = api.makeBatch(
    ds,
    Array.from({ length: B }, (_, i) => i),
  );
  const x = new api.Tensor(Float32Array.from(batch.images), [B, 1, 48, 32]);
  const target = new api.Tensor(Float32Array.from(batch.masks), [B, 1, 48, 32]);
  const model = new api.ResUNet({ widths: [16, 32, 64, 128], rng: new api.Rng(0) });
  const opt = new api.Adam(model.parameters(), { lr: 1e-3 });
  const sampler = new api.Rng(1);
  const time = (fn: () => void): number => {
    fn(); // warm-up: kernel modules are generated on first use
    const ms: number[] = [];
    for (let i = 0; i < steps; i++) {
      const t0 = performance.now();
      fn();
      ms.push(performance.now() - t0);
    }
    return median(ms);
  };
  const step = (loss: () => { backward(): void }) => () => {
    const arena = api.openStepArena();
    try {
      opt.zeroGrad();
      loss().backward();
      opt.step();
    } finally {
      arena.close();
    }
  };
  model.train();
  const W1 = time(step(() => api.bceWithLogits(model.forward(x), target)));
  const W2 = time(step(() => sizeLoss(model.forward(x), batch.sizes, { rng: sampler, method: 'fast' })));
  model.eval();
  const W3 = time(() =>
    api.withStepArena(() => {
      api.noGrad(() => model.forward(x));
    }),
  );
  return { W1, W2, W3 };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--child') {
    console.log(JSON.stringify(await child(args[1]!, Number(args[2]))));
    return;
  }
  const opt = (name: string, fallback: number) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? Number(args[i + 1]) : fallback;
  };
  const dirs = args.filter((a, i) => !a.startsWith('--') && !(i > 0 && args[i - 1]!.startsWith('--')));
  if (dirs.length !== 2 || args.includes('--help')) {
    console.log('usage: npx tsx bench/compareCheckouts.ts OLD_DIR NEW_DIR [--rounds 4] [--steps 6] [--out FILE]');
    process.exit(dirs.length === 2 ? 0 : 2);
  }
  const [oldDir, newDir] = dirs.map((d) => resolve(d)) as [string, string];
  const rounds = opt('rounds', 4),
    steps = opt('steps', 6);
  const runs: Record<'old' | 'new', Medians[]> = { old: [], new: [] };
  for (let r = 0; r < rounds; r++) {
    const order: ('old' | 'new')[] = r % 2 === 0 ? ['old', 'new'] : ['new', 'old'];
    for (const which of order) {
      const dir = which === 'old' ? oldDir : newDir;
      const p = spawnSync(process.execPath, ['--import', 'tsx', import.meta.filename, '--child', dir, String(steps)], {
        cwd: dir,
        encoding: 'utf8',
      });
      if (p.status !== 0) throw new Error(`${which} (${dir}) failed: ${p.stderr}`);
      const m = JSON.parse(p.stdout.trim().split('\n').pop()!) as Medians;
      runs[which].push(m);
      console.log(
        `round ${r + 1} ${which}: W1 ${m.W1.toFixed(1)} ms, W2 ${m.W2.toFixed(1)} ms, W3 ${m.W3.toFixed(1)} ms`,
      );
    }
  }
  const summary = Object.fromEntries(
    (['W1', 'W2', 'W3'] as const).map((w) => {
      const o = median(runs.old.map((m) => m[w])),
        n = median(runs.new.map((m) => m[w]));
      return [w, { old_ms: +o.toFixed(1), new_ms: +n.toFixed(1), new_over_old: +(n / o).toFixed(3) }];
    }),
  );
  console.table(summary);
  const out = { oldDir, newDir, rounds, steps, date: new Date().toISOString(), summary, runs };
  const file = args.includes('--out') ? args[args.indexOf('--out') + 1]! : null;
  if (file) writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
}

await main();
