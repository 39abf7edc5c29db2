/**
 * Data benchmarks (tinybench v6): generating the built-in synthetic dataset (what `npm start` does first)
 * and, when ../shared is there, loading the prepared real slices. Target: 2000 synthetic images well
 * under a second. Runnable alone: `npx tsx bench/data.bench.ts`.
 */
import { existsSync } from 'node:fs';
import { generateSynthetic, loadPrepared } from '../src/data/index.js';
import { isMain, r2, timeTasks } from './_util.js';

const PREPARED = '../shared/data/hippocampus';

export async function run(): Promise<Record<string, unknown>> {
  generateSynthetic({ count: 200, seed: 9 }); // warm up the JIT
  const tasks: Record<string, () => void> = {
    'synthetic 2000 images 48×32': () => void generateSynthetic({ count: 2000, seed: 3 }),
  };
  if (existsSync(PREPARED)) tasks['prepared 6103 slices'] = () => void loadPrepared(PREPARED);
  const medians = await timeTasks(tasks, { time: 2000, iterations: 5 });
  const out: Record<string, unknown> = { syntheticMs2000: r2(medians['synthetic 2000 images 48×32']!) };
  if (tasks['prepared 6103 slices']) out.preparedMs = r2(medians['prepared 6103 slices']!);
  console.log(out);
  return out;
}

if (isMain(import.meta.url)) await run();
