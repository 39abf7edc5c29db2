/**
 * The one micro-kernel behind the convolution forward pass and its input gradient ("gather
 * convolution"): for every output position q of an image and every output channel o,
 *
 *   out[o, q] (+)= bias[o] + Σ_c Σ_t  w[o, c, t] · src[c, base(q) + tap[t]]
 *
 * where `src` is a zero-padded image in the shared memory, `base(q)` is affine in the position's row and
 * column, and every size and stride is a constant baked into the code. Vectorised over output
 * channels: a tile holds 16 output channels (four f32x4) × 2 positions, i.e. 8 f32x4 accumulators; each
 * (tap, channel) pair loads four weight vectors and broadcasts one source value per position
 * (`v128.load32_splat`). Taps are the outer loop (one loop per tap in the generated code, its offset a
 * constant), channels the inner one: the source pointer steps by a constant channel stride, so no
 * address is loaded from a table in the inner loop.
 * Accumulation is float32, in a fixed order (t, then c), so results do not depend on threading.
 *
 * Forward:          src = padded x, taps (kh·Wp + kw), base = (oh·s)·Wp + ow·s.
 * Input gradient:   one pass per phase (rh, rw) of the stride: src = padded dy, the taps of w that
 *                   reach that phase, outputs at (s·i + rh, s·j + rw). Stride 1 has one phase.
 */
import { type ModuleBuilder, f32, f32x4, i32, v128, type Expr, type FunctionBuilder, type Local } from './emitter.js';
import { newKernelModule } from './runtime.js';
import { mulAdd } from './multiplyAdd.js';

/** f32x4 vectors of output channels per tile: 16 output channels. */
export const OBV = 4;
/** Output channels per tile. */
export const OB = 4 * OBV;
/**
 * Positions per tile. 16 channels × 2 positions = 8 f32x4 accumulators, and per (channel, tap) pair 4
 * weight vectors + 2 broadcasts: 14 of the 15 vector registers V8 allocates on x64. Measured on this
 * machine (one thread, 16→16 at 48×32): 16×2 35 GFLOP/s, 8×2 31, 8×4 30, 12×4 23, 4×8 18.
 */
export const QB = 2;

/** One pass of the gather convolution over every image position of one grid (one phase). */
export interface GatherPass {
  /** Output grid of this pass. */
  rows: number;
  cols: number;
  /** Source float offset of position (r, c): srcOrigin + r·srcRowStride + c·srcColStride. */
  srcOrigin: number;
  srcRowStride: number;
  srcColStride: number;
  /** Tap offsets (floats, ≥ 0) relative to a position's base; T = taps.length (may be 0). */
  taps: number[];
  /** Output float offset of position (r, c) in channel 0: outOrigin + r·outRowStride + c·outColStride. */
  outOrigin: number;
  outRowStride: number;
  outColStride: number;
  /** Float offset of this pass's packed weights within the weight buffer. */
  weightOffset: number;
}

export interface GatherSpec {
  /** Reduction channels. */
  C: number;
  /** Floats between two source channels, and between two source images. */
  srcChanStride: number;
  srcImageStride: number;
  /** Output channels (padded to a multiple of 8 in the packed weights). */
  O: number;
  outChanStride: number;
  outImageStride: number;
  bias: boolean;
  /** Apply max(·, 0) to the results (a convolution fused with the ReLU after it; inference only). */
  relu?: boolean;
  passes: GatherPass[];
}

/** Packed weights per pass: [ob][t][c][16 lanes] floats. */
export function packedWeightLength(spec: GatherSpec, pass: GatherPass): number {
  return Math.ceil(spec.O / OB) * spec.C * pass.taps.length * OB;
}

/**
 * Module with export `image(args, n)`: computes every output of image n. Argument block (i32 byte
 * offsets): [0] src, [1] packed weights, [2] out, [3] bias (padded to a multiple of 16).
 */
export function buildGatherModule(spec: GatherSpec): ModuleBuilder {
  const m = newKernelModule();
  m.itemFunction('image', (f, args, n) => {
    const src = f.local('i32', 'src');
    const wts = f.local('i32', 'wts');
    const out = f.local('i32', 'out');
    const bias = f.local('i32', 'bias');
    f.set(src, i32.add(i32.load(args!, 0), i32.mul(n!, i32.const(spec.srcImageStride * 4))));
    f.set(wts, i32.load(args!, 4));
    f.set(out, i32.add(i32.load(args!, 8), i32.mul(n!, i32.const(spec.outImageStride * 4))));
    f.set(bias, i32.load(args!, 12));
    const regs = tileLocals(f);
    // A pass without taps (a stride phase that no tap of a 1×1 kernel reaches) only writes zeros: with a
    // tile's scalar stores, 3/4 of a 1×1 stride-2 input gradient. Zero the image with vector stores first
    // and skip such passes.
    const zeroFirst = !spec.bias && spec.outImageStride === spec.O * spec.outChanStride &&
      spec.passes.some((pass) => pass.taps.length === 0 && pass.rows > 0 && pass.cols > 0);
    if (zeroFirst) {
      const bytes = spec.outImageStride * 4;
      const vecBytes = bytes - (bytes % 16);
      f.set(regs.end, i32.add(out, i32.const(vecBytes)));
      f.forRange(regs.po, out, regs.end, 16, () => f.do(v128.store(regs.po, v128.zero())));
      for (let b = vecBytes; b < bytes; b += 4) f.do(f32.store(out, f32.const(0), b));
    }
    for (const pass of spec.passes) {
      if (zeroFirst && pass.taps.length === 0) continue;
      emitPass(f, spec, pass, src, wts, out, bias, regs);
    }
  });
  return m;
}

interface TileLocals {
  acc: Local[][]; // [position j][half h]
  w: Local[];
  xs: Local;
  ob: Local;
  r: Local;
  c: Local;
  end: Local; // the end of one tap's weights
  pw: Local;
  base: Local;
  px: Local;
  po: Local;
  pwBlock: Local;
  pbias: Local;
  pxRow: Local;
  poRow: Local;
}

function tileLocals(f: FunctionBuilder): TileLocals {
  const acc: Local[][] = [];
  for (let j = 0; j < QB; j++) acc.push(Array.from({ length: OBV }, (_, h) => f.local('v128', `acc${j}_${h}`)));
  return {
    acc,
    w: Array.from({ length: OBV }, (_, h) => f.local('v128', `w${h}`)),
    xs: f.local('v128', 'xs'),
    ob: f.local('i32', 'ob'),
    r: f.local('i32', 'r'),
    c: f.local('i32', 'col'),
    end: f.local('i32', 'end'),
    pw: f.local('i32', 'pw'),
    base: f.local('i32', 'base'),
    px: f.local('i32', 'px'),
    po: f.local('i32', 'po'),
    pwBlock: f.local('i32', 'pwBlock'),
    pbias: f.local('i32', 'pbias'),
    pxRow: f.local('i32', 'pxRow'),
    poRow: f.local('i32', 'poRow'),
  };
}

function emitPass(
  f: FunctionBuilder, spec: GatherSpec, pass: GatherPass, src: Local, wts: Local, out: Local, bias: Local, L: TileLocals,
): void {
  if (pass.rows <= 0 || pass.cols <= 0) return;
  const T = pass.taps.length;
  const fullBlocks = Math.floor(spec.O / OB);
  const lastLanes = spec.O % OB;
  const colTiles = Math.floor(pass.cols / QB);
  const colTail = pass.cols % QB;
  const blockWeightBytes = spec.C * T * OB * 4;

  // One o-block: loops over rows and column tiles; `lanes` output channels of the block are stored.
  const emitBlock = (lanes: number) => {
    f.forRange(L.r, 0, pass.rows, 1, () => {
      f.set(L.pxRow, i32.add(src, i32.add(i32.const(pass.srcOrigin * 4), i32.mul(L.r, i32.const(pass.srcRowStride * 4)))));
      f.set(L.poRow, i32.add(L.po, i32.add(i32.const(pass.outOrigin * 4), i32.mul(L.r, i32.const(pass.outRowStride * 4)))));
      if (colTiles > 0) {
        f.forRange(L.c, 0, colTiles, 1, () => {
          emitTile(f, spec, pass, L, QB, lanes,
            i32.add(L.pxRow, i32.mul(L.c, i32.const(QB * pass.srcColStride * 4))),
            i32.add(L.poRow, i32.mul(L.c, i32.const(QB * pass.outColStride * 4))));
        });
      }
      if (colTail > 0) {
        emitTile(f, spec, pass, L, colTail, lanes,
          i32.add(L.pxRow, i32.const(colTiles * QB * pass.srcColStride * 4)),
          i32.add(L.poRow, i32.const(colTiles * QB * pass.outColStride * 4)));
      }
    });
  };

  // po = output pointer of the block's first channel; pwBlock = its weights; pbias = its bias
  const enterBlock = (obExpr: Expr) => {
    f.set(L.po, i32.add(out, i32.mul(obExpr, i32.const(OB * spec.outChanStride * 4))));
    f.set(L.pwBlock, i32.add(wts, i32.add(i32.const(pass.weightOffset * 4), i32.mul(obExpr, i32.const(blockWeightBytes)))));
    f.set(L.pbias, i32.add(bias, i32.mul(obExpr, i32.const(OB * 4))));
  };
  if (fullBlocks > 0) {
    f.forRange(L.ob, 0, fullBlocks, 1, () => {
      enterBlock(L.ob);
      emitBlock(OB);
    });
  }
  if (lastLanes > 0) {
    enterBlock(i32.const(fullBlocks));
    emitBlock(lastLanes);
  }
}

/** One tile: `q` positions × 16 output channels (of which `lanes` are stored). */
function emitTile(
  f: FunctionBuilder, spec: GatherSpec, pass: GatherPass, L: TileLocals, q: number, lanes: number, pxStart: Expr, poStart: Expr,
): void {
  // accumulators start at the bias (or zero)
  for (let j = 0; j < q; j++) {
    for (let h = 0; h < OBV; h++) f.set(L.acc[j]![h]!, spec.bias ? v128.load(L.pbias, 16 * h) : v128.zero());
  }
  f.set(L.px, pxStart);
  f.set(L.pw, L.pwBlock);
  // for every tap t, for every channel c: acc[j] += w[t, c] · src[base(q_j) + tap[t] + c·chanStride].
  // One loop per tap (its offset is a constant here); in the loop, pw (walking the tap's weights) is the
  // loop variable and the source pointer steps by the channel stride. Loading each pair's offset from a
  // table instead measured 20 % slower (the splat loads then wait on that load); unrolling the channels
  // lets V8's scheduler hoist the loads of several pairs and spill (2–3× slower).
  for (const tap of pass.taps) {
    f.set(L.base, i32.add(L.px, i32.const(tap * 4)));
    f.set(L.end, i32.add(L.pw, i32.const(spec.C * OB * 4)));
    f.forRange(L.pw, L.pw, L.end, OB * 4, () => {
      for (let h = 0; h < OBV; h++) f.set(L.w[h]!, v128.load(L.pw, 16 * h));
      for (let j = 0; j < q; j++) {
        f.set(L.xs, v128.load32_splat(L.base, j * pass.srcColStride * 4));
        for (let h = 0; h < OBV; h++) f.set(L.acc[j]![h]!, mulAdd(L.w[h]!, L.xs, L.acc[j]![h]!));
      }
      f.set(L.base, i32.add(L.base, i32.const(spec.srcChanStride * 4)));
    });
  }
  if (spec.relu) {
    for (let j = 0; j < q; j++) for (let h = 0; h < OBV; h++) f.set(L.acc[j]![h]!, f32x4.max(L.acc[j]![h]!, v128.zero()));
  }
  // scatter the tile: lane l of half h is output channel 4h + l, position j
  f.set(L.px, poStart); // px is free now: reuse it as the tile's output pointer
  for (let j = 0; j < q; j++) {
    for (let lane = 0; lane < lanes; lane++) {
      const h = lane >> 2;
      const offset = (lane * spec.outChanStride + j * pass.outColStride) * 4;
      f.do(f32.store(L.px, f32x4.extract_lane(L.acc[j]![h]!, lane & 3), offset));
    }
  }
}
