/**
 * Checkpoint files: one file with a JSON header and float32 weights.
 *
 *   bytes 0–7    magic "SZSGCKPT"
 *   bytes 8–11   header length L (uint32, little-endian)
 *   bytes 12…    header: UTF-8 JSON { format, version, config, epoch, phase, metrics, [extra], [data], tensors[], payloadBytes, sha256 }
 *   then         payload: every tensor's values as float32 little-endian, in header order
 *
 * Tensors belong to groups: 'model' (the weights and buffers, what `best.ckpt` holds) and, in the
 * `last.ckpt` a training run writes every epoch to be resumable, the optimiser's moments and the best
 * weights so far (see resume.ts). A tensor entry without a group is a model tensor.
 *
 * The header's sha256 covers everything in the file after the magic: the header itself (with the sha256's
 * own 64 hex digits read as zeros) and the payload. So an edited training state (optimiser step, random
 * streams, history, settings) is refused like truncated or corrupted weights, with a clear message instead
 * of a resumed run that silently differs. (Version 1 files, whose sha256 covered the payload only, still load
 * as weights; a resume needs version 2, see resume.ts.) Writes are atomic (files.ts): a temporary file in the
 * same folder is written, flushed and renamed over the target, so an interrupted run (Ctrl-C, crash) leaves
 * the previous good checkpoint intact.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import type { Module } from '../models/module.js';
import { writeFileAtomic } from './files.js';
import {
  decodeCheckpoint,
  encodeCheckpoint,
  type CheckpointEntry,
  type CheckpointHeader,
  type CheckpointInfo,
  type LoadedCheckpoint,
} from './checkpointBytes.js';

// the format itself lives in checkpointBytes.ts (pure byte functions, also for the browser)
export { CHECKPOINT_VERSION, decodeCheckpoint, encodeCheckpoint } from './checkpointBytes.js';
export type {
  CheckpointData,
  CheckpointEntry,
  CheckpointHeader,
  CheckpointInfo,
  LoadedCheckpoint,
} from './checkpointBytes.js';

/** node:crypto's SHA-256 (native, fast) for the byte functions. */
function nodeSha256(parts: readonly Uint8Array[]): string {
  const hash = createHash('sha256');
  for (const p of parts) hash.update(p);
  return hash.digest('hex');
}

/** The model's state dict as checkpoint entries (group 'model'). */
export function modelEntries(model: Module): CheckpointEntry[] {
  return [...model.stateDict()].map(([name, t]) => ({ group: 'model', name, shape: t.shape, values: t.values() }));
}

/**
 * Checkpoint entries (group 'model') from host copies of the weights in `model.stateDict()` order — for a
 * model on a device, whose own tensors cannot be read synchronously (see `hostWeights` in trainer.ts).
 */
export function weightEntries(model: Module, weights: readonly Float32Array[]): CheckpointEntry[] {
  const state = [...model.stateDict()];
  if (weights.length !== state.length)
    throw new Error(`checkpoint: ${weights.length} weight arrays for a model with ${state.length} tensors.`);
  return state.map(([name, t], i) => ({ group: 'model', name, shape: t.shape, values: weights[i]! }));
}

/** Write the model's weights and buffers (and any `more` entries) atomically. */
export function saveCheckpoint(
  path: string,
  model: Module,
  info: CheckpointInfo,
  more: readonly CheckpointEntry[] = [],
): void {
  writeCheckpointFile(path, info, [...modelEntries(model), ...more]);
}

/** `saveCheckpoint` for a model on any backend: a device model's weights are read back first. */
export async function saveModelCheckpoint(path: string, model: Module, info: CheckpointInfo): Promise<void> {
  const state = model.backend === 'cpu' ? model.stateDict() : await model.hostStateDict();
  writeCheckpointFile(
    path,
    info,
    [...state].map(([name, t]) => ({ group: 'model', name, shape: t.shape, values: t.values() })),
  );
}

export function writeCheckpointFile(path: string, info: CheckpointInfo, entries: readonly CheckpointEntry[]): void {
  writeFileAtomic(path, [encodeCheckpoint(info, entries, nodeSha256)]);
}

export function readCheckpoint(path: string): LoadedCheckpoint {
  if (!existsSync(path))
    throw new Error(
      `checkpoint ${path} does not exist; pass the .ckpt file a pretrain/sizetrain run wrote (runs/<name>/best.ckpt).`,
    );
  if (statSync(path).isDirectory()) {
    const inside = ['best.ckpt', 'last.ckpt'].find((f) => existsSync(`${path}/${f}`));
    throw new Error(
      `checkpoint ${path} is a folder, not a .ckpt file; pass the file${inside ? `, e.g. ${path.replace(/\/+$/, '')}/${inside}` : ' a pretrain/sizetrain run wrote (runs/<name>/best.ckpt)'}.`,
    );
  }
  return decodeCheckpoint(readFileSync(path), path, nodeSha256);
}

/** Copy a read checkpoint's weights into a model; a mismatch of names or shapes is refused (Module.loadStateDict). */
export function applyCheckpoint(loaded: LoadedCheckpoint, model: Module, path: string): void {
  try {
    model.loadStateDict(loaded.state);
  } catch (err) {
    throw new Error(`checkpoint ${path}: ${(err as Error).message}`);
  }
}

/** Read a checkpoint and load its weights into a model. */
export function loadCheckpointInto(path: string, model: Module): CheckpointHeader {
  const loaded = readCheckpoint(path);
  applyCheckpoint(loaded, model, path);
  return loaded.header;
}
