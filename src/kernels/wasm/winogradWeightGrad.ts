/**
 * The weight gradient of a 3×3 stride-1 padding-1 convolution by Winograd F(2×2, 3×3) (winograd.ts). The
 * forward pass computes each tile as y_t = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d_t B)]A, so the gradient of Σ_t ⟨dy_t, y_t⟩ with
 * respect to the filter g is
 *
 *   dg = Gᵀ [ Σ_t (A dy_t Aᵀ) ⊙ (Bᵀ d_t B) ] G
 *
 * (dy_t: the tile's 2×2 output gradient, zero outside the map; d_t: its 4×4 input patch). For each position ξ
 * the sum over tiles is a product with the reduction over tiles: P[ξ][o][c] = Σ_t D[ξ][o][t] · V[ξ][c][t],
 * 16 multiplications per tile and (o, c) pair instead of 36.
 *
 * Two generated modules:
 * - `item` (winograd.ts: itemsWithWorkAreas): per work item (the forward pass's cut of the tiles) the input
 *   transform V (winograd.ts), the transform D = A dy Aᵀ of dy (four tiles per vector), and the item's partial
 *   sums P_k[ξ][o][c] as dot products over its tiles (a tile of 2 output × 4 input channels, vectorised over
 *   tiles, each sum's four lanes added at the end), written to its own slot;
 * - `reduce`: per output channel, the partial sums of all items added in item order, then Gᵀ P G, vectorised
 *   over four input channels.
 * Each weight's gradient is summed in an order fixed by the shape, so the thread count never changes a bit.
 *
 * Accuracy: every exact term goes through at most Pg/4 + K + 11 roundings (input transform 2, dy transform 2,
 * the product 1, a lane's sum over an item's Pg/4 tile vectors, the lanes 2, the K items, Gᵀ·G 4), so
 * |computed − exact| ≤ γ(Pg/4 + K + 11) · S, S the same algorithm on absolute values (tested in
 * test/kernels/wasm/winograd.test.ts).
 */
import { type ModuleBuilder, f32, f32x4, i32, v128, type Expr, type FunctionBuilder, type Local } from './emitter.js';
import { ARGS_BYTE, newKernelModule, runItems, scratch, setArgs, type CompiledKernel } from './runtime.js';
import { getNumThreads } from './threads.js';
import { emitInputTransform, itemsWithWorkAreas, TV, winogradSpec, XI, type WinogradSpec } from './winograd.js';
import { mulAdd } from './multiplyAdd.js';

/** The dot-product tile: output channels × input channels (8 accumulators). */
const DA = 2;
export const DB = 4;

/** Input channels of a partial sum's row, padded to a multiple of 4 (the reduction reads them as vectors). */
export function paddedChannels(C: number): number {
  return Math.ceil(C / 4) * 4;
}

/**
 * Tiles an item of the weight gradient takes at least (where the map allows). Each (output, input channel)
 * pair's sum over an item's tiles ends in adding its four lanes and storing the sum: over the 24 tiles of one
 * 12×8 image that end cost as much as the loop, so small maps come several images to an item.
 */
const MIN_TILES = 96;

/** The work cut of the weight gradient of N images of C → O channels at H×W. */
export function weightGradWinogradSpec(N: number, C: number, O: number, H: number, W: number): WinogradSpec {
  return winogradSpec(N, C, O, H, W, false, false, MIN_TILES);
}

export function weightGradWinogradKey(s: WinogradSpec): string {
  return `winograd-dw:${s.N},${s.C},${s.O},${s.H},${s.W}`;
}

/**
 * Export `item$items`: for every item k, P_k [16][O][Cp] (Cp = C padded to 4; the padding lanes are not
 * written). Args (byte offsets): [0] the padded input [N][C][Hp][Wp], [1] dy padded to [N][O][2·tH][2·tWp]
 * (zeros beyond the map), [2] the partial sums (K slots of 16·O·Cp floats), [3] unused, [4] the work areas,
 * [5] 0. The work area holds V [16][vStride] and then D [16][mStride].
 */
export function buildWeightGradWinogradModule(s: WinogradSpec): ModuleBuilder {
  const m = newKernelModule();
  itemsWithWorkAreas(m, s, (f, args, n0, tr0, V, k) => {
    const D = f.local('i32', 'D');
    f.set(D, i32.add(V, i32.const(XI * s.vStride * 4)));
    emitInputTransform(f, s, args, n0, tr0, V);
    emitDyTransform(f, s, args, n0, tr0, D);
    emitDotProducts(f, s, args, V, D, k);
  });
  return m;
}

/** (A v) for the two entries of a row or column of a 2×2 tile: v0, v0 + v1, v0 − v1, −v1. */
function aCol(v0: Expr, v1: Expr): Expr[] {
  return [v0, f32x4.add(v0, v1), f32x4.sub(v0, v1), f32x4.sub(v128.zero(), v1)];
}

/** D[ξ][o][col] = (A dy Aᵀ)[ξ] for the item's tiles; the padding columns [Pi, Pg) are zeros. */
function emitDyTransform(f: FunctionBuilder, s: WinogradSpec, args: Local, n0: Local, tr0: Local, D: Local): void {
  const img = f.local('i32', 'dimg'), o = f.local('i32', 'do'), tr = f.local('i32', 'dtr'), jg = f.local('i32', 'djg');
  const pin = f.local('i32', 'dpin'), pd = f.local('i32', 'dpd'), p = f.local('i32', 'dp'), q = f.local('i32', 'dq');
  const lo = f.local('v128', 'dlo'), hi = f.local('v128', 'dhi');
  const e = [f.local('v128', 'e0'), f.local('v128', 'e1')], od = [f.local('v128', 'od0'), f.local('v128', 'od1')];
  const u = Array.from({ length: 8 }, (_, i) => f.local('v128', `u${i}`));
  const Hd = 2 * s.tH, Wd = 2 * s.tWp;
  const plane = Hd * Wd * 4;
  const xiStride = s.mStride * 4;
  f.forRange(img, 0, s.g, 1, () => {
    f.set(pin, i32.add(i32.load(args, 4), i32.add(
      i32.mul(i32.add(n0, img), i32.const(s.O * plane)), i32.mul(tr0, i32.const(2 * Wd * 4)))));
    f.set(pd, i32.add(D, i32.mul(img, i32.const(s.TR * s.tWp * 4))));
    f.forRange(o, 0, s.O, 1, () => {
      f.forRange(tr, 0, s.TR, 1, () => {
        f.set(p, i32.add(pin, i32.mul(tr, i32.const(2 * Wd * 4))));
        f.set(q, i32.add(pd, i32.mul(tr, i32.const(s.tWp * 4))));
        f.forRange(jg, 0, s.tWp / TV, 1, () => {
          // four tiles: row r of each is dy columns 2j, 2j + 1: the even and odd lanes of eight neighbours
          for (let r = 0; r < 2; r++) {
            f.set(lo, v128.load(p, r * Wd * 4));
            f.set(hi, v128.load(p, r * Wd * 4 + 16));
            f.set(e[r]!, v128.shuffle32(lo, hi, [0, 2, 4, 6]));
            f.set(od[r]!, v128.shuffle32(lo, hi, [1, 3, 5, 7]));
            const row = aCol(e[r]!, od[r]!);
            for (let j = 0; j < 4; j++) f.set(u[4 * r + j]!, row[j]!);
          }
          // A (dy Aᵀ) down the columns; ξ = 4·row + column
          for (let j = 0; j < 4; j++) {
            const col = aCol(u[j]!, u[4 + j]!);
            for (let i = 0; i < 4; i++) f.do(v128.store(q, col[i]!, (4 * i + j) * xiStride));
          }
          f.set(p, i32.add(p, i32.const(2 * TV * 4)));
          f.set(q, i32.add(q, i32.const(TV * 4)));
        });
      });
      f.set(pin, i32.add(pin, i32.const(plane)));
      f.set(pd, i32.add(pd, i32.const(s.Pg * 4)));
    });
  });
  if (s.Pg > s.Pi) {
    f.set(pd, i32.add(D, i32.const(s.Pi * 4)));
    f.forRange(o, 0, s.O, 1, () => {
      for (let xi = 0; xi < XI; xi++) f.do(v128.store(pd, v128.zero(), xi * xiStride));
      f.set(pd, i32.add(pd, i32.const(s.Pg * 4)));
    });
  }
}

/**
 * The dot products of one position ξ of a Winograd weight gradient's item (F(2×2) here, F(4×4) in
 * winograd4WeightGrad.ts): for every output channel o and input channel c, Σ_t D[o][t] · V[c][t] over the row of
 * `rowBytes` (the item's tiles), in tiles of DA output × DB input channels (8 accumulators, vectorised over the
 * tiles: lane l sums tiles l, l + 4, …). `rowsO` and `rowsC` hold the ξ's first rows of D and V; `out` where
 * output channel 0's sums go, `outChannelBytes` apart. `epilogue(na, nb, acc, po)` stores a tile's sums: `acc`
 * (na × nb vectors of four lane sums) at `po`, the tile's first output channel and input channel.
 */
export function emitDotProductTiles(
  f: FunctionBuilder,
  layout: { O: number; C: number; rowBytes: number; outChannelBytes: number },
  rowsO: Local,
  rowsC: Local,
  out: Local,
  epilogue: (na: number, nb: number, acc: readonly Local[], po: Local) => void,
): void {
  const { rowBytes } = layout;
  const ob = f.local('i32', 'pob'), cb = f.local('i32', 'pcb');
  const pv = f.local('i32', 'ppv'), pd = f.local('i32', 'ppd'), end = f.local('i32', 'pend');
  const rowO = f.local('i32', 'rowO'), rowC = f.local('i32', 'rowC'), po = f.local('i32', 'ppo');
  const acc = Array.from({ length: DA * DB }, (_, i) => f.local('v128', `dacc${i}`));
  const dv = Array.from({ length: DA }, (_, i) => f.local('v128', `dv${i}`));
  const vv = f.local('v128', 'vv');

  // one tile: `na` output channels from rowO (D), `nb` input channels from rowC (V); results at po
  const tile = (na: number, nb: number) => {
    for (let i = 0; i < na * nb; i++) f.set(acc[i]!, v128.zero());
    f.set(pd, rowO);
    f.set(pv, rowC);
    f.set(end, i32.add(rowO, i32.const(rowBytes)));
    f.forRange(pd, pd, end, 16, () => {
      for (let a = 0; a < na; a++) f.set(dv[a]!, v128.load(pd, a * rowBytes));
      for (let b = 0; b < nb; b++) {
        f.set(vv, v128.load(pv, b * rowBytes));
        for (let a = 0; a < na; a++) f.set(acc[a * nb + b]!, mulAdd(dv[a]!, vv, acc[a * nb + b]!));
      }
      f.set(pv, i32.add(pv, i32.const(16)));
    });
    epilogue(na, nb, acc, po);
  };
  const blocksOf = (n: number, per: number): [number, number] => [Math.floor(n / per), n % per];
  const [fullO, restO] = blocksOf(layout.O, DA), [fullC, restC] = blocksOf(layout.C, DB);
  // the channel blocks of one row block of `na` output channels starting at output channel obExpr
  const rowBlock = (na: number, obExpr: Expr) => {
    f.set(rowO, i32.add(rowsO, i32.mul(obExpr, i32.const(DA * rowBytes))));
    const poRow = i32.add(out, i32.mul(obExpr, i32.const(DA * layout.outChannelBytes)));
    const enter = (cbExpr: Expr) => {
      f.set(rowC, i32.add(rowsC, i32.mul(cbExpr, i32.const(DB * rowBytes))));
      f.set(po, i32.add(poRow, i32.mul(cbExpr, i32.const(DB * 4))));
    };
    if (fullC > 0) {
      f.forRange(cb, 0, fullC, 1, () => {
        enter(cb);
        tile(na, DB);
      });
    }
    if (restC > 0) {
      enter(i32.const(fullC));
      tile(na, restC);
    }
  };
  if (fullO > 0) f.forRange(ob, 0, fullO, 1, () => rowBlock(DA, ob));
  if (restO > 0) rowBlock(restO, i32.const(fullO));
}

/** P_k[ξ][o][c] = Σ_t D[ξ][o][t] · V[ξ][c][t] over the item's Pg tiles, for ξ = 0..15. */
function emitDotProducts(f: FunctionBuilder, s: WinogradSpec, args: Local, V: Local, D: Local, k: Local): void {
  const Cp = paddedChannels(s.C);
  const xi = f.local('i32', 'pxi');
  const vx = f.local('i32', 'vx'), dx = f.local('i32', 'dx'), out = f.local('i32', 'pout');
  // each sum's lanes: (l0 + l1) + (l2 + l3), one float per (o, c)
  const storeSums = (na: number, nb: number, acc: readonly Local[], po: Local) => {
    for (let a = 0; a < na; a++) {
      for (let b = 0; b < nb; b++) {
        const v = acc[a * nb + b]!;
        const sum = f32.add(f32.add(f32x4.extract_lane(v, 0), f32x4.extract_lane(v, 1)), f32.add(f32x4.extract_lane(v, 2), f32x4.extract_lane(v, 3)));
        f.do(f32.store(po, sum, (a * Cp + b) * 4));
      }
      // the last block's padding lanes (c ≥ C): zeros, so that the reduction adds no garbage (or denormals)
      if (nb < DB) for (let b = nb; b < Cp - DB * Math.floor(s.C / DB); b++) f.do(f32.store(po, f32.const(0), (a * Cp + b) * 4));
    }
  };
  const layout = { O: s.O, C: s.C, rowBytes: s.Pg * 4, outChannelBytes: Cp * 4 };
  f.forRange(xi, 0, XI, 1, () => {
    f.set(vx, i32.add(V, i32.mul(xi, i32.const(s.vStride * 4))));
    f.set(dx, i32.add(D, i32.mul(xi, i32.const(s.mStride * 4))));
    f.set(out, i32.add(i32.load(args, 8), i32.add(i32.mul(k, i32.const(XI * s.O * Cp * 4)), i32.mul(xi, i32.const(s.O * Cp * 4)))));
    emitDotProductTiles(f, layout, dx, vx, out, storeSums);
  });
}

/**
 * The two passes of a Winograd weight gradient (F(2×2) or F(4×4)): the items' partial sums, on `threads` threads
 * each with its work area of `workFloats`, into a scratch block of `partials` floats; then the reduction, one
 * output channel per item, into dw at `dwByte`. `xB` and `dyB` are the operands' addresses (padded copies, or
 * the tensors where they are read in place).
 */
export function runWeightGradPasses(
  kernel: CompiledKernel,
  reduce: CompiledKernel,
  operands: { xB: number; dyB: number; dwByte: number },
  cut: { items: number; partials: number; workFloats: number; threads: number; O: number },
): void {
  const partB = scratch.alloc(cut.partials);
  const workB = scratch.alloc(cut.threads * cut.workFloats);
  setArgs([operands.xB, operands.dyB, partB, 0, workB, 0]);
  runItems(kernel, 'item', ARGS_BYTE, cut.items, cut.threads);
  setArgs([partB, operands.dwByte]);
  // the reduction reads every partial sum once: worth a second thread only when there are many
  runItems(reduce, 'item', ARGS_BYTE, cut.O, cut.partials >= 1 << 18 ? getNumThreads() : 1);
}

export interface ReduceSpec {
  O: number;
  C: number;
  /** Items whose partial sums are added. */
  K: number;
}

export function reduceKey(s: ReduceSpec): string {
  return `winograd-dw-reduce:${s.O},${s.C},${s.K}`;
}

/** (Gᵀ v) for four vectors: v0 + ½(v1 + v2), ½(v1 − v2), ½(v1 + v2) + v3 (two roundings; halving is exact). */
function gT(v: readonly Expr[]): Expr[] {
  const half = f32x4.splat(f32.const(0.5));
  const h12 = f32x4.mul(half, f32x4.add(v[1]!, v[2]!));
  return [f32x4.add(v[0]!, h12), f32x4.mul(half, f32x4.sub(v[1]!, v[2]!)), f32x4.add(h12, v[3]!)];
}

/**
 * Export `item$items` over output channels o: dw[o][c][3][3] = Gᵀ (Σ_k P_k[·][o][c]) G, four input channels per
 * vector (the sum over k in item order). Args: [0] the partial sums, [1] dw [O][C][3][3] (every element written).
 */
export function buildReduceModule(s: ReduceSpec): ModuleBuilder {
  const m = newKernelModule();
  const Cp = paddedChannels(s.C);
  const slot = XI * s.O * Cp * 4;
  m.itemFunction('item', (f, args, o) => {
    const p = f.local('i32', 'p'), pk = f.local('i32', 'pk'), end = f.local('i32', 'end');
    const pw = f.local('i32', 'pw');
    const mm = Array.from({ length: XI }, (_, i) => f.local('v128', `m${i}`));
    const t = Array.from({ length: 12 }, (_, i) => f.local('v128', `t${i}`));
    // p: P_0[0][o][0]
    f.set(p, i32.add(i32.load(args, 0), i32.mul(o, i32.const(Cp * 4))));
    f.set(pw, i32.add(i32.load(args, 4), i32.mul(o, i32.const(s.C * 9 * 4))));
    for (let c0 = 0; c0 < s.C; c0 += 4) {
      const lanes = Math.min(4, s.C - c0);
      for (let xi = 0; xi < XI; xi++) f.set(mm[xi]!, v128.load(p, xi * s.O * Cp * 4 + c0 * 4));
      if (s.K > 1) {
        f.set(pk, i32.add(p, i32.const(slot)));
        f.set(end, i32.add(p, i32.const(s.K * slot)));
        f.forRange(pk, pk, end, slot, () => {
          for (let xi = 0; xi < XI; xi++) f.set(mm[xi]!, f32x4.add(mm[xi]!, v128.load(pk, xi * s.O * Cp * 4 + c0 * 4)));
        });
      }
      // t = Gᵀ M (3 rows × 4 columns), then dw = t G: each row of t through Gᵀ
      for (let j = 0; j < 4; j++) {
        const col = gT([mm[j]!, mm[4 + j]!, mm[8 + j]!, mm[12 + j]!]);
        for (let i = 0; i < 3; i++) f.set(t[4 * i + j]!, col[i]!);
      }
      for (let i = 0; i < 3; i++) {
        const row = gT([t[4 * i]!, t[4 * i + 1]!, t[4 * i + 2]!, t[4 * i + 3]!]);
        for (let j = 0; j < 3; j++) f.set(mm[3 * i + j]!, row[j]!);
      }
      // lane l is input channel c0 + l: dw[o][c0 + l][i][j]
      for (let l = 0; l < lanes; l++) {
        for (let ij = 0; ij < 9; ij++) f.do(f32.store(pw, f32x4.extract_lane(mm[ij]!, l), ((c0 + l) * 9 + ij) * 4));
      }
    }
  });
  return m;
}
