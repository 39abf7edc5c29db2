/**
 * Paper Sec. 4.2, Fig. 7 — pre-training impact.
 *
 * For every m and seed: pre-train on m annotated images of the training pool until validation IoU stops improving,
 * then size-train (Lemma-1, fast, n = 1) on the whole pool (sizes only) until validation E stops improving;
 * test IoU / Dice / E before and after. The annotated sets are nested in m for a given seed.
 */
import { Rng } from '../autograd/rng.js';
import { evaluate } from '../train/trainer.js';
import { lineChartSvg } from '../viz/svg.js';
import {
  backendRecord,
  ExperimentDir,
  fmtPct,
  loadPools,
  machineInfo,
  metricsRecord,
  pretrainNetwork,
  runPhase,
  type ExperimentContext,
  type PhaseResult,
  type Pools,
  type Pretrained,
  columnOver,
  type MeanSe,
} from './common.js';
import { sizeStep } from './objectives.js';
import type { StepFn } from './common.js';

export interface SizePhaseSummary {
  epochs: number;
  bestEpoch: number;
  trainSeconds: number;
  valStart: { E: number; iou: number } | null;
  val: { epoch: number; E: number; iou: number; losses: Record<string, number> }[];
}

export function phaseSummary(r: PhaseResult): SizePhaseSummary {
  return {
    epochs: r.history.length,
    bestEpoch: r.best?.epoch ?? 0,
    trainSeconds: r.history.reduce((s, h) => s + h.trainSeconds, 0),
    valStart: r.start ? { E: r.start.sizeError, iou: r.start.iou } : null,
    val: r.history.map((h) => ({
      epoch: h.epoch,
      E: h.val?.sizeError ?? Number.NaN,
      iou: h.val?.iou ?? Number.NaN,
      losses: h.losses,
    })),
  };
}

/** Size training from the current weights on `trainIndices`, selected on validation E (lower is better). */
export function sizeTrainPhase(
  ctx: ExperimentContext,
  pools: Pools,
  pre: Pretrained,
  seed: number,
  label: string,
  trainIndices: readonly number[],
  step: StepFn,
): Promise<PhaseResult> {
  const p = ctx.preset;
  return runPhase({
    label,
    model: pre.model,
    ds: pools.ds,
    trainIndices,
    valIndices: pools.val,
    epochs: p.size.epochs,
    patience: p.size.patience,
    batch: p.batch,
    lr: p.size.lr,
    seed,
    flips: false,
    step,
    score: (v) => -v.sizeError,
    progress: ctx.progress,
  });
}

export interface Fig7Run {
  m: number;
  mLabel: string;
  seed: number;
  pretrain: { epochs: number; bestEpoch: number; seconds: number; val: ReturnType<typeof metricsRecord> };
  before: ReturnType<typeof metricsRecord>;
  after: ReturnType<typeof metricsRecord>;
  size: SizePhaseSummary;
}

export async function runFig7(
  ctx: ExperimentContext,
): Promise<{ dir: string; files: string[]; summary: Record<string, unknown> }> {
  const t0 = performance.now();
  const p = ctx.preset;
  const seeds = ctx.seeds ?? p.fig7.seeds;
  const machineStart = machineInfo();
  const out = new ExperimentDir(ctx.out, 'fig7', p.name);
  ctx.progress.line(`fig7 (${p.name}): m ∈ {${p.fig7.ms.join(', ')}}, ${seeds} seeds; writing ${out.path}`);
  for (const note of p.notes) ctx.progress.line(`  preset: ${note}`);
  const pools = await loadPools(ctx);
  const runs: Fig7Run[] = [];
  const total = seeds * p.fig7.ms.length;
  let k = 0;
  for (let seed = 0; seed < seeds; seed++) {
    for (const m of p.fig7.ms) {
      k++;
      const mLabel = String(m);
      ctx.progress.line(`[run ${k}/${total}] m = ${mLabel}, seed ${seed}: pre-training`);
      const pre = await pretrainNetwork(ctx, pools, m, seed, `pretrain m=${mLabel}`);
      const before = await evaluate(pre.model, pools.ds, pools.test);
      ctx.progress.line(
        `  pre-trained on ${pre.annotated.length} images (${pre.epochs} epochs, ${pre.seconds.toFixed(0)}s): test IoU ${fmtPct(before.iou)}  E ${before.sizeError.toFixed(2)}; size training on ${pools.train.length} images`,
      );
      const r = await sizeTrainPhase(
        ctx,
        pools,
        pre,
        seed,
        `size m=${mLabel}`,
        pools.train,
        sizeStep(pre.model, new Rng(seed ^ 0x5eed), 1, 'fast'),
      );
      const after = await evaluate(pre.model, pools.ds, pools.test);
      ctx.progress.line(
        `  m = ${mLabel}, seed ${seed}: test IoU ${fmtPct(before.iou)} → ${fmtPct(after.iou)}, E ${before.sizeError.toFixed(2)} → ${after.sizeError.toFixed(2)}`,
      );
      runs.push({
        m: pre.annotated.length,
        mLabel,
        seed,
        pretrain: { epochs: pre.epochs, bestEpoch: pre.bestEpoch, seconds: pre.seconds, val: metricsRecord(pre.val) },
        before: metricsRecord(before),
        after: metricsRecord(after),
        size: phaseSummary(r),
      });
    }
  }
  const table = p.fig7.ms.map((m) => {
    const rs = runs.filter((r) => r.mLabel === String(m));
    const col = columnOver<Fig7Run>(rs);
    return {
      m: rs[0]!.m,
      mLabel: String(m),
      seeds: rs.length,
      iouBefore: col((r) => r.before.iou),
      iouAfter: col((r) => r.after.iou),
      iouGain: col((r) => r.after.iou - r.before.iou),
      EBefore: col((r) => r.before.E),
      EAfter: col((r) => r.after.E),
    };
  });
  out.csv(
    'fig7-runs.csv',
    runs.map((r) => ({
      m: r.m,
      mLabel: r.mLabel,
      seed: r.seed,
      pretrainEpochs: r.pretrain.epochs,
      sizeEpochs: r.size.epochs,
      sizeBestEpoch: r.size.bestEpoch,
      iouBefore: r.before.iou,
      iouAfter: r.after.iou,
      diceBefore: r.before.dice,
      diceAfter: r.after.dice,
      EBefore: r.before.E,
      EAfter: r.after.E,
    })),
  );
  out.csv(
    'fig7-summary.csv',
    table.map((t) => ({
      m: t.m,
      mLabel: t.mLabel,
      seeds: t.seeds,
      iouBefore: t.iouBefore.mean,
      iouBeforeSE: t.iouBefore.se,
      iouAfter: t.iouAfter.mean,
      iouAfterSE: t.iouAfter.se,
      iouGain: t.iouGain.mean,
      iouGainSE: t.iouGain.se,
      EBefore: t.EBefore.mean,
      EAfter: t.EAfter.mean,
    })),
  );
  const summary = {
    experiment: 'fig7',
    preset: p.name,
    presetNotes: p.notes,
    config: {
      ms: p.fig7.ms,
      seeds,
      widths: p.widths,
      batch: p.batch,
      pretrain: p.pretrain,
      size: p.size,
      estimator: 'fast',
      samples: 1,
    },
    data: pools.description,
    machine: { start: machineStart, end: machineInfo() },
    backend: backendRecord(ctx),
    table,
    runs,
    seconds: (performance.now() - t0) / 1000,
  };
  for (const [name, svg] of Object.entries(plotFig7(summary))) out.write(name, svg);
  out.json('fig7.json', summary);
  for (const t of table)
    ctx.progress.line(
      `  m = ${t.mLabel}: IoU ${fmtPct(t.iouBefore.mean)} ± ${fmtPct(t.iouBefore.se)} → ${fmtPct(t.iouAfter.mean)} ± ${fmtPct(t.iouAfter.se)} (gain ${(100 * t.iouGain.mean).toFixed(1)} ± ${(100 * t.iouGain.se).toFixed(1)} pt)`,
    );
  ctx.progress.line(
    `fig7 done in ${(summary.seconds / 60).toFixed(1)} min; wrote ${out.written.map((w) => w.slice(out.path.length + 1)).join(', ')} in ${out.path}/`,
  );
  return { dir: out.path, files: out.written, summary };
}

/** The figure of a fig7 summary (also used by `--replot`). Points of the two series are offset a little in x. */
export function plotFig7(summary: {
  preset: string;
  config: { seeds: number };
  table: { m: number; iouBefore: MeanSe; iouAfter: MeanSe }[];
}): Record<string, string> {
  const t = summary.table;
  return {
    'fig7.svg': lineChartSvg({
      title: `Fig. 7: test IoU before / after size training (${summary.preset}, ${summary.config.seeds} seeds)`,
      width: 760,
      xLabel: 'm = pixel-annotated images for pre-training (log scale)',
      yLabel: 'test IoU (mean ± s.e.)',
      logX: true,
      series: [
        {
          name: 'after pre-training',
          x: t.map((r) => r.m / 1.03),
          y: t.map((r) => r.iouBefore.mean),
          yErr: t.map((r) => r.iouBefore.se),
        },
        {
          name: 'after size training',
          x: t.map((r) => r.m * 1.03),
          y: t.map((r) => r.iouAfter.mean),
          yErr: t.map((r) => r.iouAfter.se),
        },
      ],
    }),
  };
}
