/** The `sizeseg` commands. Each validates its options, does its work, and says where the results are. */
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { cpus } from 'node:os';
import { Rng } from '../autograd/rng.js';
import { backendFromEnv, backendInstance, setBackend } from '../backend.js';
import { listCache } from '../data/cache.js';
import {
  SYNTHETIC_DEFAULTS,
  indicesOf,
  loadDataset,
  selectAnnotated,
  type SegDataset,
  type SplitName,
} from '../data/index.js';
import { getNumThreads, setNumThreads } from '../kernels/wasm/threads.js';
import { getConvAlgorithm } from '../kernels/wasm/winogradConv.js';
import { fusedMultiplyAddActive, getFusedMultiplyAdd } from '../kernels/wasm/multiplyAdd.js';
import { cpuKernels } from '../kernels/engine.js';
import { kernelCacheStats, wasmSimdAvailable } from '../kernels/wasm/index.js';
import { listKernels } from '../kernels/registry.js';
import { registerGpuBackend } from '../kernels/gpu/index.js';
import { ResUNet } from '../models/resunet.js';
import {
  applyCheckpoint,
  readCheckpoint,
  weightEntries,
  writeCheckpointFile,
  type CheckpointData,
  type CheckpointHeader,
  type LoadedCheckpoint,
} from '../train/checkpoint.js';
import { loadTrainState, saveTrainState } from '../train/resume.js';
import { foregroundPriorLogit, type SegMetrics } from '../train/metrics.js';
import { RunDir, RunFolderError } from '../train/runDir.js';
import {
  evaluate,
  predictLogits,
  pretrain,
  sizetrain,
  type EpochRecord,
  type TrainObserver,
  type TrainResult,
  type TrainState,
} from '../train/trainer.js';
import { BACKEND_OPTIONS, DATA_SPECS, type Command } from './command.js';
import { type Options, UsageError } from './options.js';
import { Progress } from './progress.js';
import {
  chooseData,
  countOption,
  dataRecord,
  loadChosenData,
  loadData,
  refuseTrainingImages,
  splitCounts,
  type DataChoice,
} from './runData.js';
import { sizesegVersion } from './version.js';
import { annotatedOfCheckpoint, jointFlags } from './joint.js';
import { DEFAULT_JOINT_LAMBDA, sizeTermImages } from '../train/joint.js';

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
    progress.line(
      `interrupted (${which === 'SIGINT' ? 'Ctrl-C' : which}): finishing the current step (press Ctrl-C again to quit now)`,
    );
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
    progress.line(
      `backend: gpu — ${String(info.mode)}${info.adapter ? `, ${JSON.stringify(info.adapter)}` : ''}; the network runs on the device, the losses on the host`,
    );
  }
  return { progress, backend };
}

/** What the colours of predictions.png mean, said wherever one is written. */
export const OVERLAY_LEGEND =
  'green outline = ground truth, red = prediction, yellow = both on the same pixel edge, where the prediction follows the true outline';

/** The images of a split, refused when there are none: a result over 0 images is no result. */
export function splitImages(ds: SegDataset, split: SplitName, spec: string, fix: string): number[] {
  const indices = indicesOf(ds, split);
  if (indices.length === 0)
    throw new UsageError(
      `the ${split} split of --data ${spec} has no images (${ds.count} images: ${splitCounts(ds)}); ${fix}.`,
    );
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
  throw new UsageError(
    `${origin} has ${widths.length} levels, which need images whose height and width are divisible by ${factor}; --data ${spec} has ${ds.height}×${ds.width} images, which allow at most ${fits} levels${origin.startsWith('--widths') ? `, e.g. --widths ${widths.slice(0, fits).join(',')}` : ': use data of the size the checkpoint was trained on'}.`,
  );
}

/**
 * A new run folder --out/--name, locked; an existing one is refused with the ways out (--resume, another
 * --name, --overwrite). `readsFrom`: a file the run starts from, which must not lie in the folder it writes.
 */
function newRun(opts: Options, command: string, readsFrom?: { flag: string; path: string }): RunDir {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const root = opts.string('out', 'runs');
  const name = opts.string('name', `${command}-${stamp}`);
  if (
    readsFrom &&
    existsSync(resolve(root, name)) &&
    realpathSync(dirname(resolve(readsFrom.path))) === realpathSync(resolve(root, name))
  ) {
    throw new UsageError(
      `--${readsFrom.flag} ${readsFrom.path} lies in the run folder this ${command} would write (${join(root, name)}); a ${command} run writes a new folder: pick another --name, e.g. --name ${name}-${command}.`,
    );
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
      progress.line(
        `stopped by ${interrupt.cause()} during epoch ${last.epoch + 1}: last.ckpt holds epoch ${last.epoch} and best.ckpt the best epoch so far (${result.best?.epoch}). Continue with: sizeseg ${command} --resume ${run.path}`,
      );
    } else {
      progress.line(
        `stopped by ${interrupt.cause()} during the first epoch, before any checkpoint was written: no weights were kept and there is nothing to resume. Start again with the same flags and --overwrite (or another --name).`,
      );
    }
  } else if (result.stoppedEarly)
    progress.line(
      `stopped early: validation did not improve for the patience window (best epoch ${result.best?.epoch}).`,
    );
}

async function finish(
  run: RunDir,
  ds: SegDataset,
  model: ResUNet,
  progress: Progress,
  lossLabel: Parameters<RunDir['writeCurves']>[0] = {},
): Promise<void> {
  const test = indicesOf(ds, 'test').slice(0, 16);
  const files = [
    ...run.writeCurves(lossLabel),
    run.writePredictions('predictions.png', ds, test, await predictLogits(model, ds, test)),
  ];
  const checkpoints = ['best.ckpt', 'last.ckpt'].filter((f) => existsSync(run.file(f)));
  progress.line(
    `wrote ${run.path}/ (config.json, metrics.jsonl, ${[...checkpoints, ...files.map((f) => f.slice(run.path.length + 1))].join(', ')})`,
  );
  progress.line(`predictions.png: ${test.length} test images; ${OVERLAY_LEGEND}`);
}

/**
 * The settings of a pretrain/sizetrain run: from the flags for a new run, or — with `--resume runs/<name>` —
 * from the run's config.json, where only --epochs and --patience may change (everything else would make
 * the continuation a different run).
 */
function runSettings<T extends Record<string, unknown>>(
  opts: Options,
  command: string,
  fresh: () => T,
): { config: T; resumeDir: string | null; saved: Record<string, unknown> | null } {
  const resumeDir = opts.optionalString('resume') ?? null;
  if (resumeDir === null) return { config: fresh(), resumeDir, saved: null };
  for (const key of ['name', 'out', 'overwrite'] as const) {
    if (opts.optionalString(key) !== undefined || opts.flag(key))
      throw new UsageError(
        `--${key} starts a new run; --resume ${resumeDir} continues that run in its own folder: give one or the other.`,
      );
  }
  if (!existsSync(resumeDir))
    throw new UsageError(
      `--resume ${resumeDir}: no such folder; pass the folder of an earlier '${command}' run (runs/<name>).`,
    );
  if (!statSync(resumeDir).isDirectory())
    throw new UsageError(
      `--resume ${resumeDir} is a file; pass the run folder that holds it, e.g. --resume ${dirname(resumeDir)}.`,
    );
  const configPath = join(resumeDir, 'config.json');
  if (!existsSync(configPath))
    throw new UsageError(
      `--resume ${resumeDir}: no config.json there; pass the folder of an earlier '${command}' run (runs/<name>).`,
    );
  let saved: T & { command?: string };
  try {
    saved = JSON.parse(readFileSync(configPath, 'utf8')) as T & { command?: string };
  } catch (err) {
    throw new Error(
      `--resume ${resumeDir}: ${configPath} is not valid JSON (${(err as Error).message}); it was edited or damaged outside sizeseg — restore it, or start a new run with another --name.`,
    );
  }
  if (saved.command !== command)
    throw new UsageError(
      `--resume ${resumeDir}: that folder holds a '${String(saved.command)}' run; resume it with 'sizeseg ${String(saved.command)} --resume ${resumeDir}'.`,
    );
  if (!existsSync(join(resumeDir, 'last.ckpt')))
    throw new UsageError(
      `--resume ${resumeDir}: no last.ckpt there (the run stopped before finishing its first epoch): nothing to resume; start it again with the same flags and --overwrite --name ${basename(resolve(resumeDir))}.`,
    );
  const config: Record<string, unknown> = { ...saved };
  for (const key of ['epochs', 'patience'] as const)
    if (opts.optionalString(key) !== undefined) config[key] = opts.int(key, 1);
  for (const key of [
    'data',
    'm',
    'seed',
    'batch',
    'lr',
    'widths',
    'samples',
    'estimator',
    'checkpoint',
    'count',
    'joint',
    'joint-lambda',
  ] as const) {
    if (opts.has(key)) {
      throw new UsageError(
        `--${key} cannot change when resuming: ${resumeDir} keeps the settings it started with (${configPath}); only --epochs and --patience may be given.`,
      );
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
    throw new Error(
      `--resume: ${configPath} does not match the settings the run saved in last.ckpt (it was edited); restore it (only --epochs and --patience may change, as flags), or start a new run with another --name.`,
    );
  }
}

/**
 * Per-epoch saving: best.ckpt whenever the epoch is the best so far, then last.ckpt (resumable state, with a
 * copy of the settings) always. In this order a crash between the two leaves last.ckpt at the previous epoch,
 * and the resumed run redoes the epoch and writes best.ckpt again.
 */
function checkpointing(
  run: RunDir,
  model: ResUNet,
  widths: number[],
  extra: Record<string, unknown>,
  runConfig: Record<string, unknown>,
  data: CheckpointData,
) {
  return (state: TrainState) => {
    if (state.best && state.best.epoch === state.epoch) {
      const info = {
        config: { widths },
        epoch: state.epoch,
        phase: state.phase,
        metrics: flat(state.best.val),
        extra,
        data,
      };
      writeCheckpointFile(run.file('best.ckpt'), info, weightEntries(model, state.weights));
    }
    saveTrainState(run.file('last.ckpt'), model, state, { widths }, { ...extra, runConfig }, data);
  };
}

function resumeNote(progress: Progress, state: TrainState | null, run: RunDir, command: string): void {
  if (state)
    progress.line(
      `resuming ${run.path} after epoch ${state.epoch} (best so far: epoch ${state.best?.epoch ?? '–'}), with its optimiser state and random streams`,
    );
  else
    progress.line(
      `once its first epoch is saved, an interrupted run continues with: sizeseg ${command} --resume ${run.path}`,
    );
}

/** pretrain's defaults, for the run and its help. */
const PRETRAIN = {
  data: 'synthetic',
  m: 20,
  widths: LITE,
  seed: 0,
  epochs: 100,
  patience: 10,
  batch: 32,
  lr: 3e-3,
} as const;

export async function cmdPretrain(opts: Options): Promise<number> {
  const { progress, backend } = await setUp(opts);
  const { config, resumeDir, saved } = runSettings(opts, 'pretrain', () => ({
    command: 'pretrain',
    data: opts.string('data', PRETRAIN.data),
    count: countOption(opts),
    m: opts.int('m', PRETRAIN.m),
    widths: opts.widths(PRETRAIN.widths),
    seed: opts.int('seed', PRETRAIN.seed, 0),
    epochs: opts.int('epochs', PRETRAIN.epochs),
    patience: opts.int('patience', PRETRAIN.patience),
    batch: opts.int('batch', PRETRAIN.batch),
    lr: opts.number('lr', PRETRAIN.lr),
    annotated: [] as number[],
  }));
  // the folder first: a refused one costs nothing, and the lock keeps a second process out from the start
  const run = resumeDir === null ? newRun(opts, 'pretrain') : resumedRun(resumeDir, 'pretrain');
  try {
    const { seed, widths, m } = config;
    const load = { spec: config.data, seed, count: config.count };
    const ds = await loadData(progress, load);
    checkWidthsFit(widths, ds, config.data, `--widths ${widths.join(',')}`);
    if (resumeDir === null) {
      const train = splitImages(ds, 'train', config.data, 'use more images (--count) or other data');
      if (m > train.length)
        throw new UsageError(
          `--m ${m}: the training split of --data ${config.data} has only ${train.length} images; pass --m ${train.length} or fewer, or more images with --count.`,
        );
      config.annotated = selectAnnotated(ds, m, new Rng(seed));
    }
    const val = splitImages(ds, 'val', config.data, 'use more images (--count) or data with validation images');
    const record = dataRecord(load, ds, config.annotated, val);
    const model = new ResUNet({
      widths,
      rng: new Rng(seed),
      headBias: foregroundPriorLogit(ds.masks, config.annotated, ds.height * ds.width),
    });
    const loaded = resumeDir === null ? null : loadTrainState(run.file('last.ckpt'), model);
    if (loaded) checkSettings(loaded.header, saved!, run.file('config.json'));
    const resume = loaded?.state ?? null;
    model.to(backend);
    if (resume) run.resumeHistory(resume.history);
    run.writeConfig(config);
    const interrupt = interruptFlag(progress);
    resumeNote(progress, resume, run, 'pretrain');
    const result = await pretrain(model, ds, {
      ...config,
      minImagesPerEpoch: 160,
      valIndices: val,
      observer: observer(progress, run, interrupt.stop),
      onState: checkpointing(run, model, widths, { seed, m }, config, record),
      ...(resume ? { resume } : {}),
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

/** sizetrain's defaults, for the run and its help (the data, count and seed default to the checkpoint's). */
const SIZETRAIN = { samples: 1, estimator: 'fast', epochs: 50, patience: 5, batch: 32, lr: 1e-4 } as const;

export async function cmdSizetrain(opts: Options): Promise<number> {
  const { progress, backend } = await setUp(opts);
  const start: { checkpoint: LoadedCheckpoint | null; choice: DataChoice | null } = { checkpoint: null, choice: null }; // read once, for a new run
  const { config, resumeDir, saved } = runSettings(opts, 'sizetrain', () => {
    const from = opts.required('checkpoint', 'runs/<name>/best.ckpt');
    // every flag is checked before the checkpoint is read: a bad flag is reported as such
    const flags = {
      samples: opts.int('samples', SIZETRAIN.samples),
      estimator: opts.choice('estimator', ['fast', 'naive'] as const, SIZETRAIN.estimator),
      epochs: opts.int('epochs', SIZETRAIN.epochs),
      patience: opts.int('patience', SIZETRAIN.patience),
      batch: opts.int('batch', SIZETRAIN.batch),
      lr: opts.number('lr', SIZETRAIN.lr),
    };
    const joint = jointFlags(opts);
    countOption(opts); // validated here; chooseData below takes their values
    opts.int('seed', 0, 0);
    start.checkpoint = readCheckpoint(from);
    // the checkpoint's data unless the flags say otherwise (runData.ts)
    const choice = chooseData(opts, start.checkpoint.header.data, from);
    start.choice = choice;
    return {
      command: 'sizetrain',
      from,
      data: choice.spec,
      count: choice.count,
      ...(choice.split ? { split: choice.split } : {}),
      widths: start.checkpoint.header.config.widths as number[],
      seed: choice.seed,
      ...flags,
      ...(joint ? { joint } : {}),
    };
  });
  // a new run never writes into the folder of the checkpoint it starts from
  const run =
    resumeDir === null
      ? newRun(opts, 'sizetrain', { flag: 'checkpoint', path: config.from })
      : resumedRun(resumeDir, 'sizetrain');
  try {
    const { seed, widths } = config;
    const model = new ResUNet({ widths });
    const loaded = resumeDir === null ? null : loadTrainState(run.file('last.ckpt'), model);
    if (loaded) checkSettings(loaded.header, saved!, run.file('config.json'));
    const resume = loaded?.state ?? null;
    if (start.checkpoint) applyCheckpoint(start.checkpoint, model, config.from);
    model.to(backend);
    const load = { spec: config.data, seed, count: config.count, ...(config.split ? { split: config.split } : {}) };
    if (start.choice) progress.line(start.choice.said);
    const ds =
      start.checkpoint && start.choice
        ? await loadChosenData(progress, start.choice, start.checkpoint.header.data, config.from)
        : await loadData(progress, load);
    checkWidthsFit(widths, ds, config.data, `the network of ${config.from} (widths ${widths.join(',')})`);
    const train = splitImages(ds, 'train', config.data, 'use more images (--count) or other data');
    const val = splitImages(ds, 'val', config.data, 'use more images (--count) or data with validation images');
    if (start.checkpoint) {
      // validation and test images must be new to the network, whichever data they come from (the notes are
      // for evaluations: here the validation images are expected to be the checkpoint's own)
      for (const split of ['val', 'test'] as const)
        refuseTrainingImages(ds, indicesOf(ds, split), split, start.checkpoint.header.data, config.from, load);
    }
    // --joint: BCE on the checkpoint's pre-training images, the size term on the other training images
    if (config.joint && start.checkpoint)
      config.joint.annotated = annotatedOfCheckpoint(start.checkpoint.header, ds, train, config.from);
    const sizeLabelled = config.joint ? sizeTermImages(train, config.joint.annotated) : train;
    if (config.joint)
      progress.line(
        `joint objective: BCE on the ${config.joint.annotated.length} pixel-annotated images of ${config.from} + ${config.joint.lambda}·size loss on ${sizeLabelled.length === train.length ? 'all' : `the ${sizeLabelled.length}`} training images${sizeLabelled.length === train.length ? '' : ' without masks'}`,
      );
    // a resumed run keeps the record it started with (its checkpoint to start from may be gone by now)
    const record =
      loaded?.header.data ??
      dataRecord(load, ds, train, val, { record: start.checkpoint?.header.data, path: config.from });
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
      ...config, // with --joint, config.joint ({ lambda, annotated }) is sizetrain's joint option
      sizeLabelled,
      valIndices: val,
      observer: observer(progress, run, interrupt.stop),
      onState: checkpointing(run, model, widths, { seed, from: config.from }, config, record),
      ...(resume ? { resume } : {}),
    });
    interrupt.dispose();
    await model.toHost();
    summary(result, progress, run, 'sizetrain', interrupt);
    const lossLabel = config.joint ? { sizetrain: `BCE + ${config.joint.lambda}·size loss (train)` } : {};
    if (existsSync(run.file('last.ckpt'))) await finish(run, ds, model, progress, lossLabel);
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

/**
 * The shared start of evaluate and predict: options, then the checkpoint, then the data — the checkpoint's
 * own unless --data/--count/--seed say otherwise (runData.ts), said in the output — and the split, refused
 * where it holds images the checkpoint was trained on.
 */
async function checkpointOnSplit(opts: Options) {
  const { progress, backend } = await setUp(opts);
  const ckpt = opts.required('checkpoint', 'runs/<name>/best.ckpt');
  const split = opts.choice('split', ['train', 'val', 'test'] as const, 'test');
  const { model, header } = restoreModel(ckpt);
  model.to(backend);
  const choice = chooseData(opts, header.data, ckpt);
  progress.line(choice.said);
  const ds = await loadChosenData(progress, choice, header.data, ckpt);
  checkWidthsFit(
    header.config.widths as number[],
    ds,
    choice.spec,
    `the network of ${ckpt} (widths ${String(header.config.widths)})`,
  );
  const indices = splitImages(ds, split, choice.spec, 'pick another --split, or use more images (--count)');
  // its own training images are what --split train asks for; any other split must be new to it
  if (split !== 'train')
    for (const note of refuseTrainingImages(ds, indices, split, header.data, ckpt, choice)) progress.line(note);
  const data = { spec: choice.spec, seed: choice.seed, count: choice.count, from: choice.from };
  return { progress, ckpt, split, model, ds, indices, data };
}

export async function cmdEvaluate(opts: Options): Promise<void> {
  const { progress, ckpt, split, model, ds, indices, data } = await checkpointOnSplit(opts);
  const metrics = await evaluate(model, ds, indices);
  console.log(JSON.stringify({ checkpoint: ckpt, data, split, ...metrics }));
  progress.line(`${split}: ${formatMetrics(metrics)} over ${metrics.count} images`);
}

const PREDICT_IMAGES = 32;

export async function cmdPredict(opts: Options): Promise<void> {
  const count = opts.int('images', PREDICT_IMAGES);
  const { progress, split, model, ds, indices: all } = await checkpointOnSplit(opts);
  const indices = all.slice(0, count);
  const run = newRun(opts, 'predict');
  try {
    const path = run.writePredictions(
      'predictions.png',
      ds,
      indices,
      await predictLogits(model, ds, indices),
      indices.length,
    );
    progress.line(`wrote ${path}: the first ${indices.length} ${split} images; ${OVERLAY_LEGEND}`);
  } finally {
    run.release();
  }
}

export async function cmdInfo(opts: Options): Promise<void> {
  await setUp(opts);
  const pkg = {
    name: 'sizeseg',
    version: sizesegVersion(),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpus: cpus().length,
  };
  const info = {
    ...pkg,
    backend: backendInstance().info(),
    threads: getNumThreads(),
    cpuKernels: cpuKernelInfo(),
    kernels: Object.fromEntries(['wasm', 'js', 'gpu'].map((b) => [b, listKernels(b).map((k) => k.kernelName)])),
    cachedData: Object.fromEntries(listCache().map((e) => [e.name, e.state === 'ready' ? e.path : null])),
    ...(await dataInfo(opts.optionalString('data'))),
  };
  console.log(JSON.stringify(info, null, 2));
}

/** Which kernels the cpu backend runs, and why (for `sizeseg info`). */
function cpuKernelInfo(): Record<string, unknown> {
  const set = cpuKernels();
  return {
    float32:
      set === 'wasm' ? 'WebAssembly SIMD (generated per shape, src/kernels/wasm)' : 'JavaScript (src/kernels/js)',
    float64: 'JavaScript (src/kernels/js; exact float64 path)',
    wasmSimdAvailable: wasmSimdAvailable(),
    // 3×3 stride-1 convolutions: Winograd F(2×2, 3×3) where it measured faster ('auto'), or the direct kernels
    convAlgorithm: getConvAlgorithm(),
    // multiply-adds of the inner products: fused (relaxed SIMD) where the engine has it ('auto'), or separate
    fusedMultiplyAdd: { mode: getFusedMultiplyAdd(), active: fusedMultiplyAddActive() },
    generatedModules: kernelCacheStats(), // kernels generated so far in this process (one per shape)
    chosenBy: process.env['SIZESEG_KERNELS']
      ? `SIZESEG_KERNELS=${process.env['SIZESEG_KERNELS']}`
      : 'default (WebAssembly SIMD where the engine has it)',
    // whether a step arena keeps a step's tensors in the kernels' memory (no copies around the kernels)
    stepArenas:
      set === 'wasm' && wasmSimdAvailable()
        ? 'on: the trainer runs each step in a scope, whose tensors live in the WebAssembly memory (src/kernels/wasm/arena.ts)'
        : 'off (JS kernels: scopes release nothing)',
  };
}

/** `info --data SPEC`: what the spec loads (so `info --data msd` checks the downloaded copy). */
async function dataInfo(
  spec: string | undefined,
): Promise<{ data?: { name: string; count: number; height: number; width: number; source: string } }> {
  if (spec === undefined) return {};
  const ds = await loadDataset(spec, {});
  return { data: { name: ds.name, count: ds.count, height: ds.height, width: ds.width, source: ds.source } };
}

function flat(m: SegMetrics): Record<string, number> {
  return { iou: m.iou, dice: m.dice, sizeError: m.sizeError, count: m.count };
}

// ------------------------------------------------------------------------------------------------
// The commands' help (command.ts); defaults come from the constants the commands use.

/** The options of a command that writes a new run folder. */
const RUN_FOLDER_OPTIONS = {
  out: ['DIR', 'root folder of the run folders (default runs)'],
  name: [
    'NAME',
    'the run folder inside --out (default <command>-<date>-<time>); an existing one is refused: see --resume and --overwrite',
  ],
  overwrite: [
    '',
    "replace the run files of an existing run folder --name (config.json, metrics.jsonl, *.ckpt, *.svg, *.png); never a folder that is not a sizeseg run's",
  ],
} as const;

const EVALUATE_DATA_OPTIONS = {
  data: [
    'SPEC',
    `other data instead of the checkpoint's: ${DATA_SPECS} (default: the data the checkpoint records; for a checkpoint without a record, synthetic)`,
  ],
  count: [
    'N',
    "images of that data: a seeded subset, or how many to generate (default: the checkpoint's; all, for other data)",
  ],
  seed: [
    'N',
    "the data's seed: generated images, seeded splits and subsets (default: the checkpoint's; 0, for other data)",
  ],
  split: [
    'train|val|test',
    'which split (default test); a val or test split holding images the checkpoint was trained on is refused',
  ],
} as const;

const fmtLr = (lr: number) => String(lr);

export const pretrainCommand: Command = {
  name: 'pretrain',
  summary: 'supervised pre-training (BCE) on --m pixel-annotated images; writes runs/<name>/best.ckpt',
  usage: ['pretrain [options]', 'pretrain --resume runs/<name> [--epochs N] [--patience N]'],
  about: [
    'Pre-trains a residual U-Net with BCE on --m pixel-annotated images drawn from the training split, choosing the epoch with the best validation IoU (early stopping).',
    'Writes runs/<name>/: best.ckpt (the best weights so far), last.ckpt (after every epoch, with the optimiser state: what --resume continues from), config.json, metrics.jsonl, learning curves and predictions.png. The checkpoints record their data (spec, seed, count, split and which images trained them), which sizetrain, evaluate and predict then use by default.',
  ],
  options: {
    data: ['SPEC', `${DATA_SPECS} (default ${PRETRAIN.data})`],
    count: [
      'N',
      `images: a seeded subset of real data, or how many to generate (default: all; synthetic generates ${SYNTHETIC_DEFAULTS.count})`,
    ],
    m: ['N', `pixel-annotated training images (default ${PRETRAIN.m})`],
    widths: ['LIST', `channels per U-Net level (default ${PRETRAIN.widths.join(',')}, ResUNet-lite)`],
    epochs: ['N', `at most N epochs (default ${PRETRAIN.epochs}; early stopping usually ends sooner)`],
    patience: ['N', `epochs without a better validation IoU before stopping (default ${PRETRAIN.patience})`],
    batch: ['N', `batch size (default ${PRETRAIN.batch})`],
    lr: ['X', `Adam learning rate (default ${fmtLr(PRETRAIN.lr)})`],
    seed: [
      'N',
      `seed of the data, the annotated images, the initialisation and the batches (default ${PRETRAIN.seed})`,
    ],
    resume: [
      'DIR',
      'continue an interrupted run from its folder (runs/<name>/last.ckpt) to exactly the weights an uninterrupted run ends with; only --epochs and --patience may change',
    ],
    ...RUN_FOLDER_OPTIONS,
    ...BACKEND_OPTIONS,
  },
  examples: [
    'pretrain --m 20 --epochs 5 --name pre-synthetic',
    'pretrain --data msd --m 50 --name hippo-m50          # after: sizeseg data download msd-task04',
    'pretrain --resume runs/hippo-m50                    # after Ctrl-C or a crash',
  ],
  run: cmdPretrain,
};

export const sizetrainCommand: Command = {
  name: 'sizetrain',
  summary:
    "size training from --checkpoint on the object sizes of the training split (the checkpoint's data by default)",
  usage: ['sizetrain --checkpoint FILE [options]', 'sizetrain --resume runs/<name> [--epochs N] [--patience N]'],
  about: [
    'Continues training --checkpoint on the object size g = 2·max d of every training image and nothing else: the loss (s − g(y))² with y ~ Bernoulli(σ(a)) and the Lemma-1 gradient estimate, choosing the epoch with the best validation size error E.',
    "It uses the data the checkpoint records unless --data, --count or --seed say otherwise; validation or test images the checkpoint was trained on are refused. Writes a new run folder like pretrain's (never into the checkpoint's).",
    "With --joint, each step adds BCE on a batch of the images the checkpoint was pre-trained on (their masks) to λ times the size loss on the other training images: the BCE term holds the pixels the size label says nothing about, so the masks do not shrink where plain size training costs IoU (many annotated images). Recommended whenever the checkpoint comes from pretrain: at paper scale it gained test IoU at every m (+13.6 to +0.8 points over 3 seeds, m = 10 to all) where the size loss alone lost 1.4–2.8 points from m = 200 on (hippocampus MRI slices, ResUNet-lite; the README says more). Without --joint, sizetrain is the paper's phase 2.",
  ],
  options: {
    checkpoint: ['FILE', 'the .ckpt to start from (required), e.g. runs/<name>/best.ckpt'],
    data: ['SPEC', `${DATA_SPECS} (default: the checkpoint's data; for a checkpoint without a record, synthetic)`],
    count: ['N', "images of that data (default: the checkpoint's; all, for other data)"],
    seed: ['N', "seed of the data, the samples and the batches (default: the checkpoint's; 0, for other data)"],
    samples: ['N', `Lemma-1 derivative samples per image, n (default ${SIZETRAIN.samples})`],
    estimator: [
      'fast|naive',
      `the Lemma-1 implementation; both give identical numbers (default ${SIZETRAIN.estimator})`,
    ],
    epochs: ['N', `at most N epochs (default ${SIZETRAIN.epochs}; early stopping usually ends sooner)`],
    patience: ['N', `epochs without a better validation E before stopping (default ${SIZETRAIN.patience})`],
    batch: ['N', `batch size (default ${SIZETRAIN.batch})`],
    lr: ['X', `Adam learning rate (default ${fmtLr(SIZETRAIN.lr)})`],
    joint: [
      '',
      "the joint objective: BCE on the checkpoint's pixel-annotated images (a pretrain checkpoint, on its own data) + λ·size loss on the other training images (default off)",
    ],
    'joint-lambda': [
      'X',
      `λ of --joint, the size loss's weight (default ${DEFAULT_JOINT_LAMBDA}: the remedies study's, which puts the two terms on the same scale)`,
    ],
    resume: [
      'DIR',
      'continue an interrupted run from its folder (runs/<name>/last.ckpt); only --epochs and --patience may change',
    ],
    ...RUN_FOLDER_OPTIONS,
    ...BACKEND_OPTIONS,
  },
  examples: [
    'sizetrain --checkpoint runs/pre-synthetic/best.ckpt --epochs 3 --name size-synthetic',
    'sizetrain --checkpoint runs/hippo-m50/best.ckpt --name hippo-m50-size',
    'sizetrain --checkpoint runs/hippo-m50/best.ckpt --joint --name hippo-m50-joint',
  ],
  flagTypes: { joint: 'boolean', 'joint-lambda': 'string' },
  run: cmdSizetrain,
};

export const evaluateCommand: Command = {
  name: 'evaluate',
  summary: 'IoU, Dice and size error E of --checkpoint on a split of the data it was trained on (or --data)',
  usage: ['evaluate --checkpoint FILE [options]'],
  about: [
    "Scores a checkpoint on one split: IoU and Dice of the thresholded prediction, and E, the mean squared error (s − g(ŷ))² of the predicted mask's object size. By default on the data the checkpoint records, rebuilt exactly (same images, same split), so a run's test numbers are reproduced; other data is said in the output.",
    'Prints one JSON line on stdout ({checkpoint, data, split, iou, dice, sizeError, count}) and a summary on stderr.',
  ],
  options: {
    checkpoint: ['FILE', 'the .ckpt to score (required), e.g. runs/<name>/best.ckpt'],
    ...EVALUATE_DATA_OPTIONS,
    ...BACKEND_OPTIONS,
  },
  examples: [
    "evaluate --checkpoint runs/demo/best.ckpt                 # the demo's test numbers",
    'evaluate --checkpoint runs/demo/best.ckpt --split val',
    'evaluate --checkpoint runs/demo/best.ckpt --data synthetic --count 400 --seed 7   # 400 new images',
  ],
  run: cmdEvaluate,
};

export const predictCommand: Command = {
  name: 'predict',
  summary: "PNG grid of --checkpoint's predictions on a split (outlines: green truth, red prediction, yellow both)",
  usage: ['predict --checkpoint FILE [options]'],
  about: [
    `Draws the first --images images of a split with the outlines of the true mask and of the checkpoint's prediction into <out>/<name>/predictions.png; ${OVERLAY_LEGEND}. The data is chosen as by evaluate: the checkpoint's own unless --data, --count or --seed say otherwise.`,
  ],
  options: {
    checkpoint: ['FILE', 'the .ckpt to draw (required), e.g. runs/<name>/best.ckpt'],
    images: ['N', `how many images the grid shows (default ${PREDICT_IMAGES})`],
    ...EVALUATE_DATA_OPTIONS,
    ...RUN_FOLDER_OPTIONS,
    ...BACKEND_OPTIONS,
  },
  flagTypes: { images: 'string' },
  examples: [
    'predict --checkpoint runs/demo/best.ckpt --name demo-predictions',
    'predict --checkpoint runs/demo/best.ckpt --split val --images 16 --name demo-val',
  ],
  run: cmdPredict,
};

export const infoCommand: Command = {
  name: 'info',
  summary: "sizeseg's version, Node, the backend, threads, kernels and cached data (and --data, if given)",
  usage: ['info [options]'],
  about: [
    'Prints JSON: the sizeseg version, Node and platform, the backend and its adapter, the CPU threads and kernels, the registered kernels, and what the download cache holds. With --data, also what that data loads as (so `sizeseg info --data msd` checks the downloaded copy).',
  ],
  options: { data: ['SPEC', `${DATA_SPECS} (default: none)`], ...BACKEND_OPTIONS },
  examples: ['info', 'info --data msd', 'info --backend gpu'],
  run: cmdInfo,
};
