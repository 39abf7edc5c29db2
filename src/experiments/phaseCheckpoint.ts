/**
 * A `runPhase` state (common.ts) as a checkpoint file (src/train/checkpoint.ts: JSON header + float32 payload,
 * sha256-checked, written atomically through a temporary file and a rename). Layout as in src/train/resume.ts:
 * group 'model' = the current weights (the file loads like any checkpoint), 'best' = the best weights so far,
 * 'adam.m' / 'adam.v' = the optimiser's moments; the rest of the state (epoch, history, random streams) rides
 * in the header. Everything is float32, exact for the float32 models of the experiments, so a phase resumed
 * from it makes bit for bit the updates of an uninterrupted one.
 */
import type { Module } from '../models/module.js';
import { readCheckpoint, weightEntries, writeCheckpointFile, type CheckpointEntry } from '../train/checkpoint.js';
import type { PhaseState } from './common.js';

type PhaseStateJson = Omit<PhaseState, 'weights' | 'bestState' | 'optimizer'> & {
  optimizerStep: number;
  momentShapes: (number[] | null)[];
};

export function savePhaseState(
  path: string,
  model: Module,
  state: PhaseState,
  label: string,
  config: Record<string, unknown>,
): void {
  const names = [...model.stateDict().keys()];
  const entries: CheckpointEntry[] = weightEntries(model, state.weights);
  state.bestState?.forEach((values, i) =>
    entries.push({ group: 'best', name: names[i]!, shape: [values.length], values }),
  );
  for (const which of ['m', 'v'] as const) {
    state.optimizer[which].forEach((values, k) => {
      if (values) entries.push({ group: `adam.${which}`, name: String(k), shape: [values.length], values });
    });
  }
  const { weights: _w, bestState: _b, optimizer, ...rest } = state;
  const json: PhaseStateJson = {
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
      phase: label,
      metrics: last?.val
        ? { iou: last.val.iou, dice: last.val.dice, sizeError: last.val.sizeError, count: last.val.count }
        : {},
      extra: { phaseState: json },
    },
    entries,
  );
}

/** Read a phase state written by `savePhaseState` for a model of the same architecture (the model is not touched). */
export function loadPhaseState(path: string, model: Module): PhaseState {
  const loaded = readCheckpoint(path);
  const json = loaded.header.extra?.phaseState as PhaseStateJson | undefined;
  if (!json) throw new Error(`checkpoint ${path} holds no phase state to resume (delete it to restart that phase).`);
  const names = [...model.stateDict().keys()];
  const group = (name: string) => loaded.groups.get(name) ?? new Map();
  const values = (t: { values(): ArrayLike<number> } | undefined, what: string): Float32Array => {
    if (!t) throw new Error(`checkpoint ${path}: ${what} is missing (corrupt, or written for another model).`);
    return Float32Array.from(t.values());
  };
  const weights = names.map((n) => values(loaded.state.get(n), `weight '${n}'`));
  const best = group('best');
  const bestState = best.size === 0 ? null : names.map((n) => values(best.get(n), `best weight '${n}'`));
  const moments = (which: 'm' | 'v') =>
    json.momentShapes.map((shape, k) =>
      shape ? values(group(`adam.${which}`).get(String(k)), `Adam ${which}[${k}]`) : null,
    );
  const { optimizerStep, momentShapes: _s, ...rest } = json;
  return { ...rest, weights, bestState, optimizer: { t: optimizerStep, m: moments('m'), v: moments('v') } };
}
