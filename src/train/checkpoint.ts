/**
 * Checkpoint files: one file with a JSON header and float32 weights.
 *
 *   bytes 0–7    magic "SZSGCKPT"
 *   bytes 8–11   header length L (uint32, little-endian)
 *   bytes 12…    header: UTF-8 JSON { format, version, config, epoch, phase, metrics, tensors[], payloadBytes, sha256 }
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
import { Tensor } from '../autograd/tensor.js';
import type { Module } from '../models/module.js';
import { writeFileAtomic } from './files.js';

const MAGIC = 'SZSGCKPT';
export const CHECKPOINT_VERSION = 2;
/** Version 1: the sha256 covers the payload only. */
const PAYLOAD_ONLY_VERSION = 1;
const ZERO_SHA = '0'.repeat(64);

export interface CheckpointHeader {
  format: 'sizeseg-checkpoint';
  version: number;
  /** The model configuration (enough to rebuild the model). */
  config: Record<string, unknown>;
  epoch: number;
  phase: string;
  metrics: Record<string, number>;
  /** Anything else a run wants to resume (seed, step counts, …). */
  extra?: Record<string, unknown>;
  tensors: { name: string; shape: number[]; group?: string }[];
  payloadBytes: number;
  sha256: string;
}

export type CheckpointInfo = Omit<CheckpointHeader, 'format' | 'version' | 'tensors' | 'payloadBytes' | 'sha256'>;

/** One tensor of a checkpoint file: its group, name, shape and values. */
export interface CheckpointEntry {
  group: string;
  name: string;
  shape: readonly number[];
  values: ArrayLike<number>;
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
  if (weights.length !== state.length) throw new Error(`checkpoint: ${weights.length} weight arrays for a model with ${state.length} tensors.`);
  return state.map(([name, t], i) => ({ group: 'model', name, shape: t.shape, values: weights[i]! }));
}

/** Write the model's weights and buffers (and any `more` entries) atomically. */
export function saveCheckpoint(path: string, model: Module, info: CheckpointInfo, more: readonly CheckpointEntry[] = []): void {
  writeCheckpointFile(path, info, [...modelEntries(model), ...more]);
}

/** `saveCheckpoint` for a model on any backend: a device model's weights are read back first. */
export async function saveModelCheckpoint(path: string, model: Module, info: CheckpointInfo): Promise<void> {
  const state = model.backend === 'cpu' ? model.stateDict() : await model.hostStateDict();
  writeCheckpointFile(path, info, [...state].map(([name, t]) => ({ group: 'model', name, shape: t.shape, values: t.values() })));
}

export function writeCheckpointFile(path: string, info: CheckpointInfo, entries: readonly CheckpointEntry[]): void {
  const total = entries.reduce((s, e) => s + e.values.length, 0);
  const payload = new Float32Array(total);
  let off = 0;
  for (const e of entries) {
    const size = e.shape.reduce((a, b) => a * b, 1);
    if (size !== e.values.length) throw new Error(`checkpoint entry ${e.group}/${e.name}: shape [${e.shape.join(', ')}] holds ${size} values, got ${e.values.length}.`);
    payload.set(e.values, off);
    off += size;
  }
  const payloadBytes = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  const header: CheckpointHeader = {
    format: 'sizeseg-checkpoint',
    version: CHECKPOINT_VERSION,
    ...info,
    tensors: entries.map((e) => (e.group === 'model' ? { name: e.name, shape: [...e.shape] } : { name: e.name, shape: [...e.shape], group: e.group })),
    payloadBytes: payloadBytes.length,
    sha256: ZERO_SHA,
  };
  // sha256 is the header's last key, so its digits sit just before the closing `"}`: hash with zeros there
  const unsigned = JSON.stringify(header);
  const sha = createHash('sha256').update(unsigned, 'utf8').update(payloadBytes).digest('hex');
  const headerBytes = Buffer.from(`${unsigned.slice(0, -66)}${sha}"}`, 'utf8');
  const prefix = Buffer.alloc(12);
  prefix.write(MAGIC, 0, 'latin1');
  prefix.writeUInt32LE(headerBytes.length, 8);
  writeFileAtomic(path, [prefix, headerBytes, payloadBytes]);
}

export interface LoadedCheckpoint {
  header: CheckpointHeader;
  /** The model's tensors (group 'model'). */
  state: Map<string, Tensor>;
  /** Every other group's tensors, by group and name. */
  groups: Map<string, Map<string, Tensor>>;
}

export function readCheckpoint(path: string): LoadedCheckpoint {
  if (!existsSync(path)) throw new Error(`checkpoint ${path} does not exist; pass the .ckpt file a pretrain/sizetrain run wrote (runs/<name>/best.ckpt).`);
  if (statSync(path).isDirectory()) {
    const inside = ['best.ckpt', 'last.ckpt'].find((f) => existsSync(`${path}/${f}`));
    throw new Error(`checkpoint ${path} is a folder, not a .ckpt file; pass the file${inside ? `, e.g. ${path.replace(/\/+$/, '')}/${inside}` : ' a pretrain/sizetrain run wrote (runs/<name>/best.ckpt)'}.`);
  }
  const buf = readFileSync(path);
  const fail = (why: string): never => {
    throw new Error(`checkpoint ${path} is not usable: ${why}. Re-run the training that writes it, or pick another checkpoint.`);
  };
  if (buf.length < 12 || buf.toString('latin1', 0, 8) !== MAGIC) fail('it does not start with the sizeseg checkpoint magic (wrong file?)');
  const headerLength = buf.readUInt32LE(8);
  if (12 + headerLength > buf.length) fail(`the header claims ${headerLength} bytes but the file has only ${buf.length} (truncated)`);
  let header: CheckpointHeader;
  try {
    header = JSON.parse(buf.toString('utf8', 12, 12 + headerLength)) as CheckpointHeader;
  } catch {
    return fail('the JSON header is corrupt');
  }
  if (header.format !== 'sizeseg-checkpoint') fail(`unknown format '${String(header.format)}'`);
  if (header.version !== CHECKPOINT_VERSION && header.version !== PAYLOAD_ONLY_VERSION) fail(`format version ${header.version}, this sizeseg reads versions ${PAYLOAD_ONLY_VERSION} and ${CHECKPOINT_VERSION}`);
  const start = 12 + headerLength;
  const payload = buf.subarray(start);
  if (payload.length !== header.payloadBytes) fail(`the payload has ${payload.length} bytes, the header says ${header.payloadBytes} (truncated or appended)`);
  if (header.version === PAYLOAD_ONLY_VERSION) {
    if (createHash('sha256').update(payload).digest('hex') !== header.sha256) fail('the weights do not match their sha256 (the file is corrupt)');
  } else {
    const headerText = buf.toString('utf8', 12, start);
    const signed = /"sha256":"[0-9a-f]{64}"\}$/.test(headerText);
    const unsigned = `${headerText.slice(0, -66)}${ZERO_SHA}"}`;
    if (!signed || createHash('sha256').update(unsigned, 'utf8').update(payload).digest('hex') !== header.sha256) {
      fail('its contents do not match their sha256 (the file is corrupt or was edited: weights, training state or settings)');
    }
  }
  const values = new Float32Array(payload.length / 4);
  Buffer.from(values.buffer).set(payload);
  const state = new Map<string, Tensor>();
  const groups = new Map<string, Map<string, Tensor>>();
  let off = 0;
  for (const { name, shape, group = 'model' } of header.tensors) {
    const n = shape.reduce((a, b) => a * b, 1);
    const target = group === 'model' ? state : groups.get(group) ?? groups.set(group, new Map()).get(group)!;
    target.set(name, new Tensor(values.slice(off, off + n), shape));
    off += n;
  }
  return { header, state, groups };
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
