/** Shared tinybench plumbing: run named tasks, return each task's median latency in ms. */
import { Bench } from 'tinybench';

export function median(task: { result: unknown } | undefined, where = 'bench'): number {
  const r = task?.result as { state?: string; latency?: { p50?: number } } | undefined;
  if (r === undefined || r.latency?.p50 === undefined) {
    throw new Error(`${where}: a task did not complete (state ${String(r?.state)}).`);
  }
  return r.latency.p50;
}

export async function timeTasks(
  tasks: Record<string, () => void>,
  opts: { time: number; iterations: number; warmup?: boolean; warmupIterations?: number },
): Promise<Record<string, number>> {
  const bench = new Bench({
    time: opts.time,
    iterations: opts.iterations,
    warmup: opts.warmup ?? true,
    warmupIterations: opts.warmupIterations ?? 2,
    warmupTime: 50,
    throws: true,
  });
  for (const [name, fn] of Object.entries(tasks)) bench.add(name, fn, { async: false });
  await bench.run();
  const out: Record<string, number> = {};
  for (const name of Object.keys(tasks)) out[name] = median(bench.getTask(name));
  return out;
}

/** True when the file is run directly (`npx tsx bench/x.bench.ts`), not imported by bench/run.ts. */
export function isMain(importMetaUrl: string): boolean {
  return process.argv[1] !== undefined && importMetaUrl === new URL(`file://${process.argv[1]}`).href;
}
