/** The `sizeseg` commands. Each validates its options, does its work, and says where the results are. */
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { cpus } from 'node:os';
import { Rng } from '../autograd/rng.js';
import { backendFromEnv, backendInstance, setBackend } from '../backend.js';
import { listCache } from '../data/cache.js';
import { indicesOf, loadDataset, selectAnnotated, type SegDataset, type SplitName } from '../data/index.js';
import { getNumThreads, setNumThreads } from '../kernels/cpu/index.js';
import { cpuKernels, wasmSimdAvailable } from '../kernels/wasm/index.js';
import { listKernels } from '../kernels/registry.js';
import '../kernels/cpu/register.js';
import { registerGpuBackend } from '../kernels/gpu/index.js';
import { ResUNet } from '../models/resunet.js';
import { applyCheckpoint, readCheckpoint, weightEntries, writeCheckpointFile, type CheckpointHeader, type LoadedCheckpoint } from '../train/checkpoint.js';
import { loadTrainState, saveTrainState } from '../train/resume.js';
import { foregroundPriorLogit, type SegMetrics } from '../train/metrics.js';
import { RunDir } from '../train/runDir.js';
import { evaluate, predictLogits, pretrain, sizetrain, type EpochRecord, type TrainObserver, type TrainResult, type TrainState } from '../train/trainer.js';
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

/** What every command does first: threads, backend (`--backend`, `SIZESEG_BACKEND`), progress output. */
export async function setUp(opts: Options): Promise<{ progress: Progress; backend: string }> {
  const threads = opts.optionalString('threads');
  if (threads !== undefined) setNumThreads(opts.int('threads', 1));
  const backend = opts.optionalString('backend') ?? backendFromEnv();
  if (backend !== 'cpu' && backend !== 'gpu') throw new UsageError(`--backend must be cpu or gpu, got '${backend}'.`);
  registerGpuBackend();
  await setBackend(backend);
  const progress = new Progress({ quiet: opts.flag('quiet') });
  if (backend === 'gpu') {
    const info = backendInstance().info();
    progress.line(`backend: gpu — ${String(info.mode)}${info.adapter ? `, ${JSON.stringify(info.adapter)}` : ''}; the network runs on the device, the losses on the host`);
  }
  return { progress, backend };
}

/** `--count N` (a seeded subset of the data), or null for all of it. */
function countOption(opts: Options): number | null {
  return opts.optionalString('count') === undefined ? null : opts.int('count', 1000);
}

async function data(progress: Progress, spec: string, seed: number, count: number | null | undefined): Promise<SegDataset> {
  const ds = await loadDataset(spec, { seed, ...(count ? { count } : {}) });
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

function summary(result: TrainResult, progress: Progress, run: RunDir, command: string): void {
  if (result.interrupted) progress.line(`stopped by Ctrl-C; the best weights so far were kept. Continue with: sizeseg ${command} --resume ${run.path}`);
  else if (result.stoppedEarly) progress.line(`stopped early: validation did not improve for the patience window (best epoch ${result.best?.epoch}).`);
}

async function finish(run: RunDir, ds: SegDataset, model: ResUNet, progress: Progress): Promise<void> {
  const test = indicesOf(ds, 'test').slice(0, 16);
  const files = [...run.writeCurves(), run.writePredictions('predictions.png', ds, test, await predictLogits(model, ds, test))];
  const checkpoints = ['best.ckpt', 'last.ckpt'].filter((f) => existsSync(run.file(f)));
  progress.line(`wrote ${run.path}/ (config.json, metrics.jsonl, ${[...checkpoints, ...files.map((f) => f.slice(run.path.length + 1))].join(', ')})`);
}

/**
 * The settings of a pretrain/sizetrain run: from the flags for a new run, or — with `--resume runs/<name>` —
 * from the run's config.json, where only --epochs and --patience may change (everything else would make
 * the continuation a different run).
 */
function runSettings<T extends Record<string, unknown>>(opts: Options, command: string, fresh: () => T): { config: T; resumeDir: string | null } {
  const resumeDir = opts.optionalString('resume') ?? null;
  if (resumeDir === null) return { config: fresh(), resumeDir };
  const configPath = join(resumeDir, 'config.json');
  if (!existsSync(configPath)) throw new UsageError(`--resume ${resumeDir}: no config.json there; pass the folder of an earlier '${command}' run (runs/<name>).`);
  const saved = JSON.parse(readFileSync(configPath, 'utf8')) as T & { command?: string };
  if (saved.command !== command) throw new UsageError(`--resume ${resumeDir}: that folder holds a '${String(saved.command)}' run; resume it with 'sizeseg ${String(saved.command)} --resume ${resumeDir}'.`);
  if (!existsSync(join(resumeDir, 'last.ckpt'))) throw new UsageError(`--resume ${resumeDir}: no last.ckpt there (the run stopped before finishing its first epoch); start it again without --resume.`);
  const config: Record<string, unknown> = { ...saved };
  for (const key of ['epochs', 'patience'] as const) if (opts.optionalString(key) !== undefined) config[key] = opts.int(key, 1);
  for (const key of ['data', 'm', 'seed', 'batch', 'lr', 'widths', 'samples', 'estimator', 'checkpoint', 'count'] as const) {
    if (opts.optionalString(key) !== undefined) {
      throw new UsageError(`--${key} cannot change when resuming: ${resumeDir} keeps the settings it started with (${configPath}); only --epochs and --patience may be given.`);
    }
  }
  return { config: config as T, resumeDir };
}

/** The run folder: a new one, or the resumed one with its history restored. */
function openRun(opts: Options, command: string, resumeDir: string | null, history: readonly EpochRecord[]): RunDir {
  if (resumeDir === null) return runDir(opts, command);
  const run = new RunDir(dirname(resolve(resumeDir)), basename(resolve(resumeDir)));
  run.resumeHistory(history);
  return run;
}

/** Per-epoch saving: last.ckpt (resumable state) always, best.ckpt whenever the epoch is the best so far. */
function checkpointing(run: RunDir, model: ResUNet, widths: number[], extra: Record<string, unknown>) {
  return (state: TrainState) => {
    saveTrainState(run.file('last.ckpt'), model, state, { widths }, extra);
    if (state.best && state.best.epoch === state.epoch) {
      const info = { config: { widths }, epoch: state.epoch, phase: state.phase, metrics: flat(state.best.val), extra };
      writeCheckpointFile(run.file('best.ckpt'), info, weightEntries(model, state.weights));
    }
  };
}

function resumeNote(progress: Progress, state: TrainState | null, run: RunDir, command: string): void {
  if (state) progress.line(`resuming ${run.path} after epoch ${state.epoch} (best so far: epoch ${state.best?.epoch ?? '–'}), with its optimiser state and random streams`);
  else progress.line(`an interrupted run continues with: sizeseg ${command} --resume ${run.path}`);
}

export async function cmdPretrain(opts: Options): Promise<void> {
  const { progress, backend } = await setUp(opts);
  const { config, resumeDir } = runSettings(opts, 'pretrain', () => ({
    command: 'pretrain', data: opts.string('data', 'synthetic'), count: countOption(opts),
    m: opts.int('m', 20), widths: opts.widths(LITE), seed: opts.int('seed', 0, 0), epochs: opts.int('epochs', 100),
    patience: opts.int('patience', 10), batch: opts.int('batch', 32), lr: opts.number('lr', 3e-3), annotated: [] as number[],
  }));
  const { seed, widths, m } = config;
  const ds = await data(progress, config.data, seed, config.count);
  if (resumeDir === null) config.annotated = selectAnnotated(ds, m, new Rng(seed));
  const model = new ResUNet({ widths, rng: new Rng(seed), headBias: foregroundPriorLogit(ds.masks, config.annotated, ds.height * ds.width) });
  const resume = resumeDir === null ? null : loadTrainState(join(resumeDir, 'last.ckpt'), model).state;
  model.to(backend);
  const run = openRun(opts, 'pretrain', resumeDir, resume?.history ?? []);
  run.writeConfig(config);
  resumeNote(progress, resume, run, 'pretrain');
  const interrupt = interruptFlag(progress);
  const result = await pretrain(model, ds, {
    ...config, minImagesPerEpoch: 160, valIndices: indicesOf(ds, 'val'), observer: observer(progress, run, interrupt.stop),
    onState: checkpointing(run, model, widths, { seed, m }), ...(resume ? { resume } : {}),
  });
  interrupt.dispose();
  await model.toHost();
  summary(result, progress, run, 'pretrain');
  await finish(run, ds, model, progress);
}

export async function cmdSizetrain(opts: Options): Promise<void> {
  const { progress, backend } = await setUp(opts);
  const start: { checkpoint: LoadedCheckpoint | null } = { checkpoint: null }; // read once, for a new run
  const { config, resumeDir } = runSettings(opts, 'sizetrain', () => {
    const from = opts.required('checkpoint', 'runs/<name>/best.ckpt');
    start.checkpoint = readCheckpoint(from);
    return {
      command: 'sizetrain', from, data: opts.string('data', 'synthetic'), count: countOption(opts),
      widths: start.checkpoint.header.config.widths as number[], seed: opts.int('seed', 0, 0), samples: opts.int('samples', 1),
      estimator: opts.choice('estimator', ['fast', 'naive'] as const, 'fast'), epochs: opts.int('epochs', 50), patience: opts.int('patience', 5),
      batch: opts.int('batch', 32), lr: opts.number('lr', 1e-4),
    };
  });
  const { seed, widths } = config;
  const model = new ResUNet({ widths });
  const resume = resumeDir === null ? null : loadTrainState(join(resumeDir, 'last.ckpt'), model).state;
  if (start.checkpoint) applyCheckpoint(start.checkpoint, model, config.from);
  model.to(backend);
  const ds = await data(progress, config.data, seed, config.count);
  const run = openRun(opts, 'sizetrain', resumeDir, resume?.history ?? []);
  run.writeConfig(config);
  const val = indicesOf(ds, 'val');
  if (!resume) {
    const before = await evaluate(model, ds, val);
    progress.line(`before size training: val ${formatMetrics(before)}`);
    run.logEvent({ phase: 'sizetrain', event: 'start', val: before });
  }
  resumeNote(progress, resume, run, 'sizetrain');
  const interrupt = interruptFlag(progress);
  const result = await sizetrain(model, ds, {
    ...config, sizeLabelled: indicesOf(ds, 'train'), valIndices: val, observer: observer(progress, run, interrupt.stop),
    onState: checkpointing(run, model, widths, { seed, from: config.from }), ...(resume ? { resume } : {}),
  });
  interrupt.dispose();
  await model.toHost();
  summary(result, progress, run, 'sizetrain');
  await finish(run, ds, model, progress);
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
  const { progress, backend } = await setUp(opts);
  const ckpt = opts.required('checkpoint', 'runs/<name>/best.ckpt');
  const split = opts.choice('split', ['train', 'val', 'test'] as const, 'test');
  const { model } = restoreModel(ckpt);
  model.to(backend);
  const count = countOption(opts);
  const ds = await data(progress, opts.string('data', 'synthetic'), opts.int('seed', 0, 0), count);
  return { progress, ckpt, split, model, ds, indices: indicesOf(ds, split) };
}

export async function cmdEvaluate(opts: Options): Promise<void> {
  const { progress, ckpt, split, model, ds, indices } = await checkpointOnSplit(opts);
  const metrics = await evaluate(model, ds, indices);
  console.log(JSON.stringify({ checkpoint: ckpt, data: ds.name, split, ...metrics }));
  progress.line(`${split}: ${formatMetrics(metrics)} over ${metrics.count} images`);
}

export async function cmdPredict(opts: Options): Promise<void> {
  const count = opts.int('count', 32);
  const { progress, split, model, ds, indices: all } = await checkpointOnSplit(opts);
  const indices = all.slice(0, count);
  const run = runDir(opts, 'predict');
  const path = run.writePredictions('predictions.png', ds, indices, await predictLogits(model, ds, indices), indices.length);
  progress.line(`wrote ${path} (${indices.length} ${split} images; green: ground truth, red: prediction)`);
}

export async function cmdInfo(opts: Options): Promise<void> {
  await setUp(opts);
  const pkg = { name: 'sizeseg', node: process.version, platform: `${process.platform}-${process.arch}`, cpus: cpus().length };
  const info = {
    ...pkg,
    backend: backendInstance().info(),
    threads: getNumThreads(),
    cpuKernels: cpuKernelInfo(),
    kernels: Object.fromEntries(['cpu', 'gpu'].map((b) => [b, listKernels(b).map((k) => k.kernelName)])),
    sharedData: existsSync('../shared/data/hippocampus') ? '../shared/data/hippocampus' : null,
    cachedData: Object.fromEntries(listCache().map((e) => [e.name, e.state === 'ready' ? e.path : null])),
    ...(await dataInfo(opts.optionalString('data'))),
  };
  console.log(JSON.stringify(info, null, 2));
}

/** Which kernels the cpu backend runs, and why (for `sizeseg info`). */
function cpuKernelInfo(): Record<string, unknown> {
  const set = cpuKernels();
  return {
    float32: set === 'wasm' ? 'WebAssembly SIMD (generated per shape, src/kernels/wasm)' : 'JavaScript (src/kernels/cpu)',
    float64: 'JavaScript (src/kernels/cpu; exact float64 path)',
    wasmSimdAvailable: wasmSimdAvailable(),
    chosenBy: process.env['SIZESEG_KERNELS'] ? `SIZESEG_KERNELS=${process.env['SIZESEG_KERNELS']}` : 'default (WebAssembly SIMD where the engine has it)',
  };
}

/** `info --data SPEC`: what the spec loads (so `info --data msd` checks the downloaded copy). */
async function dataInfo(spec: string | undefined): Promise<{ data?: { name: string; count: number; height: number; width: number; source: string } }> {
  if (spec === undefined) return {};
  const ds = await loadDataset(spec, {});
  return { data: { name: ds.name, count: ds.count, height: ds.height, width: ds.width, source: ds.source } };
}

function flat(m: SegMetrics): Record<string, number> {
  return { iou: m.iou, dice: m.dice, sizeError: m.sizeError, count: m.count };
}
