/** The `sizeseg` commands. Each validates its options, does its work, and says where the results are. */
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { cpus } from 'node:os';
import { Rng } from '../autograd/rng.js';
import { backendFromEnv, backendInstance, setBackend } from '../backend.js';
import { listCache } from '../data/cache.js';
import { indicesOf, loadDataset, selectAnnotated, type SegDataset, type SplitName } from '../data/index.js';
import { getNumThreads, setNumThreads } from '../kernels/wasm/threads.js';
import { cpuKernels } from '../kernels/engine.js';
import { kernelCacheStats, wasmSimdAvailable } from '../kernels/wasm/index.js';
import { listKernels } from '../kernels/registry.js';
import { registerGpuBackend } from '../kernels/gpu/index.js';
import { ResUNet } from '../models/resunet.js';
import { applyCheckpoint, readCheckpoint, weightEntries, writeCheckpointFile, type CheckpointHeader, type LoadedCheckpoint } from '../train/checkpoint.js';
import { loadTrainState, saveTrainState } from '../train/resume.js';
import { foregroundPriorLogit, type SegMetrics } from '../train/metrics.js';
import { RunDir, RunFolderError } from '../train/runDir.js';
import { evaluate, predictLogits, pretrain, sizetrain, type EpochRecord, type TrainObserver, type TrainResult, type TrainState } from '../train/trainer.js';
import { Options, UsageError } from './options.js';
import { Progress } from './progress.js';

const LITE = [16, 32, 64, 128] as const;

/** The exit status of a process ended by a signal, as shells report it (128 + the signal's number). */
const SIGNAL_EXIT: Record<'SIGINT' | 'SIGTERM', number> = { SIGINT: 130, SIGTERM: 143 };

export interface Interrupt {
  stop: () => boolean;
  /** 'Ctrl-C' or 'SIGTERM' once a signal came, for messages. */
  cause: () => string | null;
  /** 0, or 130 after SIGINT and 143 after SIGTERM: an interrupted run must not look like a finished one to a script. */
  exitCode: () => number;
  dispose: () => void;
}

/**
 * Ctrl-C (SIGINT) or SIGTERM stops after the current step; the last good checkpoint on disk stays intact
 * (atomic writes). A second signal quits at once.
 */
export function interruptFlag(progress: Progress): Interrupt {
  let signal: 'SIGINT' | 'SIGTERM' | null = null;
  const on = (which: 'SIGINT' | 'SIGTERM') => () => {
    if (signal) process.exit(SIGNAL_EXIT[which]);
    signal = which;
    progress.line(`interrupted (${which === 'SIGINT' ? 'Ctrl-C' : which}): finishing the current step (press Ctrl-C again to quit now)`);
  };
  const handlers = { SIGINT: on('SIGINT'), SIGTERM: on('SIGTERM') };
  process.on('SIGINT', handlers.SIGINT);
  process.on('SIGTERM', handlers.SIGTERM);
  return {
    stop: () => signal !== null,
    cause: () => (signal === null ? null : signal === 'SIGINT' ? 'Ctrl-C' : signal),
    exitCode: () => (signal === null ? 0 : SIGNAL_EXIT[signal]),
    dispose: () => {
      process.off('SIGINT', handlers.SIGINT);
      process.off('SIGTERM', handlers.SIGTERM);
    },
  };
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
  progress.line(`data: ${ds.name} — ${ds.count} images ${ds.height}×${ds.width} (${splitCounts(ds)}); ${ds.source}`);
  return ds;
}

function splitCounts(ds: SegDataset): string {
  const c = (s: SplitName) => indicesOf(ds, s).length;
  return `train ${c('train')}, val ${c('val')}, test ${c('test')}`;
}

/** The images of a split, refused when there are none: a result over 0 images is no result. */
export function splitImages(ds: SegDataset, split: SplitName, spec: string, fix: string): number[] {
  const indices = indicesOf(ds, split);
  if (indices.length === 0) throw new UsageError(`the ${split} split of --data ${spec} has no images (${ds.count} images: ${splitCounts(ds)}); ${fix}.`);
  return indices;
}

/**
 * The U-Net halves the image at each of its levels below the first, so H and W must be divisible by
 * 2^(levels − 1); refused before training, naming where the widths came from.
 */
function checkWidthsFit(widths: readonly number[], ds: SegDataset, spec: string, origin: string): void {
  const factor = 2 ** (widths.length - 1);
  if (ds.height % factor === 0 && ds.width % factor === 0) return;
  let fits = 1;
  while (ds.height % 2 ** fits === 0 && ds.width % 2 ** fits === 0) fits++;
  throw new UsageError(`${origin} has ${widths.length} levels, which need images whose height and width are divisible by ${factor}; --data ${spec} has ${ds.height}×${ds.width} images, which allow at most ${fits} levels${origin.startsWith('--widths') ? `, e.g. --widths ${widths.slice(0, fits).join(',')}` : ': use data of the size the checkpoint was trained on'}.`);
}

/**
 * A new run folder --out/--name, locked; an existing one is refused with the ways out (--resume, another
 * --name, --overwrite). `readsFrom`: a file the run starts from, which must not lie in the folder it writes.
 */
function newRun(opts: Options, command: string, readsFrom?: { flag: string; path: string }): RunDir {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const root = opts.string('out', 'runs');
  const name = opts.string('name', `${command}-${stamp}`);
  if (readsFrom && existsSync(resolve(root, name)) && realpathSync(dirname(resolve(readsFrom.path))) === realpathSync(resolve(root, name))) {
    throw new UsageError(`--${readsFrom.flag} ${readsFrom.path} lies in the run folder this ${command} would write (${join(root, name)}); a ${command} run writes a new folder: pick another --name, e.g. --name ${name}-${command}.`);
  }
  try {
    return RunDir.create(root, name, { command, overwrite: opts.flag('overwrite') });
  } catch (err) {
    throw err instanceof RunFolderError ? new UsageError(err.message) : err;
  }
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

/** What the end of a run left, said as it is: after an interruption, whether there is anything to resume. */
function summary(result: TrainResult, progress: Progress, run: RunDir, command: string, interrupt: Interrupt): void {
  if (result.interrupted) {
    const last = result.history.at(-1);
    if (last && existsSync(run.file('last.ckpt'))) {
      progress.line(`stopped by ${interrupt.cause()} during epoch ${last.epoch + 1}: last.ckpt holds epoch ${last.epoch} and best.ckpt the best epoch so far (${result.best?.epoch}). Continue with: sizeseg ${command} --resume ${run.path}`);
    } else {
      progress.line(`stopped by ${interrupt.cause()} during the first epoch, before any checkpoint was written: no weights were kept and there is nothing to resume. Start again with the same flags and --overwrite (or another --name).`);
    }
  } else if (result.stoppedEarly) progress.line(`stopped early: validation did not improve for the patience window (best epoch ${result.best?.epoch}).`);
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
function runSettings<T extends Record<string, unknown>>(opts: Options, command: string, fresh: () => T): { config: T; resumeDir: string | null; saved: Record<string, unknown> | null } {
  const resumeDir = opts.optionalString('resume') ?? null;
  if (resumeDir === null) return { config: fresh(), resumeDir, saved: null };
  for (const key of ['name', 'out', 'overwrite'] as const) {
    if (opts.optionalString(key) !== undefined || opts.flag(key)) throw new UsageError(`--${key} starts a new run; --resume ${resumeDir} continues that run in its own folder: give one or the other.`);
  }
  if (!existsSync(resumeDir)) throw new UsageError(`--resume ${resumeDir}: no such folder; pass the folder of an earlier '${command}' run (runs/<name>).`);
  if (!statSync(resumeDir).isDirectory()) throw new UsageError(`--resume ${resumeDir} is a file; pass the run folder that holds it, e.g. --resume ${dirname(resumeDir)}.`);
  const configPath = join(resumeDir, 'config.json');
  if (!existsSync(configPath)) throw new UsageError(`--resume ${resumeDir}: no config.json there; pass the folder of an earlier '${command}' run (runs/<name>).`);
  let saved: T & { command?: string };
  try {
    saved = JSON.parse(readFileSync(configPath, 'utf8')) as T & { command?: string };
  } catch (err) {
    throw new Error(`--resume ${resumeDir}: ${configPath} is not valid JSON (${(err as Error).message}); it was edited or damaged outside sizeseg — restore it, or start a new run with another --name.`);
  }
  if (saved.command !== command) throw new UsageError(`--resume ${resumeDir}: that folder holds a '${String(saved.command)}' run; resume it with 'sizeseg ${String(saved.command)} --resume ${resumeDir}'.`);
  if (!existsSync(join(resumeDir, 'last.ckpt'))) throw new UsageError(`--resume ${resumeDir}: no last.ckpt there (the run stopped before finishing its first epoch): nothing to resume; start it again with the same flags and --overwrite --name ${basename(resolve(resumeDir))}.`);
  const config: Record<string, unknown> = { ...saved };
  for (const key of ['epochs', 'patience'] as const) if (opts.optionalString(key) !== undefined) config[key] = opts.int(key, 1);
  for (const key of ['data', 'm', 'seed', 'batch', 'lr', 'widths', 'samples', 'estimator', 'checkpoint', 'count'] as const) {
    if (opts.optionalString(key) !== undefined) {
      throw new UsageError(`--${key} cannot change when resuming: ${resumeDir} keeps the settings it started with (${configPath}); only --epochs and --patience may be given.`);
    }
  }
  return { config: config as T, resumeDir, saved };
}

/** The folder of a run being resumed, locked (another process continuing it at the same time is refused). */
function resumedRun(resumeDir: string, command: string): RunDir {
  try {
    return RunDir.resume(resumeDir, command);
  } catch (err) {
    throw err instanceof RunFolderError ? new UsageError(err.message) : err;
  }
}

/** Settings that change the run (all but --epochs and --patience), to compare config.json with the checkpoint's copy. */
function fixedSettings(config: Record<string, unknown>): string {
  const { epochs: _e, patience: _p, ...rest } = config;
  return JSON.stringify(rest);
}

/**
 * The checkpoint's copy of the run's settings (covered by its checksum) must match config.json: a resume
 * reads both, and an edited config.json would make the continuation a different run.
 */
function checkSettings(header: CheckpointHeader, saved: Record<string, unknown>, configPath: string): void {
  const copy = header.extra?.runConfig as Record<string, unknown> | undefined;
  if (copy && fixedSettings(copy) !== fixedSettings(saved)) {
    throw new Error(`--resume: ${configPath} does not match the settings the run saved in last.ckpt (it was edited); restore it (only --epochs and --patience may change, as flags), or start a new run with another --name.`);
  }
}

/**
 * Per-epoch saving: best.ckpt whenever the epoch is the best so far, then last.ckpt (resumable state, with a
 * copy of the settings) always. In this order a crash between the two leaves last.ckpt at the previous epoch,
 * and the resumed run redoes the epoch and writes best.ckpt again.
 */
function checkpointing(run: RunDir, model: ResUNet, widths: number[], extra: Record<string, unknown>, runConfig: Record<string, unknown>) {
  return (state: TrainState) => {
    if (state.best && state.best.epoch === state.epoch) {
      const info = { config: { widths }, epoch: state.epoch, phase: state.phase, metrics: flat(state.best.val), extra };
      writeCheckpointFile(run.file('best.ckpt'), info, weightEntries(model, state.weights));
    }
    saveTrainState(run.file('last.ckpt'), model, state, { widths }, { ...extra, runConfig });
  };
}

function resumeNote(progress: Progress, state: TrainState | null, run: RunDir, command: string): void {
  if (state) progress.line(`resuming ${run.path} after epoch ${state.epoch} (best so far: epoch ${state.best?.epoch ?? '–'}), with its optimiser state and random streams`);
  else progress.line(`once its first epoch is saved, an interrupted run continues with: sizeseg ${command} --resume ${run.path}`);
}

export async function cmdPretrain(opts: Options): Promise<number> {
  const { progress, backend } = await setUp(opts);
  const { config, resumeDir, saved } = runSettings(opts, 'pretrain', () => ({
    command: 'pretrain', data: opts.string('data', 'synthetic'), count: countOption(opts),
    m: opts.int('m', 20), widths: opts.widths(LITE), seed: opts.int('seed', 0, 0), epochs: opts.int('epochs', 100),
    patience: opts.int('patience', 10), batch: opts.int('batch', 32), lr: opts.number('lr', 3e-3), annotated: [] as number[],
  }));
  // the folder first: a refused one costs nothing, and the lock keeps a second process out from the start
  const run = resumeDir === null ? newRun(opts, 'pretrain') : resumedRun(resumeDir, 'pretrain');
  try {
    const { seed, widths, m } = config;
    const ds = await data(progress, config.data, seed, config.count);
    checkWidthsFit(widths, ds, config.data, `--widths ${widths.join(',')}`);
    if (resumeDir === null) {
      const train = splitImages(ds, 'train', config.data, 'use more images (--count) or other data');
      if (m > train.length) throw new UsageError(`--m ${m}: the training split of --data ${config.data} has only ${train.length} images; pass --m ${train.length} or fewer, or more images with --count.`);
      config.annotated = selectAnnotated(ds, m, new Rng(seed));
    }
    const val = splitImages(ds, 'val', config.data, 'use more images (--count) or data with validation images');
    const model = new ResUNet({ widths, rng: new Rng(seed), headBias: foregroundPriorLogit(ds.masks, config.annotated, ds.height * ds.width) });
    const loaded = resumeDir === null ? null : loadTrainState(run.file('last.ckpt'), model);
    if (loaded) checkSettings(loaded.header, saved!, run.file('config.json'));
    const resume = loaded?.state ?? null;
    model.to(backend);
    if (resume) run.resumeHistory(resume.history);
    run.writeConfig(config);
    const interrupt = interruptFlag(progress);
    resumeNote(progress, resume, run, 'pretrain');
    const result = await pretrain(model, ds, {
      ...config, minImagesPerEpoch: 160, valIndices: val, observer: observer(progress, run, interrupt.stop),
      onState: checkpointing(run, model, widths, { seed, m }, config), ...(resume ? { resume } : {}),
    });
    interrupt.dispose();
    await model.toHost();
    summary(result, progress, run, 'pretrain', interrupt);
    if (existsSync(run.file('last.ckpt'))) await finish(run, ds, model, progress);
    return interrupt.exitCode();
  } finally {
    run.release();
  }
}

export async function cmdSizetrain(opts: Options): Promise<number> {
  const { progress, backend } = await setUp(opts);
  const start: { checkpoint: LoadedCheckpoint | null } = { checkpoint: null }; // read once, for a new run
  const { config, resumeDir, saved } = runSettings(opts, 'sizetrain', () => {
    const from = opts.required('checkpoint', 'runs/<name>/best.ckpt');
    // every flag is checked before the checkpoint is read: a bad flag is reported as such
    const flags = {
      data: opts.string('data', 'synthetic'), count: countOption(opts), seed: opts.int('seed', 0, 0), samples: opts.int('samples', 1),
      estimator: opts.choice('estimator', ['fast', 'naive'] as const, 'fast'), epochs: opts.int('epochs', 50), patience: opts.int('patience', 5),
      batch: opts.int('batch', 32), lr: opts.number('lr', 1e-4),
    };
    start.checkpoint = readCheckpoint(from);
    const { data: spec, count, ...rest } = flags;
    return { command: 'sizetrain', from, data: spec, count, widths: start.checkpoint.header.config.widths as number[], ...rest };
  });
  // a new run never writes into the folder of the checkpoint it starts from
  const run = resumeDir === null ? newRun(opts, 'sizetrain', { flag: 'checkpoint', path: config.from }) : resumedRun(resumeDir, 'sizetrain');
  try {
    const { seed, widths } = config;
    const model = new ResUNet({ widths });
    const loaded = resumeDir === null ? null : loadTrainState(run.file('last.ckpt'), model);
    if (loaded) checkSettings(loaded.header, saved!, run.file('config.json'));
    const resume = loaded?.state ?? null;
    if (start.checkpoint) applyCheckpoint(start.checkpoint, model, config.from);
    model.to(backend);
    const ds = await data(progress, config.data, seed, config.count);
    checkWidthsFit(widths, ds, config.data, `the network of ${config.from} (widths ${widths.join(',')})`);
    const train = splitImages(ds, 'train', config.data, 'use more images (--count) or other data');
    const val = splitImages(ds, 'val', config.data, 'use more images (--count) or data with validation images');
    if (resume) run.resumeHistory(resume.history);
    run.writeConfig(config);
    if (!resume) {
      const before = await evaluate(model, ds, val);
      progress.line(`before size training: val ${formatMetrics(before)}`);
      run.logEvent({ phase: 'sizetrain', event: 'start', val: before });
    }
    const interrupt = interruptFlag(progress);
    resumeNote(progress, resume, run, 'sizetrain');
    const result = await sizetrain(model, ds, {
      ...config, sizeLabelled: train, valIndices: val, observer: observer(progress, run, interrupt.stop),
      onState: checkpointing(run, model, widths, { seed, from: config.from }, config), ...(resume ? { resume } : {}),
    });
    interrupt.dispose();
    await model.toHost();
    summary(result, progress, run, 'sizetrain', interrupt);
    if (existsSync(run.file('last.ckpt'))) await finish(run, ds, model, progress);
    return interrupt.exitCode();
  } finally {
    run.release();
  }
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
  const { model, header } = restoreModel(ckpt);
  model.to(backend);
  const count = countOption(opts);
  const spec = opts.string('data', 'synthetic');
  const ds = await data(progress, spec, opts.int('seed', 0, 0), count);
  checkWidthsFit(header.config.widths as number[], ds, spec, `the network of ${ckpt} (widths ${String(header.config.widths)})`);
  return { progress, ckpt, split, model, ds, indices: splitImages(ds, split, spec, 'pick another --split, or use more images (--count)') };
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
  const run = newRun(opts, 'predict');
  try {
    const path = run.writePredictions('predictions.png', ds, indices, await predictLogits(model, ds, indices), indices.length);
    progress.line(`wrote ${path} (${indices.length} ${split} images; green: ground truth, red: prediction)`);
  } finally {
    run.release();
  }
}

export async function cmdInfo(opts: Options): Promise<void> {
  await setUp(opts);
  const pkg = { name: 'sizeseg', node: process.version, platform: `${process.platform}-${process.arch}`, cpus: cpus().length };
  const info = {
    ...pkg,
    backend: backendInstance().info(),
    threads: getNumThreads(),
    cpuKernels: cpuKernelInfo(),
    kernels: Object.fromEntries(['wasm', 'js', 'gpu'].map((b) => [b, listKernels(b).map((k) => k.kernelName)])),
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
    float32: set === 'wasm' ? 'WebAssembly SIMD (generated per shape, src/kernels/wasm)' : 'JavaScript (src/kernels/js)',
    float64: 'JavaScript (src/kernels/js; exact float64 path)',
    wasmSimdAvailable: wasmSimdAvailable(),
    generatedModules: kernelCacheStats(), // kernels generated so far in this process (one per shape)
    chosenBy: process.env['SIZESEG_KERNELS'] ? `SIZESEG_KERNELS=${process.env['SIZESEG_KERNELS']}` : 'default (WebAssembly SIMD where the engine has it)',
    // whether a step arena keeps a step's tensors in the kernels' memory (no copies around the kernels)
    stepArenas: set === 'wasm' && wasmSimdAvailable() ? 'on: the trainer runs each step in a scope, whose tensors live in the WebAssembly memory (src/kernels/wasm/arena.ts)' : 'off (JS kernels: scopes release nothing)',
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
