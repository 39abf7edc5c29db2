/** The `sizeseg` commands. Each validates its options, does its work, and says where the results are. */
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { Rng } from '../autograd/rng.js';
import { backendFromEnv, backendInstance, setBackend } from '../backend.js';
import { indicesOf, loadDataset, selectAnnotated, type SegDataset, type SplitName } from '../data/index.js';
import { getNumThreads, setNumThreads } from '../kernels/cpu/index.js';
import { listKernels } from '../kernels/registry.js';
import '../kernels/cpu/register.js';
import { registerGpuBackend } from '../kernels/gpu/index.js';
import { ResUNet } from '../models/resunet.js';
import { applyCheckpoint, readCheckpoint, saveCheckpoint, type CheckpointHeader } from '../train/checkpoint.js';
import { foregroundPriorLogit, type SegMetrics } from '../train/metrics.js';
import { RunDir } from '../train/runDir.js';
import { evaluate, predictLogits, pretrain, sizetrain, type EpochRecord, type TrainObserver, type TrainResult } from '../train/trainer.js';
import { Options, UsageError } from './options.js';
import { Progress } from './progress.js';

const LITE = [16, 32, 64, 128] as const;

/** Ctrl-C stops after the current step; the last good checkpoint on disk stays intact (atomic writes). */
function interruptFlag(progress: Progress): { stop: () => boolean; dispose: () => void } {
  let stop = false;
  const onSigint = () => {
    if (stop) process.exit(130); // a second Ctrl-C quits at once
    stop = true;
    progress.line('interrupted: finishing the current step (press Ctrl-C again to quit now)');
  };
  process.on('SIGINT', onSigint);
  return { stop: () => stop, dispose: () => process.off('SIGINT', onSigint) };
}

async function common(opts: Options, allowGpu = false): Promise<{ progress: Progress }> {
  const threads = opts.optionalString('threads');
  if (threads !== undefined) setNumThreads(opts.int('threads', 1));
  const backend = opts.optionalString('backend') ?? backendFromEnv();
  if (backend !== 'cpu' && backend !== 'gpu') throw new UsageError(`--backend must be cpu or gpu, got '${backend}'.`);
  if (backend === 'gpu' && !allowGpu) {
    throw new UsageError("--backend gpu: training and evaluation run on the 'cpu' backend in this version; the GPU.js kernels are tested and benchmarked on their own (docs/gpu.md, 'sizeseg info --backend gpu').");
  }
  registerGpuBackend();
  await setBackend(backend);
  return { progress: new Progress({ quiet: opts.flag('quiet') }) };
}

async function data(opts: Options, progress: Progress): Promise<SegDataset> {
  const spec = opts.string('data', 'synthetic');
  const count = opts.optionalString('count') === undefined ? undefined : opts.int('count', 1000);
  const ds = await loadDataset(spec, { seed: opts.int('seed', 0, 0), ...(count ? { count } : {}) });
  const c = (s: SplitName) => indicesOf(ds, s).length;
  progress.line(`data: ${ds.name} — ${ds.count} images ${ds.height}×${ds.width} (train ${c('train')}, val ${c('val')}, test ${c('test')}); ${ds.source}`);
  return ds;
}

function runDir(opts: Options, command: string): RunDir {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return new RunDir(opts.string('out', 'runs'), opts.string('name', `${command}-${stamp}`));
}

function observer(progress: Progress, run: RunDir, stop: () => boolean): TrainObserver {
  return {
    onStep: ({ phase, epoch, step, steps, loss }) => progress.step(`${phase} epoch ${epoch}`, step, steps, loss),
    onEpoch: (r) => {
      run.logEpoch(r);
      progress.line(formatEpoch(r));
    },
    shouldStop: stop,
  };
}

export function formatMetrics(m: SegMetrics): string {
  return `IoU ${(100 * m.iou).toFixed(1)}%  Dice ${(100 * m.dice).toFixed(1)}%  E ${m.sizeError.toFixed(2)}`;
}

function formatEpoch(r: EpochRecord): string {
  return `${r.phase} epoch ${String(r.epoch).padStart(3)}  loss ${r.trainLoss.toFixed(4)}  val ${formatMetrics(r.val)}  ${r.seconds.toFixed(1)}s${r.best ? '  *best' : ''}`;
}

function summary(result: TrainResult, progress: Progress): void {
  if (result.interrupted) progress.line('stopped by Ctrl-C; the best weights so far were kept.');
  else if (result.stoppedEarly) progress.line(`stopped early: validation did not improve for the patience window (best epoch ${result.best?.epoch}).`);
}

function finish(run: RunDir, ds: SegDataset, model: ResUNet, progress: Progress): void {
  const test = indicesOf(ds, 'test').slice(0, 16);
  const files = [...run.writeCurves(), run.writePredictions('predictions.png', ds, test, predictLogits(model, ds, test))];
  progress.line(`wrote ${run.path}/ (config.json, metrics.jsonl, best.ckpt, ${files.map((f) => f.slice(run.path.length + 1)).join(', ')})`);
}

export async function cmdPretrain(opts: Options): Promise<void> {
  const { progress } = await common(opts);
  const seed = opts.int('seed', 0, 0);
  const widths = opts.widths(LITE);
  const m = opts.int('m', 20);
  const config = { command: 'pretrain', data: opts.string('data', 'synthetic'), m, widths, seed, epochs: opts.int('epochs', 100), patience: opts.int('patience', 10), batch: opts.int('batch', 32), lr: opts.number('lr', 3e-3) };
  const ds = await data(opts, progress);
  const annotated = selectAnnotated(ds, m, new Rng(seed));
  const run = runDir(opts, 'pretrain');
  run.writeConfig({ ...config, annotated });
  const model = new ResUNet({ widths, rng: new Rng(seed), headBias: foregroundPriorLogit(ds.masks, annotated, ds.height * ds.width) });
  const interrupt = interruptFlag(progress);
  const result = await pretrain(model, ds, { ...config, annotated, minImagesPerEpoch: 160, valIndices: indicesOf(ds, 'val'), observer: observer(progress, run, interrupt.stop) });
  interrupt.dispose();
  summary(result, progress);
  if (result.best) saveCheckpoint(run.file('best.ckpt'), model, { config: { widths }, epoch: result.best.epoch, phase: 'pretrain', metrics: flat(result.best.val), extra: { seed, m } });
  finish(run, ds, model, progress);
}

export async function cmdSizetrain(opts: Options): Promise<void> {
  const { progress } = await common(opts);
  const ckpt = opts.required('checkpoint', 'runs/<name>/best.ckpt');
  const { model, header } = restoreModel(ckpt);
  const widths = header.config.widths as number[];
  const seed = opts.int('seed', 0, 0);
  const config = { command: 'sizetrain', from: ckpt, data: opts.string('data', 'synthetic'), widths, seed, samples: opts.int('samples', 1), estimator: opts.choice('estimator', ['fast', 'naive'] as const, 'fast'), epochs: opts.int('epochs', 50), patience: opts.int('patience', 5), batch: opts.int('batch', 32), lr: opts.number('lr', 1e-4) };
  const ds = await data(opts, progress);
  const run = runDir(opts, 'sizetrain');
  run.writeConfig(config);
  const val = indicesOf(ds, 'val');
  const before = evaluate(model, ds, val);
  progress.line(`before size training: val ${formatMetrics(before)}`);
  run.logEvent({ phase: 'sizetrain', event: 'start', val: before });
  const interrupt = interruptFlag(progress);
  const result = await sizetrain(model, ds, { ...config, sizeLabelled: indicesOf(ds, 'train'), valIndices: val, observer: observer(progress, run, interrupt.stop) });
  interrupt.dispose();
  summary(result, progress);
  if (result.best) saveCheckpoint(run.file('best.ckpt'), model, { config: { widths }, epoch: result.best.epoch, phase: 'sizetrain', metrics: flat(result.best.val), extra: { seed, from: ckpt } });
  finish(run, ds, model, progress);
}

/** A ResUNet rebuilt from a checkpoint's stored configuration, with its weights (the file is read once). */
function restoreModel(path: string): { model: ResUNet; header: CheckpointHeader } {
  const loaded = readCheckpoint(path);
  const model = new ResUNet({ widths: loaded.header.config.widths as number[] });
  applyCheckpoint(loaded, model, path);
  return { model, header: loaded.header };
}

/** The shared start of evaluate and predict: options, then the checkpoint, then the data. */
async function checkpointOnSplit(opts: Options) {
  const { progress } = await common(opts);
  const ckpt = opts.required('checkpoint', 'runs/<name>/best.ckpt');
  const split = opts.choice('split', ['train', 'val', 'test'] as const, 'test');
  const { model } = restoreModel(ckpt);
  const ds = await data(opts, progress);
  return { progress, ckpt, split, model, ds, indices: indicesOf(ds, split) };
}

export async function cmdEvaluate(opts: Options): Promise<void> {
  const { progress, ckpt, split, model, ds, indices } = await checkpointOnSplit(opts);
  const metrics = evaluate(model, ds, indices);
  console.log(JSON.stringify({ checkpoint: ckpt, data: ds.name, split, ...metrics }));
  progress.line(`${split}: ${formatMetrics(metrics)} over ${metrics.count} images`);
}

export async function cmdPredict(opts: Options): Promise<void> {
  const count = opts.int('count', 32);
  const { progress, split, model, ds, indices: all } = await checkpointOnSplit(opts);
  const indices = all.slice(0, count);
  const run = runDir(opts, 'predict');
  const path = run.writePredictions('predictions.png', ds, indices, predictLogits(model, ds, indices), indices.length);
  progress.line(`wrote ${path} (${indices.length} ${split} images; green: ground truth, red: prediction)`);
}

export async function cmdInfo(opts: Options): Promise<void> {
  await common(opts, true);
  const pkg = { name: 'sizeseg', node: process.version, platform: `${process.platform}-${process.arch}`, cpus: cpus().length };
  const info = {
    ...pkg,
    backend: backendInstance().info(),
    threads: getNumThreads(),
    kernels: Object.fromEntries(['cpu', 'gpu'].map((b) => [b, listKernels(b).map((k) => k.kernelName)])),
    sharedData: existsSync('../shared/data/hippocampus') ? '../shared/data/hippocampus' : null,
  };
  console.log(JSON.stringify(info, null, 2));
}

function flat(m: SegMetrics): Record<string, number> {
  return { iou: m.iou, dice: m.dice, sizeError: m.sizeError, count: m.count };
}
