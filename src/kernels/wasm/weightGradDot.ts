/**
 * The weight gradient of a stride-1 convolution whose output rows are a multiple of 4 wide, as dot
 * products vectorised over positions:
 *
 *   dw[o, c, t] = Σ_n Σ_oh Σ_ow  dy[n, o, oh, ow] · xp[n, c, oh + kh_t, ow + kw_t]
 *
 * With stride 1, four neighbouring output positions read four neighbouring input values for every tap,
 * so both operands are plain f32x4 loads: no broadcast (the costly part of the channel-vectorised kernel,
 * weightGrad.ts, which runs everywhere else: see weightGradDotApplies) and no transposed copy of dy. A tile is
 * 2 output channels × 4 (channel, tap) pairs = 8 f32x4 accumulators, kept in registers over every image
 * and row; per four positions it loads 2 dy vectors and 4 input vectors.
 *
 * Work items are (output-channel pair, input-channel block), fixed by the shape; an item sums images,
 * rows and column quads in one fixed order, then the four lanes as (l0 + l1) + (l2 + l3), and writes its
 * entries of dw [O][C][KH·KW] directly. Bit-identical for any number of threads.
 */
import { type ModuleBuilder, f32, f32x4, i32, v128, type Expr, type FunctionBuilder, type Local } from './emitter.js';
import { newKernelModule } from './runtime.js';
import { channelBlock, type WeightGradSpec } from './weightGrad.js';
import { mulAdd } from './multiplyAdd.js';

/** Output channels per tile (and per work item). */
const OT = 2;
/** (channel, tap) pairs per tile. */
const KT = 4;

/** The weight gradient's geometry (stride 1; WO a multiple of 4), as for the other kernel. */
export type WeightGradDotSpec = Omit<WeightGradSpec, 's'>;

/**
 * Whether to use this kernel: it needs stride 1 and output rows a multiple of 4 wide, and it is chosen
 * only where the channel-vectorised kernel is weak — fewer than 8 output channels (its 8 lanes partly
 * empty) or fewer than 8 input channels (too few work items to share out). Measured with operands
 * resident, 2 threads, in alternating runs: the stem (1→16) 40–48 GFLOP/s against 9–20, the head (16→1)
 * 16–18 against 3–4; on the wider layers it was as fast or slower (192→64 at 12×8: 31–38 against 46–53;
 * all weight gradients of a step 100–105 ms against 91–94 ms), so those keep the other kernel.
 */
export function weightGradDotApplies(stride: number, WO: number, C: number, O: number): boolean {
  return stride === 1 && WO % 4 === 0 && WO > 0 && (C < 8 || O < 8);
}

/**
 * Input channels per work item: the other kernel's block, halved while that leaves fewer than 8 items
 * (the head, 16→1, would otherwise be one item, so one thread), never below one tile's worth of pairs.
 * It depends on the shape alone, so results stay bit-identical for any thread count.
 */
export function dotChannelBlock(C: number, O: number, T: number): number {
  const least = Math.max(1, Math.ceil(KT / T));
  let cb = channelBlock(C, T);
  while (Math.ceil(O / OT) * Math.ceil(C / cb) < 8 && cb > least) cb = Math.max(least, Math.ceil(cb / 2));
  return cb;
}

export function weightGradDotItems(spec: WeightGradDotSpec): number {
  return Math.ceil(spec.O / OT) * Math.ceil(spec.C / spec.CB);
}

/**
 * Module with export `item(args, i)`. Argument block (i32 byte offsets): [0] xp (padded input
 * [N][C][Hp][Wp]), [1] dy [N][O][HO][WO], [2] dw [O][C][T] (every entry written).
 */
export function buildWeightGradDotModule(spec: WeightGradDotSpec): ModuleBuilder {
  if (spec.WO % 4 !== 0 || spec.WO === 0) throw new Error(`weightGradDot: output width ${spec.WO} is not a multiple of 4`);
  const m = newKernelModule();
  const T = spec.taps.length;
  const cBlocks = Math.ceil(spec.C / spec.CB);
  const oBlocks = Math.ceil(spec.O / OT);
  m.itemFunction('item', (f, args, item) => {
    const L = locals(f);
    f.set(L.ob, i32.div_u(item!, i32.const(cBlocks)));
    f.set(L.cb, i32.rem_u(item!, i32.const(cBlocks)));
    f.set(L.xBase, i32.add(i32.load(args!, 0), i32.mul(L.cb, i32.const(spec.CB * spec.Hp * spec.Wp * 4))));
    f.set(L.dyBase, i32.add(i32.load(args!, 4), i32.mul(L.ob, i32.const(OT * spec.HO * spec.WO * 4))));
    f.set(L.dw, i32.add(i32.load(args!, 8), i32.add(
      i32.mul(L.ob, i32.const(OT * spec.C * T * 4)), i32.mul(L.cb, i32.const(spec.CB * T * 4)))));
    const lastChannels = spec.C - (cBlocks - 1) * spec.CB;
    const lastOutputs = spec.O - (oBlocks - 1) * OT;
    // the last channel block and the last output pair may be partial: one body per combination that occurs
    const variants: { outs: number; channels: number; when: Expr | null }[] = [];
    for (const outs of lastOutputs === OT ? [OT] : [OT, lastOutputs]) {
      for (const channels of lastChannels === spec.CB ? [spec.CB] : [spec.CB, lastChannels]) {
        const oCond = outs === OT && lastOutputs !== OT ? i32.lt_s(L.ob, i32.const(oBlocks - 1)) : outs !== OT ? i32.eq(L.ob, i32.const(oBlocks - 1)) : null;
        const cCond = channels === spec.CB && lastChannels !== spec.CB ? i32.lt_s(L.cb, i32.const(cBlocks - 1)) : channels !== spec.CB ? i32.eq(L.cb, i32.const(cBlocks - 1)) : null;
        variants.push({ outs, channels, when: oCond && cCond ? i32.and(oCond, cCond) : oCond ?? cCond });
      }
    }
    for (const v of variants) {
      if (v.when === null) emitItem(f, spec, L, v.outs, v.channels);
      else f.if(v.when, () => emitItem(f, spec, L, v.outs, v.channels));
    }
  });
  return m;
}

interface Locals {
  ob: Local; cb: Local; xBase: Local; dyBase: Local; dw: Local;
  n: Local; oh: Local; i: Local; px: Local; pd: Local; rowEnd: Local;
  acc: Local[][]; d: Local[]; xv: Local; sum: Local;
}

function locals(f: FunctionBuilder): Locals {
  const acc: Local[][] = [];
  for (let o = 0; o < OT; o++) acc.push(Array.from({ length: KT }, (_, k) => f.local('v128', `acc${o}_${k}`)));
  return {
    ob: f.local('i32', 'ob'), cb: f.local('i32', 'cb'), xBase: f.local('i32', 'xBase'), dyBase: f.local('i32', 'dyBase'), dw: f.local('i32', 'dw'),
    n: f.local('i32', 'n'), oh: f.local('i32', 'oh'), i: f.local('i32', 'i'), px: f.local('i32', 'px'), pd: f.local('i32', 'pd'),
    rowEnd: f.local('i32', 'rowEnd'),
    acc, d: Array.from({ length: OT }, (_, o) => f.local('v128', `d${o}`)), xv: f.local('v128', 'xv'), sum: f.local('f32', 'sum'),
  };
}

/** Every tile of one item: `outs` output channels × the (channel, tap) pairs of `channels` channels. */
function emitItem(f: FunctionBuilder, spec: WeightGradDotSpec, L: Locals, outs: number, channels: number): void {
  const T = spec.taps.length;
  const chanBytes = spec.Hp * spec.Wp * 4;
  const planeBytes = spec.HO * spec.WO * 4;
  const pairs: { c: number; t: number }[] = [];
  for (let c = 0; c < channels; c++) for (let t = 0; t < T; t++) pairs.push({ c, t });
  for (let start = 0; start < pairs.length; start += KT) {
    const tile = pairs.slice(start, start + KT);
    for (let o = 0; o < outs; o++) for (let k = 0; k < tile.length; k++) f.set(L.acc[o]![k]!, v128.zero());
    f.forRange(L.n, 0, spec.N, 1, () => {
      f.forRange(L.oh, 0, spec.HO, 1, () => {
        // row pointers: dy row oh of output channel ob·2 in image n; input row oh (taps add their offsets)
        f.set(L.pd, i32.add(L.dyBase, i32.add(i32.mul(L.n, i32.const(spec.O * planeBytes)), i32.mul(L.oh, i32.const(spec.WO * 4)))));
        f.set(L.px, i32.add(L.xBase, i32.add(i32.mul(L.n, i32.const(spec.C * chanBytes)), i32.mul(L.oh, i32.const(spec.Wp * 4)))));
        f.set(L.rowEnd, i32.add(L.pd, i32.const(spec.WO * 4)));
        // four positions per iteration; pd walks the dy row, px the input row in step
        f.forRange(L.pd, L.pd, L.rowEnd, 16, () => {
          for (let o = 0; o < outs; o++) f.set(L.d[o]!, v128.load(L.pd, o * planeBytes));
          tile.forEach((p, k) => {
            f.set(L.xv, v128.load(L.px, p.c * chanBytes + spec.taps[p.t]! * 4));
            for (let o = 0; o < outs; o++) f.set(L.acc[o]![k]!, mulAdd(L.d[o]!, L.xv, L.acc[o]![k]!));
          });
          f.set(L.px, i32.add(L.px, i32.const(16)));
        });
      });
    });
    // dw[ob·2 + o][cb·CB + c][t] = (l0 + l1) + (l2 + l3)
    for (let o = 0; o < outs; o++) {
      tile.forEach((p, k) => {
        const a = L.acc[o]![k]!;
        f.set(L.sum, f32.add(f32.add(f32x4.extract_lane(a, 0), f32x4.extract_lane(a, 1)), f32.add(f32x4.extract_lane(a, 2), f32x4.extract_lane(a, 3))));
        f.do(f32.store(L.dw, L.sum, ((o * spec.C + p.c) * T + p.t) * 4));
      });
    }
  }
}
