/**
 * Paper Sec. 4.1, Figs. 5 and 6 — one run serves both.
 *
 * One network is pre-trained on 85 annotated images (preset's fig5.m). From that same network:
 *  - timing (Fig. 5): for n ∈ {1, 2, 4, 8}, size-train for a few epochs with the naive and with the fast Lemma-1
 *    estimator, and, beside them, supervised BCE epochs on the same images; per-epoch wall time of the training
 *    steps (validation excluded), mean ± standard error over epochs;
 *  - quality (Fig. 6): for each n, size-train with the fast estimator and record validation E and IoU per epoch
 *    (epoch 0 = the pre-trained network).
 * The naive and fast estimators give bit-identical gradients, so the quality curves hold for both.
 */
import { lineChartSvg } from '../viz/svg.js';
import { Rng } from '../autograd/rng.js';
import {
  backendRecord,
  ExperimentDir,
  loadPools,
  machineInfo,
  mean,
  metricsRecord,
  pretrainNetwork,
  restore,
  runPhase,
  stdErr,
  type ExperimentContext,
} from './common.js';
import { bceStep, sizeStep } from './objectives.js';

export interface TimingRecord {
  method: 'supervised' | 'naive' | 'fast';
  n: number | null;
  images: number;
  /** The first, discarded epoch. */
  warmupSeconds: number;
  epochSeconds: number[];
  mean: number;
  se: number;
  msPerImage: number;
}

export interface QualityEpoch {
  epoch: number;
  E: number;
  iou: number;
  dice: number;
  loss: number;
  trainSeconds: number;
}

export async function runFig5(
  ctx: ExperimentContext,
): Promise<{ dir: string; files: string[]; summary: Record<string, unknown> }> {
  const t0 = performance.now();
  const p = ctx.preset;
  const f = p.fig5;
  const machineStart = machineInfo();
  const out = new ExperimentDir(ctx.out, 'fig5', p.name);
  ctx.progress.line(
    `fig5/fig6 (${p.name}): pre-train on ${f.m} annotated images, then n ∈ {${f.ns.join(', ')}}; writing ${out.path}`,
  );
  for (const note of p.notes) ctx.progress.line(`  preset: ${note}`);
  const pools = await loadPools(ctx);
  const { ds } = pools;
  const seed = 0;

  ctx.progress.line(`[stage 1/3] pre-training on ${f.m} annotated images`);
  const pre = await pretrainNetwork(ctx, pools, f.m, seed, 'pretrain');
  const model = pre.model;
  ctx.progress.line(
    `  pre-trained: ${pre.epochs} epochs (best ${pre.bestEpoch}), val IoU ${(100 * pre.val.iou).toFixed(1)}%  E ${pre.val.sizeError.toFixed(2)}, ${pre.seconds.toFixed(0)}s`,
  );

  const timingSet =
    f.timingImages === undefined ? pools.train : new Rng(7).shuffle([...pools.train]).slice(0, f.timingImages);
  const timing: TimingRecord[] = [];
  // the first entry of every method is the discarded warm-up round (JIT, allocator and thread-pool warm-up)
  const record = (method: TimingRecord['method'], n: number | null, all: number[], images: number): TimingRecord => {
    const secs = all.slice(1);
    const r = {
      method,
      n,
      images,
      warmupSeconds: all[0] ?? Number.NaN,
      epochSeconds: secs,
      mean: mean(secs),
      se: stdErr(secs),
      msPerImage: (1000 * mean(secs)) / Math.max(1, images),
    };
    timing.push(r);
    return r;
  };
  ctx.progress.line(
    `[stage 2/3] epoch time on ${timingSet.length} images: 1 warm-up + ${f.timingEpochs} timed rounds; each round runs one epoch of every method (supervised, naive and fast for each n) from the pre-trained network`,
  );
  // Rounds interleave the methods, so that changes of the machine's load (other users) hit every method alike;
  // every timed epoch starts from the pre-trained weights with a fresh Adam, and round 0 is a discarded warm-up.
  const methods: { method: TimingRecord['method']; n: number | null }[] = [
    { method: 'supervised', n: null },
    ...f.ns.flatMap((n) => (['naive', 'fast'] as const).map((method) => ({ method, n }))),
  ];
  const secs = methods.map(() => [] as number[]);
  const images = methods.map(() => timingSet.length);
  for (let round = 0; round <= f.timingEpochs; round++) {
    for (const [k, { method, n }] of methods.entries()) {
      restore(model, pre.snap);
      const step =
        method === 'supervised' ? bceStep(model) : sizeStep(model, new Rng((seed ^ 0x5eed) + round), n!, method);
      const r = await runPhase({
        ds,
        trainIndices: timingSet,
        valIndices: [],
        epochs: 1,
        patience: Infinity,
        batch: p.batch,
        seed: seed + round,
        score: () => 0,
        label: `${method}${n === null ? '' : ` n=${n}`}`,
        model,
        lr: method === 'supervised' ? p.pretrain.lr : p.size.lr,
        flips: method === 'supervised',
        step,
      });
      secs[k]!.push(r.history[0]!.trainSeconds);
      images[k] = r.history[0]!.images;
    }
    ctx.progress.line(
      `  round ${round}${round === 0 ? ' (warm-up)' : ''}: ${methods.map((m, k) => `${m.method}${m.n === null ? '' : m.n} ${secs[k]![round]!.toFixed(2)}s`).join('  ')}`,
    );
  }
  for (const [k, { method, n }] of methods.entries()) {
    const t = record(method, n, secs[k]!, images[k]!);
    ctx.progress.line(
      `  ${method}${n === null ? '' : ` n=${n}`}: ${t.mean.toFixed(2)} ± ${t.se.toFixed(2)} s/epoch (${t.msPerImage.toFixed(1)} ms/image)`,
    );
  }

  const qualitySet = f.qualityImages === undefined ? pools.train : pools.train.slice(0, f.qualityImages);
  ctx.progress.line(
    `[stage 3/3] validation E and IoU per epoch, fast estimator, ${qualitySet.length} size-labelled images, ${f.qualityEpochs} epochs per n`,
  );
  const quality: { n: number; epochs: QualityEpoch[]; bestEpoch: number }[] = [];
  for (const n of f.ns) {
    restore(model, pre.snap);
    const r = await runPhase({
      ds,
      model,
      trainIndices: qualitySet,
      valIndices: pools.val,
      epochs: f.qualityEpochs,
      patience: Infinity,
      batch: p.batch,
      lr: p.size.lr,
      seed,
      flips: false,
      label: `quality n=${n}`,
      step: sizeStep(model, new Rng(seed ^ 0x5eed), n, 'fast'),
      score: (v) => -v.sizeError,
      progress: ctx.progress,
    });
    const epochs = [
      { epoch: 0, E: r.start!.sizeError, iou: r.start!.iou, dice: r.start!.dice, loss: Number.NaN, trainSeconds: 0 },
      ...r.history.map((h) => ({
        epoch: h.epoch,
        E: h.val!.sizeError,
        iou: h.val!.iou,
        dice: h.val!.dice,
        loss: h.losses['loss']!,
        trainSeconds: h.trainSeconds,
      })),
    ];
    quality.push({ n, epochs, bestEpoch: r.best?.epoch ?? 0 });
  }

  const ns = f.ns;
  const sup = timing.find((t) => t.method === 'supervised')!;
  out.csv(
    'fig5.csv',
    timing.flatMap((t) =>
      t.epochSeconds.map((s, i) => ({ method: t.method, n: t.n ?? '', epoch: i + 1, images: t.images, seconds: s })),
    ),
  );
  out.csv(
    'fig6.csv',
    quality.flatMap((q) =>
      q.epochs.map((e) => ({
        n: q.n,
        epoch: e.epoch,
        E: e.E,
        iou: e.iou,
        dice: e.dice,
        trainLoss: e.loss,
        trainSeconds: e.trainSeconds,
      })),
    ),
  );
  const fastOverSup = Object.fromEntries(
    ns.map((n) => [n, timing.find((t) => t.method === 'fast' && t.n === n)!.mean / sup.mean]),
  );
  const naiveOverSup = Object.fromEntries(
    ns.map((n) => [n, timing.find((t) => t.method === 'naive' && t.n === n)!.mean / sup.mean]),
  );
  const summary = {
    experiment: 'fig5+fig6',
    preset: p.name,
    presetNotes: p.notes,
    config: {
      ...f,
      widths: p.widths,
      batch: p.batch,
      sizeLr: p.size.lr,
      pretrain: p.pretrain,
      seed,
      timingImages: timingSet.length,
      qualityImages: qualitySet.length,
    },
    data: pools.description,
    machine: { start: machineStart, end: machineInfo() },
    // where the networks ran: the timings (Fig. 5) and float32 rounding depend on it
    backend: backendRecord(ctx),
    pretrain: {
      m: f.m,
      epochs: pre.epochs,
      bestEpoch: pre.bestEpoch,
      seconds: pre.seconds,
      val: metricsRecord(pre.val),
    },
    timing,
    ratios: { naiveOverSupervised: naiveOverSup, fastOverSupervised: fastOverSup },
    quality,
    seconds: (performance.now() - t0) / 1000,
  };
  for (const [name, svg] of Object.entries(plotFig5(summary))) out.write(name, svg);
  out.json('fig5.json', summary);
  ctx.progress.line(
    `fig5/fig6 done in ${(summary.seconds / 60).toFixed(1)} min; wrote ${out.written.map((w) => w.slice(out.path.length + 1)).join(', ')} in ${out.path}/`,
  );
  return { dir: out.path, files: out.written, summary };
}

/** The figures of a fig5 summary (also used by `--replot`): fig5.svg, fig6-E.svg, fig6-IoU.svg. */
export function plotFig5(summary: {
  preset: string;
  config: { ns: number[]; timingImages: number; qualityImages: number };
  timing: TimingRecord[];
  quality: { n: number; epochs: QualityEpoch[] }[];
}): Record<string, string> {
  const ns = summary.config.ns;
  const timing = summary.timing;
  const sup = timing.find((t) => t.method === 'supervised')!;
  const seriesOf = (method: 'naive' | 'fast') => {
    const rs = ns.map((n) => timing.find((t) => t.method === method && t.n === n)!);
    return { name: `${method} Lemma 1`, x: ns, y: rs.map((r) => r.mean), yErr: rs.map((r) => r.se) };
  };
  // a y range from 0 that ends on a multiple of 5 (or 0.5): ticks of 1, 2 or 5 units, never 2.5
  const max = Math.max(...timing.map((t) => t.mean + t.se));
  const top = max > 5 ? Math.ceil(max / 5) * 5 : Math.max(0.5, Math.ceil(max * 2) / 2);
  const files: Record<string, string> = {};
  files['fig5.svg'] = lineChartSvg({
    title: `Fig. 5: epoch time vs n (${summary.config.timingImages} images, ${summary.preset})`,
    width: 760,
    xLabel: 'derivative samples n',
    yLabel: 'seconds per epoch (mean ± s.e.)',
    xRange: [0, Math.max(...ns) + 1],
    yRange: [0, top],
    series: [
      seriesOf('naive'),
      seriesOf('fast'),
      { name: 'supervised (BCE)', x: ns, y: ns.map(() => sup.mean), yErr: ns.map(() => sup.se), dashed: true },
    ],
  });
  const charts: [string, string, (e: QualityEpoch) => number][] = [
    ['E', 'validation E', (e) => e.E],
    ['IoU', 'validation IoU', (e) => e.iou],
  ];
  for (const [key, label, get] of charts) {
    files[`fig6-${key}.svg`] = lineChartSvg({
      title: `Fig. 6: ${label} per epoch (${summary.config.qualityImages} images, ${summary.preset})`,
      width: 760,
      xLabel: 'epoch (0 = pre-trained network)',
      yLabel: label,
      series: summary.quality.map((q) => ({
        name: `n = ${q.n}`,
        x: q.epochs.map((e) => e.epoch),
        y: q.epochs.map(get),
      })),
    });
  }
  return files;
}
