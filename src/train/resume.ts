/**
 * Resumable runs. After every epoch a training command writes `last.ckpt`: a checkpoint whose 'model'
 * group is the current weights (so it loads like any other checkpoint), with the optimiser's moments
 * ('adam.m', 'adam.v') and the best weights so far ('best') as further tensor groups, and the rest of
 * the `TrainState` — epoch, history, step count, random streams — in the JSON header, which the checkpoint's
 * sha256 covers too (checkpoint.ts): an edited state is refused, not resumed.
 *
 * Everything is stored as float32, which is exact for float32 models (the CLI's), so a resumed run
 * makes bit for bit the updates of an uninterrupted one.
 */
import type { Module } from '../models/module.js';
import {
  CHECKPOINT_VERSION,
  readCheckpoint,
  applyCheckpoint,
  weightEntries,
  writeCheckpointFile,
  type CheckpointData,
  type CheckpointEntry,
  type CheckpointHeader,
} from './checkpoint.js';
import type { TrainState } from './trainer.js';

/** The JSON part of a saved state (the arrays travel as tensors). */
type StateJson = Omit<TrainState, 'weights' | 'bestState' | 'optimizer'> & {
  optimizerStep: number;
  momentShapes: (number[] | null)[];
};

/** `data`: what the network was trained on (checkpointBytes.ts), recorded in the header when given. */
export function saveTrainState(
  path: string,
  model: Module,
  state: TrainState,
  config: Record<string, unknown>,
  extra: Record<string, unknown> = {},
  data?: CheckpointData,
): void {
  const names = [...model.stateDict().keys()];
  // the state's host copies, not the model's tensors: they may live on a device
  const entries: CheckpointEntry[] = weightEntries(model, state.weights);
  if (state.bestState) {
    state.bestState.forEach((values, i) =>
      entries.push({ group: 'best', name: names[i]!, shape: [values.length], values }),
    );
  }
  const moments = (which: 'm' | 'v') =>
    state.optimizer[which].forEach((values, k) => {
      if (values) entries.push({ group: `adam.${which}`, name: String(k), shape: [values.length], values });
    });
  moments('m');
  moments('v');
  const { bestState: _b, weights: _w, optimizer, ...rest } = state;
  const json: StateJson = {
    ...rest,
    optimizerStep: optimizer.t,
    momentShapes: optimizer.m.map((a) => (a ? [a.length] : null)),
  };
  const last = state.history[state.history.length - 1];
  writeCheckpointFile(
    path,
    {
      config,
      epoch: state.epoch,
      phase: state.phase,
      metrics: last
        ? { iou: last.val.iou, dice: last.val.dice, sizeError: last.val.sizeError, count: last.val.count }
        : {},
      extra: { ...extra, trainState: json },
      ...(data ? { data } : {}),
    },
    entries,
  );
}

/** Read `last.ckpt`: load its current weights into `model` and return the state to pass as `resume`. */
export function loadTrainState(path: string, model: Module): { state: TrainState; header: CheckpointHeader } {
  const loaded = readCheckpoint(path);
  const json = loaded.header.extra?.trainState as StateJson | undefined;
  if (!json)
    throw new Error(
      `checkpoint ${path} holds weights only, not a training state to resume; resume from a run folder's last.ckpt (written after every epoch).`,
    );
  if (loaded.header.version < CHECKPOINT_VERSION) {
    // its checksum covers the weights only: an edited training state could not be told from a saved one
    throw new Error(
      `checkpoint ${path} was written by an older sizeseg whose checksum does not cover the training state, so it cannot be resumed safely; start the run again (same flags with --overwrite), or use its best.ckpt as weights.`,
    );
  }
  applyCheckpoint(loaded, model, path);
  const group = (name: string) => loaded.groups.get(name) ?? new Map();
  const best = group('best');
  const names = [...model.stateDict().keys()];
  const bestState =
    best.size === 0
      ? null
      : names.map((n) => {
          const t = best.get(n);
          if (!t)
            throw new Error(`checkpoint ${path}: the best weights lack '${n}' (corrupt or written by another model).`);
          return t.values() as Float32Array;
        });
  const moments = (which: 'm' | 'v') =>
    json.momentShapes.map((shape, k) => {
      if (!shape) return null;
      const t = group(`adam.${which}`).get(String(k));
      if (!t) throw new Error(`checkpoint ${path}: the optimiser state lacks ${which}[${k}] (corrupt file).`);
      return t.values() as Float32Array;
    });
  const { optimizerStep, momentShapes: _s, ...rest } = json;
  const weights = [...loaded.state.values()].map((t) => t.values() as Float32Array);
  return {
    state: { ...rest, weights, bestState, optimizer: { t: optimizerStep, m: moments('m'), v: moments('v') } },
    header: loaded.header,
  };
}
