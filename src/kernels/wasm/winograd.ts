/**
 * Winograd F(2×2, 3×3) for 3×3 convolutions with stride 1 and padding 1 (Lavin & Gray, "Fast Algorithms
 * for Convolutional Neural Networks", 2016): each 2×2 block of outputs ("tile") of one output channel is
 *
 *   Y = Aᵀ [ Σ_c (G g_c Gᵀ) ⊙ (Bᵀ d_c B) ] A
 *
 * with g_c the 3×3 filter of input channel c, d_c the 4×4 input patch under the tile and ⊙ the elementwise
 * product. The sum over c of the 16 elementwise products is, for each of the 16 positions ξ of the 4×4
 * transformed tile, a matrix product  M[ξ] = U[ξ] · V[ξ]  (U [O][C]: transformed weights, V [C][tiles]:
 * transformed inputs): 16 multiplications per tile and channel pair instead of the direct kernel's 36 (2.25×
 * fewer), plus the transforms, which are only additions.
 *
 *   Bᵀ = | 1  0 −1  0 |    G = | 1    0    0  |    Aᵀ = | 1  1  1  0 |
 *        | 0  1  1  0 |        | ½    ½    ½  |         | 0  1 −1 −1 |
 *        | 0 −1  1  0 |        | ½   −½    ½  |
 *        | 0  1  0 −1 |        | 0    0    1  |
 *
 * Two generated modules (the weight gradient, the adjoint of this formula, is winogradWeightGrad.ts):
 * - the weight transform (buildWeightTransformModule): U[ξ][a][b] = (G g Gᵀ)[ξ] for the filter g of product row a and column b — for the
 *   forward pass a = output channel, b = input channel; for the input gradient (a stride-1 convolution of dy
 *   with the filters flipped and the channel roles swapped) a = input channel, b = output channel, g flipped.
 * - the convolution (buildWinogradModule): one work item = a fixed set of tiles (a block of tile rows of one image, or all tiles of a few
 *   images: fixed by the shape alone), in three stages that keep their operands in the core's cache:
 *   1. the input transform, vectorised over four neighbouring tiles of a tile row (two vector loads and two
 *      shuffles per input row give the four tiles' columns), into V[ξ][c][tile];
 *   2. the 16 products M[ξ] = U[ξ] · V[ξ] on the pointwise kernel's tile (pointwise.ts: 4 output channels
 *      × 8 tiles, vectorised over tiles, vector stores);
 *   3. the output transform, again over four tiles at a time, plus bias and ReLU; two shuffles interleave
 *      the tiles' columns into eight neighbouring outputs of a row.
 *   Every output is computed inside one item in a fixed order, so the thread count never changes a bit.
 *
 * Accuracy (float32; checked against float64 references in test/kernels/wasm/winograd.test.ts): the
 * transforms add and subtract, so the error bound is the classical one for a sum, but over more terms and
 * larger ones: every exact term a·(G-coefficient·g)·(B-coefficient·d) goes through at most C + 12
 * roundings (2 in the input transform, 4 in the weight transform, 1 product, C in the sum over channels, 4
 * in the output transform, 1 for the bias), so |computed − exact| ≤ γ(C + 12) · S, where S is the same
 * algorithm run on |g|, |d| with |A|, |B|, |G|. S ≥ Σ|w||x| of the direct sum (it also holds the products the
 * transforms add and then cancel): up to 20× it element by element on random operands.
 */
import { type ModuleBuilder, f32, f32x4, i32, v128, type Expr, type FunctionBuilder, type Local } from './emitter.js';
import { emitPointwiseBlock, PA, pointwiseLocals, type PointwiseSpec } from './pointwise.js';
import { newKernelModule } from './runtime.js';

/** Positions of a transformed tile (4×4). */
export const XI = 16;
/** Tiles per vector (f32x4). */
export const TV = 4;
/** Tiles per GEMM tile of the pointwise kernel: the columns of a product are padded to a multiple of it. */
export const GEMM_COLS = 8;
/**
 * Bytes an item's transformed inputs and products may take (V and M together), for F(2×2) and F(4×4) alike: a
 * core's L2 was 1 MiB on the machine this was measured on (Zen 4), so half of it keeps both resident with room
 * for the weights' rows.
 */
export const ITEM_BYTES = 512 << 10;
/** Fewest items: with dynamic scheduling over 2 threads, 8 items keep them both busy to the end. */
export const MIN_ITEMS = 8;

/** The plan of one Winograd convolution: the product's sizes and how tiles are cut into work items. */
/**
 * What F(2×2) and F(4×4) plans share: the product's sizes and how tiles are cut into work items (each plan adds
 * its tile grid, its padded planes and its work area).
 */
export interface WinogradCut {
  /** Images, reduction channels (of the input read), output channels (of the result), map height and width. */
  N: number;
  C: number;
  O: number;
  H: number;
  W: number;
  bias: boolean;
  relu: boolean;
  /** Images per item and tile rows per image per item (one of the two is 1 or all: g > 1 ⇒ TR = tH). */
  g: number;
  TR: number;
  /** Tile-row blocks per image (tH / TR) and items (N / g · blocks). */
  blocks: number;
  items: number;
  /** Tiles per item and that padded to a multiple of 8: the columns of V and M. */
  Pi: number;
  Pg: number;
  /**
   * Floats between V[ξ] and V[ξ + 1], and between M[ξ] and M[ξ + 1]: C·Pg and O·Pg, plus up to 16 so that
   * the addresses a transform touches at once fall into different cache sets (see setStride).
   */
  vStride: number;
  mStride: number;
}

export interface WinogradSpec extends WinogradCut {
  /** Tile rows, tile columns padded to a multiple of 4. */
  tH: number;
  tWp: number;
  /** The padded input planes: Hp = 2·tH + 2 rows, Wp = 2·tWp + 2 columns, the image at (1, 1). */
  Hp: number;
  Wp: number;
  /** Floats of one thread's work area: V [16][vStride], then M [16][mStride]. */
  workFloats: number;
}

/**
 * A stride of at least `floats` floats, a whole number of 64-byte lines, and an odd number of lines modulo
 * 4 KiB. The transforms read or write the 16 positions ξ of a tile at once: with a stride that is a multiple
 * of 4 KiB (C·Pg = 16·192 floats is 3 × 4 KiB) all 16 fall into one set of the 8-way L1 cache and evict one
 * another (the input transform of 16→16 at 48×32 ran 3× slower than its instruction count).
 */
export function setStride(floats: number): number {
  let lines = Math.ceil(floats / 16);
  if (lines % 2 === 0) lines++;
  return lines * 16;
}

export const largestDivisorAtMost = (n: number, limit: number): number => {
  for (let d = Math.max(1, Math.min(n, Math.floor(limit))); d > 1; d--) if (n % d === 0) return d;
  return 1;
};

/**
 * The plan for N images of C → O channels at H×W (the tile cut depends on nothing else): items of about
 * ITEM_BYTES of V and M, and at least `minTiles` tiles where the map allows.
 */
export function winogradSpec(
  N: number, C: number, O: number, H: number, W: number, bias: boolean, relu: boolean, minTiles = GEMM_COLS,
): WinogradSpec {
  const tH = Math.ceil(H / 2);
  const tWp = Math.ceil(Math.ceil(W / 2) / TV) * TV;
  const perImage = tH * tWp;
  const tilesFit = Math.max(minTiles, Math.floor(ITEM_BYTES / (XI * (C + O) * 4)));
  let g = 1, TR = tH;
  if (perImage <= tilesFit) {
    // whole images per item: as many as fit, leaving at least MIN_ITEMS items (or one per image)
    g = largestDivisorAtMost(N, Math.min(tilesFit / perImage, N / Math.min(N, MIN_ITEMS)));
  } else {
    TR = largestDivisorAtMost(tH, tilesFit / tWp);
  }
  const blocks = tH / TR;
  const Pi = g * TR * tWp;
  const Pg = Math.ceil(Pi / GEMM_COLS) * GEMM_COLS;
  const vStride = setStride(C * Pg), mStride = setStride(O * Pg);
  const workFloats = XI * (vStride + mStride);
  return { N, C, O, H, W, bias, relu, tH, tWp, Hp: 2 * tH + 2, Wp: 2 * tWp + 2, g, TR, blocks, items: (N / g) * blocks, Pi, Pg, vStride, mStride, workFloats };
}

export function winogradKey(s: WinogradSpec): string {
  return `winograd:${s.N},${s.C},${s.O},${s.H},${s.W},${s.bias},${s.relu}`;
}

// ------------------------------------------------------------------------------------------------
// The weight transform

export interface WeightTransformSpec {
  /** Rows (a: the channels a pass produces) and columns (b: the channels it reduces over) of each U[ξ]. */
  A: number;
  B: number;
  /** False: g = w[a][b] (forward). True: g = w[b][a] rotated by 180° (input gradient). */
  flip: boolean;
}

export function weightTransformKey(s: WeightTransformSpec): string {
  return `winograd-weights:${s.A},${s.B},${s.flip}`;
}

/** (G v)ᵢ for a 3-vector v: v0, ½(v0 + v1 + v2), ½(v0 − v1 + v2), v2 (two roundings, the halving is exact). */
function gRow(v: readonly Expr[]): Expr[] {
  const half = f32.const(0.5);
  const sum02 = f32.add(v[0]!, v[2]!);
  return [v[0]!, f32.mul(half, f32.add(sum02, v[1]!)), f32.mul(half, f32.sub(sum02, v[1]!)), v[2]!];
}

/**
 * Export `item(args, a)`: U[ξ][a][b] for every b. Args (byte offsets): [0] w [O][C][3][3] as stored, [1] U
 * [16][A][B]. The 9 taps are loaded as scalars, transformed along the rows, then the columns (f32).
 */
export function buildWeightTransformModule(s: WeightTransformSpec): ModuleBuilder {
  const m = newKernelModule();
  // the filters' input-channel count: w is [O][C][3][3] with (forward) O = A, C = B or (gradient) O = B, C = A
  const Cw = s.flip ? s.A : s.B;
  m.itemFunction('item', (f, args, a) => {
    const pw = f.local('i32', 'pw'), pu = f.local('i32', 'pu'), b = f.local('i32', 'b');
    const g = Array.from({ length: 9 }, (_, k) => f.local('f32', `g${k}`));
    const t = Array.from({ length: 12 }, (_, k) => f.local('f32', `t${k}`));
    // forward: filter (a, b) at (a·C + b)·9, stepping 9 floats per b; gradient: (b·C + a)·9, stepping C·9
    f.set(pw, i32.add(i32.load(args, 0), i32.mul(a, i32.const((s.flip ? 1 : Cw) * 9 * 4))));
    f.set(pu, i32.add(i32.load(args, 4), i32.mul(a, i32.const(s.B * 4))));
    const stepW = (s.flip ? Cw * 9 : 9) * 4;
    f.forRange(b, 0, s.B, 1, () => {
      for (let k = 0; k < 9; k++) f.set(g[k]!, f32.load(pw, 4 * (s.flip ? 8 - k : k)));
      // t = G g: 4 rows × 3 columns, column by column
      for (let col = 0; col < 3; col++) {
        const r = gRow([g[col]!, g[3 + col]!, g[6 + col]!]);
        for (let i = 0; i < 4; i++) f.set(t[3 * i + col]!, r[i]!);
      }
      // U = t Gᵀ: each row of t through G
      for (let i = 0; i < 4; i++) {
        const r = gRow([t[3 * i]!, t[3 * i + 1]!, t[3 * i + 2]!]);
        for (let j = 0; j < 4; j++) f.do(f32.store(pu, r[j]!, (4 * i + j) * s.A * s.B * 4));
      }
      f.set(pw, i32.add(pw, i32.const(stepW)));
      f.set(pu, i32.add(pu, i32.const(4)));
    });
  });
  return m;
}

// ------------------------------------------------------------------------------------------------
// The convolution: input transform, products, output transform

/** (Bᵀ d) for four vectors d0..d3 (one per row or column of a patch): d0 − d2, d1 + d2, d2 − d1, d1 − d3. */
function bT(d: readonly Expr[]): Expr[] {
  return [f32x4.sub(d[0]!, d[2]!), f32x4.add(d[1]!, d[2]!), f32x4.sub(d[2]!, d[1]!), f32x4.sub(d[1]!, d[3]!)];
}

/** (Aᵀ m) for four vectors: m0 + m1 + m2, m1 − m2 − m3. */
function aT(m: readonly Expr[]): Expr[] {
  return [f32x4.add(f32x4.add(m[0]!, m[1]!), m[2]!), f32x4.sub(f32x4.sub(m[1]!, m[2]!), m[3]!)];
}

/**
 * Export `item$items(args, counter, count)`, the item driver: every output of the items it takes. Args (byte
 * offsets): [0] the padded input [N][C][Hp][Wp], [1] U [16][O][C], [2] out [N][O][H][W] (every element
 * written), [3] bias [O] (when spec.bias), [4] the work areas, `workFloats` floats per thread, [5] 0 (the
 * counter of the areas taken).
 */
export function buildWinogradModule(s: WinogradSpec): ModuleBuilder {
  const m = newKernelModule();
  itemsWithWorkAreas(m, s, (f, args, n0, tr0, V) => {
    const M = f.local('i32', 'M');
    f.set(M, i32.add(V, i32.const(XI * s.vStride * 4)));
    emitInputTransform(f, s, args, n0, tr0, V);
    emitProducts(f, s, args, V, M);
    emitOutputTransform(f, s, args, n0, tr0, M);
  });
  return m;
}

/**
 * Adds the item kernel `tiles(args, k, area)` built by `body` (given item k's first image n0, first tile row
 * tr0 and the thread's work area) and its driver `item$items` (runtime.ts: runItems). Each thread that calls
 * the driver first takes a work area of its own (an atomic counter at args[5], which starts at 0; the areas
 * start at args[4], `s.workFloats` floats each), then items from the shared counter. Its V and M stay in its
 * core's cache from item to item; one area per item instead measured the transforms 3× slower (every item
 * wrote megabytes of fresh memory). An item writes every byte of the area it reads, so which thread (which
 * area) ran it never shows.
 */
export function itemsWithWorkAreas(
  m: ModuleBuilder, s: Pick<WinogradSpec, 'blocks' | 'g' | 'TR' | 'workFloats'>,
  body: (f: FunctionBuilder, args: Local, n0: Local, tr0: Local, area: Local, k: Local) => void,
): void {
  const run = m.function('tiles', [['args', 'i32'], ['k', 'i32'], ['area', 'i32']], (f, args, k, area) => {
    const n0 = f.local('i32', 'n0'), tr0 = f.local('i32', 'tr0');
    // item k: images [n0, n0 + g), tile rows [tr0, tr0 + TR) of each
    if (s.blocks > 1) {
      f.set(n0, i32.div_u(k!, i32.const(s.blocks)));
      f.set(tr0, i32.mul(i32.rem_u(k!, i32.const(s.blocks)), i32.const(s.TR)));
    } else {
      f.set(n0, i32.mul(k!, i32.const(s.g)));
      f.set(tr0, i32.const(0));
    }
    body(f, args!, n0, tr0, area!, k!);
  });
  m.function('item$items', [['args', 'i32'], ['counter', 'i32'], ['count', 'i32']], (f, args, counter, count) => {
    const item = f.local('i32', 'item'), area = f.local('i32', 'area');
    f.set(area, i32.add(i32.load(args!, 16), i32.mul(i32.atomic_rmw_add(args!, i32.const(1), 20), i32.const(s.workFloats * 4))));
    f.forever(() => {
      f.set(item, i32.atomic_rmw_add(counter!, i32.const(1)));
      f.if(i32.ge_s(item, count!), () => f.breakLoop());
      f.call(run, args!, item, area);
    });
  });
}

/**
 * Stage 1: V[ξ][c][col] = (Bᵀ d B)[ξ] for the item's tiles; the padding columns [Pi, Pg) are zeros. Reads the
 * padded input at args[0].
 */
export function emitInputTransform(f: FunctionBuilder, s: WinogradSpec, args: Local, n0: Local, tr0: Local, V: Local): void {
  const img = f.local('i32', 'img'), c = f.local('i32', 'c'), tr = f.local('i32', 'tr'), jg = f.local('i32', 'jg');
  const pin = f.local('i32', 'pin'), pv = f.local('i32', 'pv'), p = f.local('i32', 'p'), q = f.local('i32', 'q');
  const lo = f.local('v128', 'lo'), hi = f.local('v128', 'hi'), lo2 = f.local('v128', 'lo2'), hi2 = f.local('v128', 'hi2');
  const t = Array.from({ length: 16 }, (_, i) => f.local('v128', `t${i}`));
  const plane = s.Hp * s.Wp * 4;
  const xiStride = s.vStride * 4;
  f.forRange(img, 0, s.g, 1, () => {
    // pin: channel 0 of image n0 + img, padded row 2·tr0 (the first input row of tile row tr0, minus 1)
    f.set(pin, i32.add(i32.load(args, 0), i32.add(
      i32.mul(i32.add(n0, img), i32.const(s.C * plane)), i32.mul(tr0, i32.const(2 * s.Wp * 4)))));
    // pv: V[0][0][img·TR·tWp]
    f.set(pv, i32.add(V, i32.mul(img, i32.const(s.TR * s.tWp * 4))));
    f.forRange(c, 0, s.C, 1, () => {
      f.forRange(tr, 0, s.TR, 1, () => {
        f.set(p, i32.add(pin, i32.mul(tr, i32.const(2 * s.Wp * 4))));
        f.set(q, i32.add(pv, i32.mul(tr, i32.const(s.tWp * 4))));
        f.forRange(jg, 0, s.tWp / TV, 1, () => {
          // four tiles: their patches' columns k = 0..3 are padded columns 2j + k; per patch row i, lanes = tiles
          for (let i = 0; i < 4; i++) {
            const row = i * s.Wp * 4;
            f.set(lo, v128.load(p, row));
            f.set(hi, v128.load(p, row + 16));
            f.set(lo2, v128.load(p, row + 8));
            f.set(hi2, v128.load(p, row + 24));
            const d = [
              v128.shuffle32(lo, hi, [0, 2, 4, 6]), v128.shuffle32(lo, hi, [1, 3, 5, 7]),
              v128.shuffle32(lo2, hi2, [0, 2, 4, 6]), v128.shuffle32(lo2, hi2, [1, 3, 5, 7]),
            ];
            // (d B) along the row, kept as t[4i + j]. The shuffles are operands of bT's expressions, so
            // they are emitted once per use: keep them in locals first.
            for (let j = 0; j < 4; j++) f.set(t[4 * i + j]!, d[j]!);
            const r = bT([t[4 * i]!, t[4 * i + 1]!, t[4 * i + 2]!, t[4 * i + 3]!]);
            f.set(lo, r[0]!);
            f.set(hi, r[1]!);
            f.set(lo2, r[2]!);
            f.set(hi2, r[3]!);
            f.set(t[4 * i]!, lo);
            f.set(t[4 * i + 1]!, hi);
            f.set(t[4 * i + 2]!, lo2);
            f.set(t[4 * i + 3]!, hi2);
          }
          // Bᵀ (d B) down the columns; ξ = 4·row + column
          for (let j = 0; j < 4; j++) {
            const col = bT([t[j]!, t[4 + j]!, t[8 + j]!, t[12 + j]!]);
            for (let i = 0; i < 4; i++) f.do(v128.store(q, col[i]!, (4 * i + j) * xiStride));
          }
          f.set(p, i32.add(p, i32.const(2 * TV * 4)));
          f.set(q, i32.add(q, i32.const(TV * 4)));
        });
      });
      f.set(pin, i32.add(pin, i32.const(plane)));
      f.set(pv, i32.add(pv, i32.const(s.Pg * 4)));
    });
  });
  if (s.Pg > s.Pi) {
    // Pg − Pi is 4: one zero vector per (ξ, c) row of V, so the products' last tile reads zeros
    f.set(pv, i32.add(V, i32.const(s.Pi * 4)));
    f.forRange(c, 0, s.C, 1, () => {
      for (let xi = 0; xi < XI; xi++) f.do(v128.store(pv, v128.zero(), xi * xiStride));
      f.set(pv, i32.add(pv, i32.const(s.Pg * 4)));
    });
  }
}

/**
 * Stage 2: M[ξ] = U[ξ] · V[ξ] for ξ = 0..positions − 1 ([O][C] · [C][Pg] → [O][Pg]) on the pointwise kernel's
 * tile (16 positions here, 36 for F(4×4, 3×3): winograd4.ts).
 */
export function emitProducts(
  f: FunctionBuilder, s: Pick<WinogradSpec, 'C' | 'O' | 'Pg' | 'vStride' | 'mStride'>, args: Local, V: Local, M: Local, positions = XI,
): void {
  const L = pointwiseLocals(f);
  const xi = f.local('i32', 'xi');
  const spec: PointwiseSpec = { C: s.C, O: s.O, P: s.Pg, bias: false, relu: false };
  const full = Math.floor(s.O / PA), rest = s.O % PA;
  f.forRange(xi, 0, positions, 1, () => {
    f.set(L.xs, i32.add(V, i32.mul(xi, i32.const(s.vStride * 4))));
    f.set(L.w, i32.add(i32.load(args, 4), i32.mul(xi, i32.const(s.O * s.C * 4))));
    f.set(L.out, i32.add(M, i32.mul(xi, i32.const(s.mStride * 4))));
    const enter = (ob: Expr) => {
      f.set(L.pwBlock, i32.add(L.w, i32.mul(ob, i32.const(PA * s.C * 4))));
      f.set(L.po, i32.add(L.out, i32.mul(ob, i32.const(PA * s.Pg * 4))));
    };
    if (full > 0) {
      f.forRange(L.ob, 0, full, 1, () => {
        enter(L.ob);
        emitPointwiseBlock(f, spec, L, PA);
      });
    }
    if (rest > 0) {
      enter(i32.const(full));
      emitPointwiseBlock(f, spec, L, rest);
    }
  });
}

/** Stage 3: out = Aᵀ M A (+ bias, ReLU) for the item's tiles, four tiles (eight output columns) at a time. */
function emitOutputTransform(f: FunctionBuilder, s: WinogradSpec, args: Local, n0: Local, tr0: Local, M: Local): void {
  const img = f.local('i32', 'oimg'), o = f.local('i32', 'o'), tr = f.local('i32', 'otr'), jg = f.local('i32', 'ojg');
  const pm = f.local('i32', 'pm'), po = f.local('i32', 'po'), p = f.local('i32', 'op'), q = f.local('i32', 'oq');
  const pb = f.local('i32', 'pb'), second = f.local('i32', 'second');
  const b = f.local('v128', 'b');
  const mm = Array.from({ length: 16 }, (_, i) => f.local('v128', `m${i}`));
  const y = Array.from({ length: 4 }, (_, i) => f.local('v128', `y${i}`));
  const plane = s.H * s.W * 4;
  const xiStride = s.mStride * 4;
  const fullGroups = Math.floor(s.W / (2 * TV));
  const tailCols = s.W % (2 * TV); // outputs of the last, partial group of a row (1..7), or 0
  const oddH = s.H % 2 === 1;

  // one group of four tiles at pm (M) → rows at q (output row 2·tile row) and q + W·4 (when `second`)
  const group = (cols: number) => {
    for (let xi = 0; xi < XI; xi++) f.set(mm[xi]!, v128.load(p, xi * xiStride));
    // (Aᵀ m) along each row r of the 4×4: two vectors s[r][0..1], then down the columns
    const sRows: Expr[][] = [];
    for (let r = 0; r < 4; r++) sRows.push(aT([mm[4 * r]!, mm[4 * r + 1]!, mm[4 * r + 2]!, mm[4 * r + 3]!]));
    // keep s[r][j] in the m local 2r + j: row r's pair overwrites m[2r], m[2r + 1], which rows < r have read
    // and rows > r do not read (row r reads m[4r .. 4r + 3])
    const sl = mm.slice(0, 8);
    for (let r = 0; r < 4; r++) for (let j = 0; j < 2; j++) f.set(sl[2 * r + j]!, sRows[r]![j]!);
    for (let j = 0; j < 2; j++) {
      const col = aT([sl[j]!, sl[2 + j]!, sl[4 + j]!, sl[6 + j]!]);
      for (let i = 0; i < 2; i++) {
        let e = s.bias ? f32x4.add(col[i]!, b) : col[i]!;
        if (s.relu) e = f32x4.max(e, v128.zero());
        f.set(y[2 * i + j]!, e); // y[2i + j]: output (i, j) of the four tiles
      }
    }
    // interleave columns j = 0, 1 of the four tiles: eight neighbouring outputs of output row i
    for (let i = 0; i < 2; i++) {
      const store = () => {
        const a = v128.shuffle32(y[2 * i]!, y[2 * i + 1]!, [0, 4, 1, 5]);
        const bb = v128.shuffle32(y[2 * i]!, y[2 * i + 1]!, [2, 6, 3, 7]);
        const off = i * s.W * 4;
        if (cols === 2 * TV) {
          f.do(v128.store(q, a, off));
          f.do(v128.store(q, bb, off + 16));
        } else {
          // the row's last outputs: lane by lane (output 2t + j is lane t of y[2i + j])
          for (let x = 0; x < cols; x++) f.do(f32.store(q, f32x4.extract_lane(y[2 * i + (x & 1)]!, x >> 1), off + 4 * x));
        }
      };
      if (i === 1 && oddH) f.if(second, store);
      else store();
    }
  };

  f.forRange(img, 0, s.g, 1, () => {
    f.set(po, i32.add(i32.load(args, 8), i32.add(
      i32.mul(i32.add(n0, img), i32.const(s.O * plane)), i32.mul(tr0, i32.const(2 * s.W * 4)))));
    f.set(pm, i32.add(M, i32.mul(img, i32.const(s.TR * s.tWp * 4))));
    f.set(pb, i32.load(args, 12));
    f.forRange(o, 0, s.O, 1, () => {
      if (s.bias) f.set(b, v128.load32_splat(pb));
      f.forRange(tr, 0, s.TR, 1, () => {
        // the tile row's second output row exists unless it is the last row of an odd-height map
        if (oddH) f.set(second, i32.lt_s(i32.add(i32.mul(i32.add(tr0, tr), i32.const(2)), i32.const(1)), i32.const(s.H)));
        f.set(p, i32.add(pm, i32.mul(tr, i32.const(s.tWp * 4))));
        f.set(q, i32.add(po, i32.mul(tr, i32.const(2 * s.W * 4))));
        if (fullGroups > 0) {
          f.forRange(jg, 0, fullGroups, 1, () => {
            group(2 * TV);
            f.set(p, i32.add(p, i32.const(TV * 4)));
            f.set(q, i32.add(q, i32.const(2 * TV * 4)));
          });
        }
        if (tailCols > 0) group(tailCols);
      });
      f.set(pm, i32.add(pm, i32.const(s.Pg * 4)));
      f.set(po, i32.add(po, i32.const(plane)));
      if (s.bias) f.set(pb, i32.add(pb, i32.const(4)));
    });
  });
}
