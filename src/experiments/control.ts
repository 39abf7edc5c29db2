/**
 * A control for Fig. 7 (ours): is the gain of the size phase due to the size labels, or just to more training on
 * more images (the size phase also updates batch-norm statistics and keeps optimising from an under-converged
 * network)? For each seed and m, the same pre-trained network gets two size phases that differ only in the labels:
 *  - 'size': the true object sizes (exactly the Fig. 7 protocol, so its numbers repeat Fig. 7's);
 *  - 'shuffled': the same sizes permuted among the pool images (the same label distribution, no information about
 *    the image at hand).
 */
import { Rng } from '../autograd/rng.js';
import type { Tensor } from '../autograd/tensor.js';
import type { Batch } from '../data/index.js';
import { sizeLoss } from '../estimators/sizeLossOp.js';
import { evaluate, forwardToHost } from '../train/trainer.js';
import { lineChartSvg } from '../viz/svg.js';
import {
  backendRecord,
  ExperimentDir,
  fmtPct,
  loadPools,
  machineInfo,
  metricsRecord,
  pretrainNetwork,
  restore,
  type ExperimentContext,
  type StepResult,
  columnOver,
} from './common.js';
import { phaseSummary, sizeTrainPhase, type SizePhaseSummary } from './fig7.js';
import { sizeStep } from './objectives.js';

const CONTROL_MS: Record<string, number[]> = { smoke: [10], quick: [10], paper: [10, 20, 85] };

interface ControlRun {
  m: number;
  seed: number;
  labels: 'size' | 'shuffled';
  before: ReturnType<typeof metricsRecord>;
  after: ReturnType<typeof metricsRecord>;
  size: SizePhaseSummary;
}

export async function runControl(
  ctx: ExperimentContext,
): Promise<{ dir: string; files: string[]; summary: Record<string, unknown> }> {
  const t0 = performance.now();
  const p = ctx.preset;
  const ms = CONTROL_MS[p.name] ?? [10];
  const seeds = ctx.seeds ?? p.fig7.seeds;
  const machineStart = machineInfo();
  const out = new ExperimentDir(ctx.out, 'control', p.name);
  ctx.progress.line(
    `control (${p.name}): true vs shuffled size labels, m ∈ {${ms.join(', ')}}, ${seeds} seeds; writing ${out.path}`,
  );
  for (const note of p.notes) ctx.progress.line(`  preset: ${note}`);
  const pools = await loadPools(ctx);
  const { ds } = pools;
  const runs: ControlRun[] = [];
  let k = 0;
  for (let seed = 0; seed < seeds; seed++) {
    // the permutation of labels among the pool images (fixed per seed)
    const perm = new Rng(77 + seed).shuffle([...pools.train]);
    const shuffled = new Map<number, number>(pools.train.map((idx, i) => [idx, ds.sizes[perm[i]!] as number]));
    for (const m of ms) {
      k++;
      ctx.progress.line(`[stage ${k}/${seeds * ms.length}] m = ${m}, seed ${seed}: pre-training`);
      const pre = await pretrainNetwork(ctx, pools, m, seed, `pretrain m=${m}`);
      const before = metricsRecord(await evaluate(pre.model, ds, pools.test));
      for (const labels of ['size', 'shuffled'] as const) {
        restore(pre.model, pre.snap);
        const rng = new Rng(seed ^ 0x5eed);
        const step =
          labels === 'size'
            ? sizeStep(pre.model, rng, 1, 'fast')
            : async (b: Batch, x: Tensor): Promise<StepResult> => {
                const loss = sizeLoss(
                  await forwardToHost(pre.model, x),
                  b.indices.map((i) => shuffled.get(i)!),
                  { rng, samples: 1, method: 'fast' },
                );
                return { loss, parts: { size: loss.item() } };
              };
        const r = await sizeTrainPhase(ctx, pools, pre, seed, `${labels} m=${m}`, pools.train, step);
        const after = metricsRecord(await evaluate(pre.model, ds, pools.test));
        ctx.progress.line(
          `  ${labels} m=${m} seed ${seed}: test IoU ${fmtPct(before.iou)} → ${fmtPct(after.iou)}, E ${before.E.toFixed(2)} → ${after.E.toFixed(2)}`,
        );
        runs.push({ m: pre.annotated.length, seed, labels, before, after, size: phaseSummary(r) });
      }
    }
  }
  const table = ms.flatMap((m) =>
    (['size', 'shuffled'] as const).map((labels) => {
      const rs = runs.filter((r) => r.m === m && r.labels === labels);
      const col = columnOver<ControlRun>(rs);
      return {
        m,
        labels,
        seeds: rs.length,
        iouBefore: col((r) => r.before.iou),
        iouAfter: col((r) => r.after.iou),
        iouGain: col((r) => r.after.iou - r.before.iou),
        EBefore: col((r) => r.before.E),
        EAfter: col((r) => r.after.E),
      };
    }),
  );
  out.csv(
    'control-runs.csv',
    runs.map((r) => ({
      m: r.m,
      seed: r.seed,
      labels: r.labels,
      iouBefore: r.before.iou,
      iouAfter: r.after.iou,
      EBefore: r.before.E,
      EAfter: r.after.E,
      sizeEpochs: r.size.epochs,
    })),
  );
  const summary = {
    experiment: 'control',
    preset: p.name,
    presetNotes: p.notes,
    config: {
      ms,
      seeds,
      widths: p.widths,
      batch: p.batch,
      pretrain: p.pretrain,
      size: p.size,
      labels: { size: 'true object sizes', shuffled: "the pool's sizes permuted among its images (seeded per seed)" },
    },
    data: pools.description,
    machine: { start: machineStart, end: machineInfo() },
    backend: backendRecord(ctx),
    table,
    runs,
    seconds: (performance.now() - t0) / 1000,
  };
  const g = (labels: string) => ms.map((m) => table.find((t) => t.m === m && t.labels === labels)!.iouGain);
  out.write(
    'control.svg',
    lineChartSvg({
      title: `Control: IoU gain of the size phase, true vs shuffled sizes (${p.name}, ${seeds} seeds)`,
      width: 760,
      xLabel: 'm (log scale)',
      yLabel: 'test IoU gain (mean ± s.e.)',
      logX: true,
      series: [
        {
          name: 'true sizes',
          x: ms.map((m) => m / 1.03),
          y: g('size').map((c) => c.mean),
          yErr: g('size').map((c) => c.se),
        },
        {
          name: 'shuffled sizes',
          x: ms.map((m) => m * 1.03),
          y: g('shuffled').map((c) => c.mean),
          yErr: g('shuffled').map((c) => c.se),
        },
      ],
    }),
  );
  out.json('control.json', summary);
  for (const t of table)
    ctx.progress.line(
      `  m = ${t.m} ${t.labels.padEnd(8)}: IoU ${fmtPct(t.iouBefore.mean)} → ${fmtPct(t.iouAfter.mean)} (gain ${(100 * t.iouGain.mean).toFixed(1)} ± ${(100 * t.iouGain.se).toFixed(1)} pt)  E ${t.EBefore.mean.toFixed(2)} → ${t.EAfter.mean.toFixed(2)}`,
    );
  ctx.progress.line(
    `control done in ${(summary.seconds / 60).toFixed(1)} min; wrote ${out.written.map((w) => w.slice(out.path.length + 1)).join(', ')} in ${out.path}/`,
  );
  return { dir: out.path, files: out.written, summary };
}
