/**
 * The checkpoint format as pure byte functions (no Node API: the browser page and any other host can
 * read and write checkpoints); checkpoint.ts adds files on top. Format (see checkpoint.ts for the why):
 *
 *   bytes 0–7    magic "SZSGCKPT"
 *   bytes 8–11   header length L (uint32, little-endian)
 *   bytes 12…    header: UTF-8 JSON { format, version, config, epoch, phase, metrics, [extra], [data], tensors[], payloadBytes, sha256 }
 *   then         payload: every tensor's values as float32 little-endian, in header order
 *
 * `data` (optional, since December 2026; `CheckpointData`) records what the network was trained on. It is an
 * added key, not a new version: readers ignore keys they do not know, so older sizeseg versions still read
 * newer files, and files without it (older ones, the web page's) still load — their data is unknown.
 *
 * The sha256 covers the header (its own 64 hex digits read as zeros) and the payload. The hash is a
 * parameter: Node passes node:crypto's; elsewhere the small SHA-256 below (FIPS 180-4) serves.
 */
import { Tensor } from '../autograd/tensor.js';

const MAGIC = 'SZSGCKPT';
export const CHECKPOINT_VERSION = 2;
/** Version 1: the sha256 covers the payload only. */
export const PAYLOAD_ONLY_VERSION = 1;
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
  /** What the network was trained on (absent in files written before it was recorded). */
  data?: CheckpointData;
  tensors: { name: string; shape: number[]; group?: string }[];
  payloadBytes: number;
  sha256: string;
}

/**
 * The data a network was trained on: the loader's inputs, which rebuild exactly the same images and split
 * (checked with `digest`), and the fingerprints of the images it learned from, which recognise them in any
 * other data (src/data/fingerprint.ts).
 */
export interface CheckpointData {
  /** The data spec as given to the loader: 'synthetic', 'msd' (the downloaded copy), 'msd:DIR' or 'prepared:DIR'. */
  spec: string;
  /** The loader's seed: generated images, seeded splits and seeded subsets. */
  seed: number;
  /** The loader's count: images generated, or a seeded subset; absent: all of them. */
  count?: number;
  /** The loader's split mode ('volume' or 'slice'); absent: the loader's default (by volume). */
  split?: 'volume' | 'slice';
  /** The loader's account of the images and their split, e.g. "split_by_volume from meta.json". */
  source: string;
  /** Images per split as loaded. */
  images: { train: number; val: number; test: number };
  /** Fingerprint of the whole load (every image with its split code, in order): a rebuild must reproduce it. */
  digest: string;
  /** Fingerprints (packed) of the images whose pixels or sizes trained the network, including those of the checkpoint it started from. */
  trained: string;
  /** Fingerprints (packed) of the images that chose its weights (validation: best epoch, early stopping). */
  validated: string;
  /** Set when part of the network's training is not recorded (it started from a checkpoint without a record). */
  incomplete?: string;
}

export type CheckpointInfo = Omit<CheckpointHeader, 'format' | 'version' | 'tensors' | 'payloadBytes' | 'sha256'>;

/** One tensor of a checkpoint file: its group, name, shape and values. */
export interface CheckpointEntry {
  group: string;
  name: string;
  shape: readonly number[];
  values: ArrayLike<number>;
}

export interface LoadedCheckpoint {
  header: CheckpointHeader;
  /** The model's tensors (group 'model'). */
  state: Map<string, Tensor>;
  /** Every other group's tensors, by group and name. */
  groups: Map<string, Map<string, Tensor>>;
}

/** SHA-256 of the concatenation of `parts`, as 64 lowercase hex digits. */
export type Sha256Hex = (parts: readonly Uint8Array[]) => string;

/** The file's bytes (magic, header, payload) for `entries`, signed with `sha256`. */
export function encodeCheckpoint(
  info: CheckpointInfo,
  entries: readonly CheckpointEntry[],
  sha256: Sha256Hex = sha256Hex,
): Uint8Array {
  const total = entries.reduce((s, e) => s + e.values.length, 0);
  const payload = new Float32Array(total);
  let off = 0;
  for (const e of entries) {
    const size = e.shape.reduce((a, b) => a * b, 1);
    if (size !== e.values.length)
      throw new Error(
        `checkpoint entry ${e.group}/${e.name}: shape [${e.shape.join(', ')}] holds ${size} values, got ${e.values.length}.`,
      );
    payload.set(e.values, off);
    off += size;
  }
  const payloadBytes = littleEndianBytes(payload);
  const header: CheckpointHeader = {
    format: 'sizeseg-checkpoint',
    version: CHECKPOINT_VERSION,
    ...info,
    tensors: entries.map((e) =>
      e.group === 'model'
        ? { name: e.name, shape: [...e.shape] }
        : { name: e.name, shape: [...e.shape], group: e.group },
    ),
    payloadBytes: payloadBytes.length,
    sha256: ZERO_SHA,
  };
  // sha256 is the header's last key, so its digits sit just before the closing `"}`: hash with zeros there
  const unsigned = JSON.stringify(header);
  const utf8 = new TextEncoder();
  const sha = sha256([utf8.encode(unsigned), payloadBytes]);
  const headerBytes = utf8.encode(`${unsigned.slice(0, -66)}${sha}"}`);
  const out = new Uint8Array(12 + headerBytes.length + payloadBytes.length);
  for (let i = 0; i < 8; i++) out[i] = MAGIC.charCodeAt(i);
  new DataView(out.buffer).setUint32(8, headerBytes.length, true);
  out.set(headerBytes, 12);
  out.set(payloadBytes, 12 + headerBytes.length);
  return out;
}

/**
 * Parses and verifies a checkpoint's bytes; `where` names the file in errors. Every failure is one
 * message naming the cause and the fix.
 */
export function decodeCheckpoint(bytes: Uint8Array, where: string, sha256: Sha256Hex = sha256Hex): LoadedCheckpoint {
  const fail = (why: string): never => {
    throw new Error(
      `checkpoint ${where} is not usable: ${why}. Re-run the training that writes it, or pick another checkpoint.`,
    );
  };
  const magic = String.fromCharCode(...bytes.subarray(0, 8));
  if (bytes.length < 12 || magic !== MAGIC) fail('it does not start with the sizeseg checkpoint magic (wrong file?)');
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(8, true);
  if (12 + headerLength > bytes.length)
    fail(`the header claims ${headerLength} bytes but the file has only ${bytes.length} (truncated)`);
  const start = 12 + headerLength;
  const headerText = new TextDecoder().decode(bytes.subarray(12, start));
  let header: CheckpointHeader;
  try {
    header = JSON.parse(headerText) as CheckpointHeader;
  } catch {
    return fail('the JSON header is corrupt');
  }
  if (header.format !== 'sizeseg-checkpoint') fail(`unknown format '${String(header.format)}'`);
  if (header.version !== CHECKPOINT_VERSION && header.version !== PAYLOAD_ONLY_VERSION)
    fail(
      `format version ${header.version}, this sizeseg reads versions ${PAYLOAD_ONLY_VERSION} and ${CHECKPOINT_VERSION}`,
    );
  const payload = bytes.subarray(start);
  if (payload.length !== header.payloadBytes)
    fail(`the payload has ${payload.length} bytes, the header says ${header.payloadBytes} (truncated or appended)`);
  if (header.version === PAYLOAD_ONLY_VERSION) {
    if (sha256([payload]) !== header.sha256) fail('the weights do not match their sha256 (the file is corrupt)');
  } else {
    const signed = /"sha256":"[0-9a-f]{64}"\}$/.test(headerText);
    const unsigned = `${headerText.slice(0, -66)}${ZERO_SHA}"}`;
    if (!signed || sha256([new TextEncoder().encode(unsigned), payload]) !== header.sha256) {
      fail(
        'its contents do not match their sha256 (the file is corrupt or was edited: weights, training state or settings)',
      );
    }
  }
  const values = new Float32Array(payload.length / 4);
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  for (let i = 0; i < values.length; i++) values[i] = view.getFloat32(4 * i, true);
  const state = new Map<string, Tensor>();
  const groups = new Map<string, Map<string, Tensor>>();
  let off = 0;
  for (const { name, shape, group = 'model' } of header.tensors) {
    const n = shape.reduce((a, b) => a * b, 1);
    const target = group === 'model' ? state : (groups.get(group) ?? groups.set(group, new Map()).get(group)!);
    target.set(name, new Tensor(values.slice(off, off + n), shape));
    off += n;
  }
  return { header, state, groups };
}

/** float32 values as little-endian bytes, whatever the host's byte order. */
function littleEndianBytes(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(4 * i, values[i]!, true);
  return out;
}

// ------------------------------------------------------------------------------------------------
// SHA-256 (FIPS 180-4), for hosts without node:crypto (a page's crypto.subtle is asynchronous only).

const K = Uint32Array.from([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
]);

/** SHA-256 of the concatenated parts (a plain implementation; about 100 MB/s, ample for checkpoints). */
export function sha256Hex(parts: readonly Uint8Array[]): string {
  const length = parts.reduce((n, p) => n + p.length, 0);
  const padded = new Uint8Array(Math.ceil((length + 9) / 64) * 64);
  let at = 0;
  for (const p of parts) {
    padded.set(p, at);
    at += p.length;
  }
  padded[length] = 0x80;
  const bits = new DataView(padded.buffer);
  bits.setUint32(padded.length - 8, Math.floor(length / 0x20000000), false);
  bits.setUint32(padded.length - 4, (length * 8) >>> 0, false);
  const h = Uint32Array.from([
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
  ]);
  const w = new Uint32Array(64);
  const rotr = (x: number, n: number) => (x >>> n) | (x << (32 - n));
  for (let block = 0; block < padded.length; block += 64) {
    for (let t = 0; t < 16; t++) w[t] = bits.getUint32(block + 4 * t, false);
    for (let t = 16; t < 64; t++) {
      const a = w[t - 15]!,
        b = w[t - 2]!;
      const s0 = rotr(a, 7) ^ rotr(a, 18) ^ (a >>> 3);
      const s1 = rotr(b, 17) ^ rotr(b, 19) ^ (b >>> 10);
      w[t] = (w[t - 16]! + s0 + w[t - 7]! + s1) >>> 0;
    }
    let [a, b, c, d, e, f, g, hh] = [...h];
    for (let t = 0; t < 64; t++) {
      const S1 = rotr(e!, 6) ^ rotr(e!, 11) ^ rotr(e!, 25);
      const ch = (e! & f!) ^ (~e! & g!);
      const t1 = (hh! + S1 + ch + K[t]! + w[t]!) >>> 0;
      const S0 = rotr(a!, 2) ^ rotr(a!, 13) ^ rotr(a!, 22);
      const maj = (a! & b!) ^ (a! & c!) ^ (b! & c!);
      const t2 = (S0 + maj) >>> 0;
      hh = g;
      g = f;
      f = e;
      e = (d! + t1) >>> 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) >>> 0;
    }
    h[0] = (h[0]! + a!) >>> 0;
    h[1] = (h[1]! + b!) >>> 0;
    h[2] = (h[2]! + c!) >>> 0;
    h[3] = (h[3]! + d!) >>> 0;
    h[4] = (h[4]! + e!) >>> 0;
    h[5] = (h[5]! + f!) >>> 0;
    h[6] = (h[6]! + g!) >>> 0;
    h[7] = (h[7]! + hh!) >>> 0;
  }
  return [...h].map((x) => x.toString(16).padStart(8, '0')).join('');
}
