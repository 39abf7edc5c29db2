/**
 * The convolution weight gradient as a generated WebAssembly kernel:
 *
 *   dw[o, c, t] = Σ_n Σ_(oh,ow)  dy[n, o, oh, ow] · xp[n, c, oh·s + kh_t, ow·s + kw_t]
 *
 * Vectorised over output channels: dy is laid out transposed, dyT[n, q, o] (o padded to a multiple of
 * 8), so one position's 8 output channels are two f32x4 loads; the input value of each tap is broadcast.
 * A tile is 8 output channels × up to 4 (channel, tap) pairs = 8 f32x4 accumulators.
 *
 * Work items are (output-channel block, input-channel block) pairs, fixed by the shape; each item owns
 * its part of dw and sums images and positions in one fixed order (image, row, column), so the result is
 * bit-identical whatever the number of threads. The accumulators are kept in memory between images
 * (packed as dwp[ob][c][t][8], the forward kernel's weight layout), in float32.
 */
import { type ModuleBuilder, i32, v128, type FunctionBuilder, type Local } from './emitter.js';
import { newKernelModule } from './runtime.js';
import { mulAdd } from './multiplyAdd.js';
/** f32x4 vectors of output channels per tile. */
export const DOBV = 2;
/** Output channels per tile. */
export const DOB = 4 * DOBV;
/**
 * (channel, tap) pairs per tile: 8 channels × 4 pairs = 8 f32x4 accumulators; per position 2 dy vectors
 * and 4 broadcasts (14 registers). Measured (one thread): 8×4 33 GFLOP/s at 16→16 48×32, 16×2 32, 8×6 25
 * (spills), 4×6 25.
 */
const KB = 4;

export interface WeightGradSpec {
  N: number;
  C: number;
  O: number;
  /** Padded input geometry: Hp × Wp per channel. */
  Hp: number;
  Wp: number;
  /** Output grid and stride. */
  HO: number;
  WO: number;
  s: number;
  /** Tap offsets (floats) within a padded channel: kh·Wp + kw. */
  taps: number[];
  /** Input channels per work item. */
  CB: number;
}

/** Channels per work item: enough (channel, tap) pairs for full tiles, and enough items to share out. */
export function channelBlock(C: number, T: number): number {
  return Math.max(1, Math.min(C, Math.ceil(24 / T)));
}

export function weightGradItems(spec: WeightGradSpec): number {
  return Math.ceil(spec.O / DOB) * Math.ceil(spec.C / spec.CB);
}

/**
 * Module with export `item(args, i)`. Argument block (i32 byte offsets): [0] xp, [1] dyT, [2] dwp
 * (zero-filled by the caller, [ob][c][t][8]).
 */
export function buildWeightGradModule(spec: WeightGradSpec): ModuleBuilder {
  const m = newKernelModule();
  const T = spec.taps.length;
  const Opad = Math.ceil(spec.O / DOB) * DOB;
  const cBlocks = Math.ceil(spec.C / spec.CB);
  const P = spec.HO * spec.WO;
  const chanBytes = spec.Hp * spec.Wp * 4;
  m.itemFunction('item', (f, args, item) => {
    const L = locals(f);
    // item → (output-channel block, input-channel block)
    f.set(L.ob, i32.div_u(item!, i32.const(cBlocks)));
    f.set(L.cb, i32.rem_u(item!, i32.const(cBlocks)));
    f.set(L.xp, i32.add(i32.load(args!, 0), i32.mul(L.cb, i32.const(spec.CB * chanBytes))));
    f.set(L.dyT, i32.add(i32.load(args!, 4), i32.mul(L.ob, i32.const(DOB * 4))));
    f.set(L.dwp, i32.add(i32.load(args!, 8), i32.add(
      i32.mul(L.ob, i32.const(spec.C * T * DOB * 4)), i32.mul(L.cb, i32.const(spec.CB * T * DOB * 4)))));
    const full = spec.C % spec.CB === 0 ? spec.CB : spec.C % spec.CB;
    if (full === spec.CB) {
      emitBlock(f, spec, L, spec.CB, Opad, P, chanBytes);
    } else {
      f.if(i32.lt_s(L.cb, i32.const(cBlocks - 1)), () => emitBlock(f, spec, L, spec.CB, Opad, P, chanBytes));
      f.if(i32.eq(L.cb, i32.const(cBlocks - 1)), () => emitBlock(f, spec, L, full, Opad, P, chanBytes));
    }
  });
  return m;
}

interface Locals {
  ob: Local; cb: Local; xp: Local; dyT: Local; dwp: Local;
  n: Local; oh: Local; ow: Local; px: Local; pd: Local; pxImg: Local; pdImg: Local;
  acc: Local[][]; d: Local[]; xs: Local;
}

function locals(f: FunctionBuilder): Locals {
  const acc: Local[][] = [];
  for (let k = 0; k < KB; k++) acc.push(Array.from({ length: DOBV }, (_, h) => f.local('v128', `acc${k}_${h}`)));
  return {
    ob: f.local('i32', 'ob'), cb: f.local('i32', 'cb'),
    xp: f.local('i32', 'xp'), dyT: f.local('i32', 'dyT'), dwp: f.local('i32', 'dwp'),
    n: f.local('i32', 'n'), oh: f.local('i32', 'oh'), ow: f.local('i32', 'ow'),
    px: f.local('i32', 'px'), pd: f.local('i32', 'pd'), pxImg: f.local('i32', 'pxImg'), pdImg: f.local('i32', 'pdImg'),
    acc, d: Array.from({ length: DOBV }, (_, h) => f.local('v128', `d${h}`)), xs: f.local('v128', 'xs'),
  };
}

/** The (channel, tap) pairs of `channels` channels, cut into tiles of ≤ KB. */
function tiles(channels: number, T: number): { c: number; t: number }[][] {
  const pairs: { c: number; t: number }[] = [];
  for (let c = 0; c < channels; c++) for (let t = 0; t < T; t++) pairs.push({ c, t });
  const out: { c: number; t: number }[][] = [];
  for (let i = 0; i < pairs.length; i += KB) out.push(pairs.slice(i, i + KB));
  return out;
}

/**
 * Output maps up to this many positions take the loop order tiles → images → positions, with the
 * accumulators in registers over every image; larger ones images → tiles → positions, with the
 * accumulators reloaded from dwp per image so that an image's dyT and input stay in cache across its
 * tiles. Each dw entry adds the same terms in the same order (image, row, column) either way, so the two
 * give the same bits. (On 6×4 maps a tile's position loop is 24 iterations: the per-image reload and store
 * of 8 accumulators cost as much as the loop.)
 */
export const TILE_OUTER_MAX_POSITIONS = 96;

function emitBlock(f: FunctionBuilder, spec: WeightGradSpec, L: Locals, channels: number, Opad: number, P: number, chanBytes: number): void {
  if (P <= TILE_OUTER_MAX_POSITIONS) {
    emitBlockTileOuter(f, spec, L, channels, Opad, P, chanBytes);
    return;
  }
  const T = spec.taps.length;
  f.forRange(L.n, 0, spec.N, 1, () => {
    f.set(L.pxImg, i32.add(L.xp, i32.mul(L.n, i32.const(spec.C * chanBytes))));
    f.set(L.pdImg, i32.add(L.dyT, i32.mul(L.n, i32.const(P * Opad * 4))));
    for (const tile of tiles(channels, T)) {
      // dw offset of pair (c, t) within the item: (c·T + t)·8 floats
      tile.forEach((k, j) => {
        const off = (k.c * T + k.t) * DOB * 4;
        for (let h = 0; h < DOBV; h++) f.set(L.acc[j]![h]!, v128.load(L.dwp, off + 16 * h));
      });
      f.set(L.pd, L.pdImg);
      emitImage(f, spec, L, tile, Opad, chanBytes);
      storeTile(f, L, tile, T);
    }
  });
}

function emitBlockTileOuter(f: FunctionBuilder, spec: WeightGradSpec, L: Locals, channels: number, Opad: number, P: number, chanBytes: number): void {
  const T = spec.taps.length;
  for (const tile of tiles(channels, T)) {
    tile.forEach((_, j) => {
      for (let h = 0; h < DOBV; h++) f.set(L.acc[j]![h]!, v128.zero());
    });
    f.forRange(L.n, 0, spec.N, 1, () => {
      f.set(L.pxImg, i32.add(L.xp, i32.mul(L.n, i32.const(spec.C * chanBytes))));
      f.set(L.pd, i32.add(L.dyT, i32.mul(L.n, i32.const(P * Opad * 4))));
      emitImage(f, spec, L, tile, Opad, chanBytes);
    });
    storeTile(f, L, tile, T);
  }
}

/** One image's positions into the tile's accumulators: pxImg at the image's input, pd at its dyT (advanced). */
function emitImage(f: FunctionBuilder, spec: WeightGradSpec, L: Locals, tile: { c: number; t: number }[], Opad: number, chanBytes: number): void {
  f.forRange(L.oh, 0, spec.HO, 1, () => {
    f.set(L.px, i32.add(L.pxImg, i32.mul(L.oh, i32.const(spec.s * spec.Wp * 4))));
    f.forRange(L.ow, 0, spec.WO, 1, () => {
      for (let h = 0; h < DOBV; h++) f.set(L.d[h]!, v128.load(L.pd, 16 * h));
      tile.forEach((k, j) => {
        f.set(L.xs, v128.load32_splat(L.px, k.c * chanBytes + spec.taps[k.t]! * 4));
        for (let h = 0; h < DOBV; h++) f.set(L.acc[j]![h]!, mulAdd(L.d[h]!, L.xs, L.acc[j]![h]!));
      });
      f.set(L.px, i32.add(L.px, i32.const(spec.s * 4)));
      f.set(L.pd, i32.add(L.pd, i32.const(Opad * 4)));
    });
  });
}

/** The tile's accumulators into dwp[ob][c][t][8] at (c·T + t)·8 floats of the item. */
function storeTile(f: FunctionBuilder, L: Locals, tile: { c: number; t: number }[], T: number): void {
  tile.forEach((k, j) => {
    const off = (k.c * T + k.t) * DOB * 4;
    for (let h = 0; h < DOBV; h++) f.do(v128.store(L.dwp, L.acc[j]![h]!, off + 16 * h));
  });
}
