/**
 * 1×1 convolutions without padding (the residual shortcuts, the head) as products vectorised over
 * positions instead of output channels:
 *
 *   y[n, o, q] = b[o] + Σ_c w[o, c] · xs[n, c, q]        (xs: the input subsampled by the stride)
 *
 * Four neighbouring positions per f32x4. A tile is 4 output channels × 8 positions (8 accumulators); per
 * input channel it loads two vectors of xs and broadcasts four weights, and its results are four pairs of
 * vector stores. The gather convolution (gatherConv.ts) would spend a tile's 32 scalar stores on 16–64
 * multiply-adds per output here, and, for the head's single output channel, 15 of its 16 lanes on nothing.
 *
 * The same kernel gives the input gradient of stride-1 layers with the weights transposed, and the weight
 * gradient is the dot-product kernel (weightGradDot.ts) on xs. Work items are images; sums run over c in order, so threads never
 * change a result.
 */
import { type ModuleBuilder, f32, f32x4, i32, v128, type FunctionBuilder, type Local } from './emitter.js';
import { newKernelModule } from './runtime.js';
import { mulAdd } from './multiplyAdd.js';

/** Output channels per tile. */
export const PA = 4;
/** Position vectors per tile (8 positions). */
const PB = 2;

export interface PointwiseSpec {
  /** Reduction channels, output channels, positions per image (a multiple of 8). */
  C: number;
  O: number;
  P: number;
  bias: boolean;
  relu: boolean;
}

/** Whether a convolution runs on the pointwise kernels: 1×1, no padding, stride 1 or 2, a multiple of 8 output positions. */
export function pointwiseApplies(KH: number, KW: number, padding: number, stride: number, HO: number, WO: number): boolean {
  return KH === 1 && KW === 1 && padding === 0 && (stride === 1 || stride === 2) && (HO * WO) % (4 * PB) === 0 && HO * WO > 0;
}

export function pointwiseKey(s: PointwiseSpec): string {
  return `pw:${s.C},${s.O},${s.P},${s.bias},${s.relu}`;
}

/**
 * Export `image(args, n)`. Args (byte offsets): [0] xs [N][C][P], [1] w [O][C] row-major, [2] out
 * [N][O][P] (every element written), [3] bias [O] (when spec.bias).
 */
export function buildPointwiseModule(s: PointwiseSpec): ModuleBuilder {
  if (s.P % (4 * PB) !== 0) throw new Error(`pointwise: ${s.P} positions is not a multiple of ${4 * PB}`);
  const m = newKernelModule();
  m.itemFunction('image', (f, args, n) => {
    const L = pointwiseLocals(f);
    f.set(L.xs, i32.add(i32.load(args!, 0), i32.mul(n!, i32.const(s.C * s.P * 4))));
    f.set(L.w, i32.load(args!, 4));
    f.set(L.out, i32.add(i32.load(args!, 8), i32.mul(n!, i32.const(s.O * s.P * 4))));
    f.set(L.bias, i32.load(args!, 12));
    const full = Math.floor(s.O / PA);
    const rest = s.O % PA;
    const enter = (ob: Local | number) => {
      const obExpr = typeof ob === 'number' ? i32.const(ob) : ob;
      f.set(L.pwBlock, i32.add(L.w, i32.mul(obExpr, i32.const(PA * s.C * 4))));
      f.set(L.po, i32.add(L.out, i32.mul(obExpr, i32.const(PA * s.P * 4))));
      f.set(L.pbias, i32.add(L.bias, i32.mul(obExpr, i32.const(PA * 4))));
    };
    if (s.O === 1) {
      enter(0);
      emitSingleOutput(f, s, L);
      return;
    }
    if (full > 0) {
      f.forRange(L.ob, 0, full, 1, () => {
        enter(L.ob);
        emitPointwiseBlock(f, s, L, PA);
      });
    }
    if (rest > 0) {
      enter(full);
      emitPointwiseBlock(f, s, L, rest);
    }
  });
  return m;
}

export interface PointwiseLocals {
  xs: Local; w: Local; out: Local; bias: Local; ob: Local;
  pq: Local; px: Local; pw: Local; end: Local; po: Local; pwBlock: Local; pbias: Local;
  acc: Local[][]; x: Local[]; ws: Local; wg: Local[];
}

/** The locals of the pointwise kernel (also used by the Winograd kernel's products, winograd.ts). */
export function pointwiseLocals(f: FunctionBuilder): PointwiseLocals {
  return {
    xs: f.local('i32', 'xs'), w: f.local('i32', 'w'), out: f.local('i32', 'out'), bias: f.local('i32', 'bias'),
    ob: f.local('i32', 'ob'), pq: f.local('i32', 'pq'), px: f.local('i32', 'px'), pw: f.local('i32', 'pw'), end: f.local('i32', 'end'),
    po: f.local('i32', 'po'), pwBlock: f.local('i32', 'pwBlock'), pbias: f.local('i32', 'pbias'),
    acc: Array.from({ length: PA }, (_, a) => Array.from({ length: PB }, (_, b) => f.local('v128', `acc${a}_${b}`))),
    x: Array.from({ length: PB }, (_, b) => f.local('v128', `x${b}`)),
    ws: f.local('v128', 'ws'),
    wg: Array.from({ length: SINGLE_GROUP }, (_, k) => f.local('v128', `wg${k}`)),
  };
}

/** Input channels per pass over the output row of the single-output kernel. */
const SINGLE_GROUP = 4;

/**
 * One output channel (the head): y[q] = b + Σ_c w[c] · xs[c, q]. The tile kernel would walk all C
 * channel planes at once, 8 positions at a time, for 2 FLOPs per 4 bytes read; here the image's output
 * row (P floats: 6 KB at 48×32, in L1) is the accumulator, and each pass adds SINGLE_GROUP channels to it
 * while streaming their planes in order. Measured on the head (16→1 at 48×32, N = 32, operands
 * resident): 15 → 32 GFLOP/s on one thread, 31 → 47–50 on two. The sum runs over c in order from the
 * bias, as in the tile kernel, so the two give the same bits.
 */
function emitSingleOutput(f: FunctionBuilder, s: PointwiseSpec, L: PointwiseLocals): void {
  const U = s.P % 16 === 0 ? 4 : 2; // position vectors per loop iteration
  for (let c0 = 0; c0 < s.C; c0 += SINGLE_GROUP) {
    const group = Math.min(SINGLE_GROUP, s.C - c0);
    const last = c0 + group === s.C;
    for (let k = 0; k < group; k++) f.set(L.wg[k]!, v128.load32_splat(L.pwBlock, (c0 + k) * 4));
    f.set(L.px, i32.add(L.xs, i32.const(c0 * s.P * 4)));
    f.set(L.end, i32.add(L.po, i32.const(s.P * 4)));
    // pq walks the output row: y[q … q+4U) (+)= Σ_k w[c0 + k] · xs[c0 + k, q … q+4U)
    f.forRange(L.pq, L.po, L.end, 16 * U, () => {
      for (let u = 0; u < U; u++) {
        let e = c0 > 0 ? v128.load(L.pq, 16 * u) : s.bias ? v128.load32_splat(L.pbias) : v128.zero();
        for (let k = 0; k < group; k++) e = mulAdd(L.wg[k]!, v128.load(L.px, 16 * u + k * s.P * 4), e);
        f.do(v128.store(L.pq, last && s.relu ? f32x4.max(e, v128.zero()) : e, 16 * u));
      }
      f.set(L.px, i32.add(L.px, i32.const(16 * U)));
    });
  }
}

/**
 * Every 8-position tile of one block of `outs` output channels: out[o_a, q] = Σ_c w[o_a, c] · xs[c, q] with
 * L.xs, L.pwBlock (row o_0 of w [O][C]), L.po (row o_0 of out [O][P]) and L.pbias set by the caller.
 */
export function emitPointwiseBlock(f: FunctionBuilder, s: PointwiseSpec, L: PointwiseLocals, outs: number): void {
  f.forRange(L.pq, 0, s.P / (4 * PB), 1, () => {
    for (let a = 0; a < outs; a++) {
      for (let b = 0; b < PB; b++) f.set(L.acc[a]![b]!, s.bias ? v128.load32_splat(L.pbias, 4 * a) : v128.zero());
    }
    f.set(L.px, i32.add(L.xs, i32.mul(L.pq, i32.const(4 * PB * 4))));
    f.set(L.end, i32.add(L.pwBlock, i32.const(s.C * 4)));
    // for every input channel c: acc[a][b] += w[o_a, c] · xs[c, 8 positions]; pw walks row o_0 of w
    f.forRange(L.pw, L.pwBlock, L.end, 4, () => {
      for (let b = 0; b < PB; b++) f.set(L.x[b]!, v128.load(L.px, 16 * b));
      for (let a = 0; a < outs; a++) {
        f.set(L.ws, v128.load32_splat(L.pw, a * s.C * 4));
        for (let b = 0; b < PB; b++) f.set(L.acc[a]![b]!, mulAdd(L.ws, L.x[b]!, L.acc[a]![b]!));
      }
      f.set(L.px, i32.add(L.px, i32.const(s.P * 4)));
    });
    // stores: output channel o_a, positions pq·8 … pq·8 + 7
    f.set(L.px, i32.add(L.po, i32.mul(L.pq, i32.const(4 * PB * 4))));
    for (let a = 0; a < outs; a++) {
      for (let b = 0; b < PB; b++) {
        const v = s.relu ? f32x4.max(L.acc[a]![b]!, v128.zero()) : L.acc[a]![b]!;
        f.do(v128.store(L.px, v, (a * s.P + 4 * b) * 4));
      }
    }
  });
}

export interface SubsampleSpec {
  /** Planes, full grid H × W, subsampled grid HO × WO (stride 2: HO = ⌈H/2⌉, WO = ⌈W/2⌉). */
  planes: number;
  H: number;
  W: number;
  HO: number;
  WO: number;
}

/**
 * Planes per work item of the subsampling copy: enough for about 4096 output floats, so that taking an
 * item (an atomic add on a counter both threads hit) stays cheap beside the copy. (Four planes per item
 * made the 12×8 → 6×4 copy five times slower on two threads than on one.)
 */
function planesPerItem(s: SubsampleSpec): number {
  return Math.max(1, Math.ceil(4096 / (s.HO * s.WO)));
}

export function subsampleItems(s: SubsampleSpec): number {
  return Math.ceil(s.planes / planesPerItem(s));
}

/**
 * Export `subsample(args, i)`: dst[p][r][c] = src[p][2r][2c]. Args: [0] src, [1] dst. Where the full rows
 * are exactly twice as wide and the subsampled ones a multiple of 4, four outputs are one shuffle of two
 * vector loads (lanes 0, 2, 4, 6 of 8 neighbours), else one scalar copy each.
 */
export function buildSubsampleModule(s: SubsampleSpec): ModuleBuilder {
  const m = newKernelModule();
  const full = s.H * s.W, sub = s.HO * s.WO;
  const per = planesPerItem(s);
  const vector = s.W === 2 * s.WO && s.WO % 4 === 0;
  m.itemFunction('subsample', (f, args, item) => {
    const p = f.local('i32', 'p'), last = f.local('i32', 'last'), r = f.local('i32', 'r'), i = f.local('i32', 'i');
    const pf = f.local('i32', 'pf'), ps = f.local('i32', 'ps'), rowEnd = f.local('i32', 'rowEnd');
    const first = i32.mul(item!, i32.const(per));
    f.set(last, i32.add(first, i32.const(per)));
    f.if(i32.gt_s(last, i32.const(s.planes)), () => f.set(last, i32.const(s.planes)));
    f.forRange(p, first, last, 1, () => {
      // pf walks the plane on the full grid, ps the plane on the subsampled one
      f.set(pf, i32.add(i32.load(args!, 0), i32.mul(p, i32.const(full * 4))));
      f.set(ps, i32.add(i32.load(args!, 4), i32.mul(p, i32.const(sub * 4))));
      f.forRange(r, 0, s.HO, 1, () => {
        f.set(rowEnd, i32.add(ps, i32.const(s.WO * 4)));
        f.set(i, pf);
        // one row: ps steps over the subsampled row, i over the even elements of the full one
        if (vector) {
          f.forRange(ps, ps, rowEnd, 16, () => {
            f.do(v128.store(ps, v128.shuffle32(v128.load(i), v128.load(i, 16), [0, 2, 4, 6])));
            f.set(i, i32.add(i, i32.const(32)));
          });
        } else {
          f.forRange(ps, ps, rowEnd, 4, () => {
            f.do(f32.store(ps, f32.load(i)));
            f.set(i, i32.add(i, i32.const(8)));
          });
        }
        f.set(pf, i32.add(pf, i32.const(2 * s.W * 4)));
      });
    });
  });
  return m;
}
