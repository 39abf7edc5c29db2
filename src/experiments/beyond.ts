/**
 * Beyond the paper: the Fig. 7 protocol for a few m, with three changes to the size-training phase, each started
 * from the same pre-trained network as the paper's plain size training:
 *  (a) joint   — every step: BCE on a batch of the m annotated images + λ_J·(size loss) on a batch of the other,
 *                size-labelled images of the pool (the paper trains the two phases one after the other);
 *  (b) size+area — size loss + λ_A·|Σ_i σ(a_i) − k·s²| per image, k = mean area/s² of the annotated images: the
 *                size label and the annotated masks together predict the object's area, and the term punishes
 *                extra (or missing) foreground anywhere, which the size loss (largest inscribed square) cannot see;
 *  (c) estimators — on one pre-trained network (m = estimatorM, seed 0), the size loss trained with the Lemma-1,
 *                REINFORCE (leave-one-out baseline) and straight-through gradients, same number of samples.
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
  restore,
  type ExperimentContext,
  columnOver,
  type MeanSe,
} from './common.js';
import { phaseSummary, sizeTrainPhase, type SizePhaseSummary } from './fig7.js';
import { areaPerSizeSquared, areaStep, estimatorStep, jointStep, sizeStep, type EstimatorName } from './objectives.js';

type Variant = 'size' | 'joint' | 'size+area';
const VARIANTS: Variant[] = ['size', 'joint', 'size+area'];
const ESTIMATORS: EstimatorName[] = ['lemma1', 'reinforce', 'straight-through'];

interface VariantRun {
  m: number;
  seed: number;
  variant: Variant;
  before: ReturnType<typeof metricsRecord>;
  after: ReturnType<typeof metricsRecord>;
  size: SizePhaseSummary;
}

interface EstimatorRun {
  estimator: EstimatorName;
  samples: number;
  after: ReturnType<typeof metricsRecord>;
  size: SizePhaseSummary;
  secondsPerEpoch: number;
}

export async function runBeyond(
  ctx: ExperimentContext,
): Promise<{ dir: string; files: string[]; summary: Record<string, unknown> }> {
  const t0 = performance.now();
  const p = ctx.preset;
  const b = p.beyond;
  const seeds = ctx.seeds ?? b.seeds;
  const machineStart = machineInfo();
  const out = new ExperimentDir(ctx.out, 'beyond', p.name);
  ctx.progress.line(
    `beyond (${p.name}): m ∈ {${b.ms.join(', ')}}, ${seeds} seeds, variants ${VARIANTS.join(', ')}; estimators ${ESTIMATORS.join(', ')} at m = ${b.estimatorM}; writing ${out.path}`,
  );
  for (const note of p.notes) ctx.progress.line(`  preset: ${note}`);
  const pools = await loadPools(ctx);
  const { ds } = pools;
  const runs: VariantRun[] = [];
  const estimatorRuns: EstimatorRun[] = [];
  const areaK: Record<string, number> = {};
  let estimatorBefore: ReturnType<typeof metricsRecord> | null = null;
  const total = seeds * b.ms.length;
  let k = 0;
  for (let seed = 0; seed < seeds; seed++) {
    for (const m of b.ms) {
      k++;
      ctx.progress.line(`[stage ${k}/${total}] m = ${m}, seed ${seed}: pre-training`);
      const pre = await pretrainNetwork(ctx, pools, m, seed, `pretrain m=${m}`);
      const before = metricsRecord(await evaluate(pre.model, ds, pools.test));
      ctx.progress.line(`  pre-trained: test IoU ${fmtPct(before.iou)}  E ${before.E.toFixed(2)}`);
      const annotatedSet = new Set(pre.annotated);
      const rest = pools.train.filter((i) => !annotatedSet.has(i));
      const kArea = areaPerSizeSquared(ds, pre.annotated);
      areaK[`m${m}-seed${seed}`] = kArea;
      for (const variant of VARIANTS) {
        restore(pre.model, pre.snap);
        const rng = new Rng(seed ^ 0x5eed);
        const label = `${variant} m=${m}`;
        const r =
          variant === 'size'
            ? await sizeTrainPhase(ctx, pools, pre, seed, label, pools.train, sizeStep(pre.model, rng, 1, 'fast'))
            : variant === 'joint'
              ? await sizeTrainPhase(
                  ctx,
                  pools,
                  pre,
                  seed,
                  label,
                  rest.length > 1 ? rest : pools.train,
                  jointStep(pre.model, ds, pre.annotated, p.batch, rng, b.jointLambda),
                )
              : await sizeTrainPhase(
                  ctx,
                  pools,
                  pre,
                  seed,
                  label,
                  pools.train,
                  areaStep(pre.model, rng, b.areaLambda, kArea),
                );
        const after = metricsRecord(await evaluate(pre.model, ds, pools.test));
        ctx.progress.line(
          `  ${label} seed ${seed}: test IoU ${fmtPct(before.iou)} → ${fmtPct(after.iou)}, E ${before.E.toFixed(2)} → ${after.E.toFixed(2)}`,
        );
        runs.push({ m: pre.annotated.length, seed, variant, before, after, size: phaseSummary(r) });
      }
      if (m === b.estimatorM && seed === 0) {
        estimatorBefore = before;
        ctx.progress.line(
          `[estimators] on this network (m = ${m}, seed 0): ${ESTIMATORS.join(', ')} with n = ${b.estimatorSamples} samples`,
        );
        for (const estimator of ESTIMATORS) {
          restore(pre.model, pre.snap);
          const r = await sizeTrainPhase(
            ctx,
            pools,
            pre,
            seed,
            `${estimator} n=${b.estimatorSamples}`,
            pools.train,
            estimatorStep(pre.model, new Rng(seed ^ 0x5eed), b.estimatorSamples, estimator),
          );
          const after = metricsRecord(await evaluate(pre.model, ds, pools.test));
          ctx.progress.line(
            `  ${estimator}: test IoU ${fmtPct(before.iou)} → ${fmtPct(after.iou)}, E ${before.E.toFixed(2)} → ${after.E.toFixed(2)}`,
          );
          const size = phaseSummary(r);
          estimatorRuns.push({
            estimator,
            samples: b.estimatorSamples,
            after,
            size,
            secondsPerEpoch: size.trainSeconds / Math.max(1, size.epochs),
          });
        }
      }
    }
  }

  const table = b.ms.flatMap((m) =>
    VARIANTS.map((variant) => {
      const rs = runs.filter((r) => r.variant === variant && r.m === m);
      const col = columnOver<VariantRun>(rs);
      return {
        m,
        variant,
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
    'beyond-runs.csv',
    runs.map((r) => ({
      m: r.m,
      seed: r.seed,
      variant: r.variant,
      sizeEpochs: r.size.epochs,
      sizeBestEpoch: r.size.bestEpoch,
      iouBefore: r.before.iou,
      iouAfter: r.after.iou,
      EBefore: r.before.E,
      EAfter: r.after.E,
      diceBefore: r.before.dice,
      diceAfter: r.after.dice,
    })),
  );
  out.csv(
    'beyond-estimators.csv',
    estimatorRuns.map((e) => ({
      estimator: e.estimator,
      samples: e.samples,
      epochs: e.size.epochs,
      bestEpoch: e.size.bestEpoch,
      secondsPerEpoch: e.secondsPerEpoch,
      iouBefore: estimatorBefore?.iou ?? Number.NaN,
      iouAfter: e.after.iou,
      EBefore: estimatorBefore?.E ?? Number.NaN,
      EAfter: e.after.E,
    })),
  );
  const summary = {
    experiment: 'beyond',
    preset: p.name,
    presetNotes: p.notes,
    config: {
      ...b,
      seeds,
      widths: p.widths,
      batch: p.batch,
      pretrain: p.pretrain,
      size: p.size,
      objectives: {
        size: 'the paper: Lemma-1 size loss, n = 1, on the whole pool',
        joint: `BCE(annotated batch) + ${b.jointLambda}·size loss(size-labelled batch of the pool minus the annotated images), every step`,
        'size+area': `size loss + ${b.areaLambda}·mean_b |Σ_i σ(a_i) − k·s_b²|, k = mean area/s² over the annotated images`,
      },
    },
    data: pools.description,
    machine: { start: machineStart, end: machineInfo() },
    backend: backendRecord(ctx),
    areaK,
    table,
    runs,
    estimators: { m: b.estimatorM, seed: 0, samples: b.estimatorSamples, before: estimatorBefore, runs: estimatorRuns },
    seconds: (performance.now() - t0) / 1000,
  };
  for (const [name, svg] of Object.entries(plotBeyond(summary))) out.write(name, svg);
  out.json('beyond.json', summary);
  for (const t of table)
    ctx.progress.line(
      `  m = ${t.m} ${t.variant.padEnd(9)}: IoU ${fmtPct(t.iouBefore.mean)} → ${fmtPct(t.iouAfter.mean)} ± ${fmtPct(t.iouAfter.se)}  E ${t.EBefore.mean.toFixed(2)} → ${t.EAfter.mean.toFixed(2)}`,
    );
  ctx.progress.line(
    `beyond done in ${(summary.seconds / 60).toFixed(1)} min; wrote ${out.written.map((w) => w.slice(out.path.length + 1)).join(', ')} in ${out.path}/`,
  );
  return { dir: out.path, files: out.written, summary };
}

/** The figures of a beyond summary (also used by `--replot`); series are offset a little in x. */
export function plotBeyond(summary: {
  preset: string;
  config: { ms: number[]; seeds: number; estimatorM: number; estimatorSamples: number };
  table: { m: number; variant: string; iouBefore: MeanSe; iouAfter: MeanSe }[];
  estimators: { runs: { estimator: string; size: SizePhaseSummary }[] };
}): Record<string, string> {
  const { ms } = summary.config;
  const files: Record<string, string> = {};
  const variants = [...new Set(summary.table.map((t) => t.variant))];
  const before = ms.map((m) => summary.table.find((t) => t.m === m)?.iouBefore ?? { mean: Number.NaN, se: 0 });
  const shift = (k: number) => 1.04 ** (k - variants.length / 2);
  files['beyond-variants.svg'] = lineChartSvg({
    title: `Beyond: test IoU by size-phase objective (${summary.preset}, ${summary.config.seeds} seeds)`,
    width: 760,
    xLabel: 'm = pixel-annotated images (log scale)',
    yLabel: 'test IoU (mean ± s.e.)',
    logX: true,
    series: [
      {
        name: 'after pre-training',
        x: ms.map((m) => m * shift(0)),
        y: before.map((c) => c.mean),
        yErr: before.map((c) => c.se),
        dashed: true,
      },
      ...variants.map((v, k) => {
        const cs = ms.map(
          (m) => summary.table.find((t) => t.m === m && t.variant === v)?.iouAfter ?? { mean: Number.NaN, se: 0 },
        );
        return {
          name: `after ${v}`,
          x: ms.map((m) => m * shift(k + 1)),
          y: cs.map((c) => c.mean),
          yErr: cs.map((c) => c.se),
        };
      }),
    ],
  });
  const runs = summary.estimators.runs;
  if (runs.length > 0) {
    const charts: [string, string, (v: { E: number; iou: number }) => number][] = [
      ['E', 'validation E', (v) => v.E],
      ['IoU', 'validation IoU', (v) => v.iou],
    ];
    for (const [key, label, get] of charts) {
      files[`beyond-estimators-${key}.svg`] = lineChartSvg({
        title: `Beyond: ${label} by gradient estimator (m = ${summary.config.estimatorM}, n = ${summary.config.estimatorSamples})`,
        width: 760,
        xLabel: 'epoch (0 = pre-trained network)',
        yLabel: label,
        series: runs.map((e) => ({
          name: e.estimator,
          x: [0, ...e.size.val.map((v) => v.epoch)],
          y: [e.size.valStart ? get(e.size.valStart) : Number.NaN, ...e.size.val.map((v) => get(v))],
        })),
      });
    }
  }
  return files;
}
