/**
 * The gpu backend's kernels over device values (GpuData + shapes), each a short sequence of GPU.js
 * kernel calls. Shapes are validated here, synchronously, so errors point at the op that caused them;
 * every tensor (inputs, outputs, intermediates) is checked against the 2^24-element limit.
 *
 * Reductions run in two stages for parallelism on a GPU: stage 1 sums each contiguous image plane
 * (or, for the filter gradient, a group of images) per thread, stage 2 sums the partial results.
 */
import { formatShape } from '../../autograd/shape.js';
import type { GpuContext } from './context.js';
import type { GpuData } from './deviceData.js';
import { checkGpuSize, MAX_GPU_ELEMENTS } from './limits.js';
import * as src from './sources.js';

export type Shape4 = readonly [number, number, number, number];

export interface ConvAttrs {
  stride: number;
  padding: number;
}

function shape4(shape: readonly number[], what: string): Shape4 {
  if (shape.length !== 4)
    throw new Error(`${what}: expected an NCHW tensor (rank 4), got shape ${formatShape(shape)}.`);
  return shape as Shape4;
}

function convOut(size: number, k: number, s: number, p: number): number {
  return Math.floor((size + 2 * p - k) / s) + 1;
}

function checkConvAttrs(attrs: ConvAttrs, where: string): void {
  const { stride, padding } = attrs;
  if (!Number.isInteger(stride) || stride < 1 || !Number.isInteger(padding) || padding < 0) {
    throw new Error(
      `${where}: stride must be a positive integer and padding a non-negative integer (got stride ${stride}, padding ${padding}).`,
    );
  }
}

export interface ConvGeometry {
  N: number;
  C: number;
  H: number;
  W: number;
  O: number;
  KH: number;
  KW: number;
  HO: number;
  WO: number;
  S: number;
  P: number;
}

export function convGeometry(
  xShape: readonly number[],
  wShape: readonly number[],
  attrs: ConvAttrs,
  where: string,
): ConvGeometry {
  checkConvAttrs(attrs, where);
  const [N, C, H, W] = shape4(xShape, `${where} x`);
  const [O, Cw, KH, KW] = shape4(wShape, `${where} weight`);
  if (Cw !== C)
    throw new Error(
      `${where}: x ${formatShape(xShape)} has ${C} channels but the weight ${formatShape(wShape)} expects ${Cw}.`,
    );
  const HO = convOut(H, KH, attrs.stride, attrs.padding);
  const WO = convOut(W, KW, attrs.stride, attrs.padding);
  if (HO < 1 || WO < 1)
    throw new Error(
      `${where}: the kernel ${KH}×${KW} is larger than the padded image ${H}×${W} (padding ${attrs.padding}).`,
    );
  checkGpuSize(xShape, `${where} x`);
  checkGpuSize(wShape, `${where} weight`);
  checkGpuSize([N, O, HO, WO], `${where} output`);
  return { N, C, H, W, O, KH, KW, HO, WO, S: attrs.stride, P: attrs.padding };
}

function sameSize(d: GpuData, shape: readonly number[], what: string): void {
  const n = shape.reduce((a, b) => a * b, 1);
  if (d.size !== n)
    throw new Error(`${what}: device value has ${d.size} elements but shape ${formatShape(shape)} needs ${n}.`);
}

// ---- convolution -----------------------------------------------------------------------------------

export function conv2d(
  ctx: GpuContext,
  x: GpuData,
  xShape: readonly number[],
  w: GpuData,
  wShape: readonly number[],
  bias: GpuData | null,
  attrs: ConvAttrs,
): { out: GpuData; shape: number[] } {
  const g = convGeometry(xShape, wShape, attrs, 'Conv2D');
  sameSize(x, xShape, 'Conv2D x');
  sameSize(w, wShape, 'Conv2D weight');
  if (bias) sameSize(bias, [g.O], 'Conv2D bias');
  const shape = [g.N, g.O, g.HO, g.WO];
  const out = ctx.run(
    { name: 'Conv2D', source: src.conv2dSource(bias !== null), constants: { ...g }, size: g.N * g.O * g.HO * g.WO },
    bias ? [x, w, bias] : [x, w],
  );
  return { out, shape };
}

export function conv2dBackpropInput(
  ctx: GpuContext,
  dy: GpuData,
  dyShape: readonly number[],
  w: GpuData,
  wShape: readonly number[],
  xShape: readonly number[],
  attrs: ConvAttrs,
): GpuData {
  const g = convGeometry(xShape, wShape, attrs, 'Conv2DBackpropInput');
  const expected = [g.N, g.O, g.HO, g.WO];
  if (dyShape.length !== 4 || dyShape.some((d, i) => d !== expected[i])) {
    throw new Error(
      `Conv2DBackpropInput: dy has shape ${formatShape(dyShape)}, expected ${formatShape(expected)} for x ${formatShape(xShape)} and weight ${formatShape(wShape)}.`,
    );
  }
  sameSize(dy, dyShape, 'Conv2DBackpropInput dy');
  sameSize(w, wShape, 'Conv2DBackpropInput weight');
  return ctx.run(
    {
      name: 'Conv2DBackpropInput',
      source: src.conv2dBackpropInputSource(g.S),
      constants: { ...g },
      size: g.N * g.C * g.H * g.W,
    },
    [dy, w],
  );
}

/** How many images each thread of the filter-gradient stage 1 sums (G = ⌈N/NB⌉ groups). */
export function filterGroups(N: number, wSize: number): { G: number; NB: number } {
  // One group per image gives the most threads; cap G·|w| at the element limit (and at 64 groups).
  const maxG = Math.max(1, Math.min(N, 64, Math.floor(MAX_GPU_ELEMENTS / wSize)));
  const NB = Math.ceil(N / maxG);
  return { G: Math.ceil(N / NB), NB };
}

export function conv2dBackpropFilter(
  ctx: GpuContext,
  dy: GpuData,
  dyShape: readonly number[],
  x: GpuData,
  xShape: readonly number[],
  wShape: readonly number[],
  attrs: ConvAttrs,
): GpuData {
  const g = convGeometry(xShape, wShape, attrs, 'Conv2DBackpropFilter');
  const expected = [g.N, g.O, g.HO, g.WO];
  if (dyShape.length !== 4 || dyShape.some((d, i) => d !== expected[i])) {
    throw new Error(
      `Conv2DBackpropFilter: dy has shape ${formatShape(dyShape)}, expected ${formatShape(expected)} for x ${formatShape(xShape)} and weight ${formatShape(wShape)}.`,
    );
  }
  sameSize(dy, dyShape, 'Conv2DBackpropFilter dy');
  sameSize(x, xShape, 'Conv2DBackpropFilter x');
  const wSize = g.O * g.C * g.KH * g.KW;
  const { G, NB } = filterGroups(g.N, wSize);
  const partial = ctx.run(
    {
      name: 'Conv2DBackpropFilter',
      source: src.conv2dBackpropFilterPartialSource,
      constants: { ...g, NB },
      size: G * wSize,
    },
    [dy, x],
  );
  if (G === 1) return partial;
  return sumRows(ctx, partial, G, wSize, 1, 'Conv2DBackpropFilter');
}

export function conv2dBackpropBias(ctx: GpuContext, dy: GpuData, dyShape: readonly number[]): GpuData {
  const [N, O, HO, WO] = shape4(dyShape, 'Conv2DBackpropBias dy');
  checkGpuSize(dyShape, 'Conv2DBackpropBias dy');
  sameSize(dy, dyShape, 'Conv2DBackpropBias dy');
  return channelSums(ctx, dy, N, O, HO * WO, 1, 'Conv2DBackpropBias');
}

// ---- reductions ------------------------------------------------------------------------------------

/** out[j] = scale · Σ_r a[r·J + j] for a viewed as [R, J]. */
export function sumRows(ctx: GpuContext, a: GpuData, R: number, J: number, scale: number, name: string): GpuData {
  return ctx.run({ name, source: src.sumRowsSource, constants: { R, J, SCALE: scale }, size: J }, [a]);
}

/** out[r] = Σ_l a[r·L + l] for a viewed as [R, L]. */
export function sumLastAxis(ctx: GpuContext, a: GpuData, R: number, L: number, name: string): GpuData {
  return ctx.run({ name, source: src.sumLastAxisSource, constants: { L }, size: R }, [a]);
}

/** Per-channel sums of an NCHW value (C channels, planes of `plane` elements), times `scale`. */
export function channelSums(
  ctx: GpuContext,
  a: GpuData,
  N: number,
  C: number,
  plane: number,
  scale: number,
  name: string,
): GpuData {
  const perImage = sumLastAxis(ctx, a, N * C, plane, name);
  return sumRows(ctx, perImage, N, C, scale, name);
}

// ---- batch norm ------------------------------------------------------------------------------------

export interface BatchNormAttrs {
  training: boolean;
  momentum: number;
  eps: number;
}

export interface BatchNormResult {
  out: GpuData;
  mean: GpuData;
  invStd: GpuData;
  /** New running statistics (training mode), to be swapped into the running tensors in place. */
  runningMean: GpuData | null;
  runningVar: GpuData | null;
}

export function batchNorm2d(
  ctx: GpuContext,
  x: GpuData,
  xShape: readonly number[],
  gamma: GpuData,
  beta: GpuData,
  runningMean: GpuData,
  runningVar: GpuData,
  attrs: BatchNormAttrs,
): BatchNormResult {
  const [N, C, H, W] = shape4(xShape, 'BatchNorm2D x');
  checkGpuSize(xShape, 'BatchNorm2D x');
  sameSize(x, xShape, 'BatchNorm2D x');
  for (const [name, d] of [
    ['gamma', gamma],
    ['beta', beta],
    ['runningMean', runningMean],
    ['runningVar', runningVar],
  ] as const) {
    sameSize(d, [C], `BatchNorm2D ${name}`);
  }
  const { training, momentum, eps } = attrs;
  if (!(eps >= 0) || !Number.isFinite(momentum))
    throw new Error(`BatchNorm2D: eps must be ≥ 0 and momentum finite (got eps ${eps}, momentum ${momentum}).`);
  const plane = H * W;
  const m = N * plane;
  let mean: GpuData;
  let variance: GpuData;
  let newRm: GpuData | null = null;
  let newRv: GpuData | null = null;
  if (training) {
    if (m < 2)
      throw new Error(`BatchNorm2D: training mode needs more than one value per channel (x ${formatShape(xShape)}).`);
    mean = channelSums(ctx, x, N, C, plane, 1 / m, 'BatchNorm2D mean');
    const sq = ctx.run(
      { name: 'BatchNorm2D variance', source: src.bnSqDevPartialSource, constants: { C, PLANE: plane }, size: N * C },
      [x, mean],
    );
    variance = sumRows(ctx, sq, N, C, 1 / m, 'BatchNorm2D variance');
    newRm = ctx.run(
      {
        name: 'BatchNorm2D running mean',
        source: src.bnRunningSource,
        constants: { MOM: momentum, SCALE: 1 },
        size: C,
      },
      [runningMean, mean],
    );
    newRv = ctx.run(
      {
        name: 'BatchNorm2D running var',
        source: src.bnRunningSource,
        constants: { MOM: momentum, SCALE: m / (m - 1) },
        size: C,
      },
      [runningVar, variance],
    );
  } else {
    // a copy, so that the saved statistics do not change when the running ones are updated later
    mean = ctx.run({ name: 'BatchNorm2D mean', source: src.copySource, size: C }, [runningMean]);
    variance = runningVar;
  }
  const invStd = ctx.run({ name: 'BatchNorm2D invStd', source: src.bnInvStdSource, constants: { EPS: eps }, size: C }, [
    variance,
  ]);
  const out = ctx.run(
    { name: 'BatchNorm2D', source: src.bnNormalizeSource, constants: { C, PLANE: plane }, size: N * C * plane },
    [x, gamma, beta, mean, invStd],
  );
  return { out, mean, invStd, runningMean: newRm, runningVar: newRv };
}

/**
 * Batch-norm backward, in the mode the forward ran in:
 *  - 'train' (batch statistics, which depend on x): dx = invStd·(dy·gamma − (dbeta + x̂·dgamma)/M)·…,
 *    the training-mode formula of the cpu kernel;
 *  - 'eval' (constant running statistics): y = gamma·(x − mean)·invStd + beta, so dx = dy·gamma·invStd.
 * In both, dgamma = Σ dy·(x − mean)·invStd and dbeta = Σ dy (sums over N, H, W).
 */
export function batchNorm2dBackward(
  ctx: GpuContext,
  dy: GpuData,
  x: GpuData,
  xShape: readonly number[],
  gamma: GpuData,
  mean: GpuData,
  invStd: GpuData,
  mode: 'train' | 'eval' = 'train',
): { dx: GpuData; dgamma: GpuData; dbeta: GpuData } {
  const k = mode === 'train' ? 'BatchNorm2DBackward' : 'BatchNorm2DEvalBackward';
  const [N, C, H, W] = shape4(xShape, `${k} x`);
  checkGpuSize(xShape, `${k} x`);
  sameSize(dy, xShape, `${k} dy`);
  sameSize(x, xShape, `${k} x`);
  for (const [name, d] of [
    ['gamma', gamma],
    ['mean', mean],
    ['invStd', invStd],
  ] as const)
    sameSize(d, [C], `${k} ${name}`);
  const plane = H * W;
  const dbeta = channelSums(ctx, dy, N, C, plane, 1, `${k} dbeta`);
  const part = ctx.run(
    { name: `${k} dgamma`, source: src.bnDyXmuPartialSource, constants: { C, PLANE: plane }, size: N * C },
    [dy, x, mean],
  );
  const sdyx = sumRows(ctx, part, N, C, 1, `${k} dgamma`);
  const dgamma = ctx.run({ name: `${k} dgamma`, source: src.mulSource, size: C }, [sdyx, invStd]);
  const dx =
    mode === 'train'
      ? ctx.run(
          {
            name: `${k} dx`,
            source: src.bnBackwardDxSource,
            constants: { C, PLANE: plane, M: N * plane },
            size: N * C * plane,
          },
          [dy, x, gamma, mean, invStd, dbeta, dgamma],
        )
      : ctx.run(
          { name: `${k} dx`, source: src.bnEvalBackwardDxSource, constants: { C, PLANE: plane }, size: N * C * plane },
          [dy, gamma, invStd],
        );
  return { dx, dgamma, dbeta };
}

// ---- upsampling ------------------------------------------------------------------------------------

export function upsampleNearest2x(
  ctx: GpuContext,
  x: GpuData,
  xShape: readonly number[],
): { out: GpuData; shape: number[] } {
  const [N, C, H, W] = shape4(xShape, 'UpsampleNearest2x x');
  checkGpuSize(xShape, 'UpsampleNearest2x x');
  sameSize(x, xShape, 'UpsampleNearest2x x');
  const shape = [N, C, 2 * H, 2 * W];
  checkGpuSize(shape, 'UpsampleNearest2x output');
  return {
    out: ctx.run(
      { name: 'UpsampleNearest2x', source: src.upsample2xSource, constants: { H, W }, size: N * C * 4 * H * W },
      [x],
    ),
    shape,
  };
}

export function upsampleNearest2xBackward(
  ctx: GpuContext,
  dy: GpuData,
  dyShape: readonly number[],
): { out: GpuData; shape: number[] } {
  const [N, C, H2, W2] = shape4(dyShape, 'UpsampleNearest2xBackward dy');
  if (H2 % 2 !== 0 || W2 % 2 !== 0)
    throw new Error(`UpsampleNearest2xBackward: dy ${formatShape(dyShape)} must have even height and width.`);
  checkGpuSize(dyShape, 'UpsampleNearest2xBackward dy');
  sameSize(dy, dyShape, 'UpsampleNearest2xBackward dy');
  const H = H2 / 2,
    W = W2 / 2;
  return {
    out: ctx.run(
      {
        name: 'UpsampleNearest2xBackward',
        source: src.upsample2xBackwardSource,
        constants: { H, W },
        size: N * C * H * W,
      },
      [dy],
    ),
    shape: [N, C, H, W],
  };
}

// ---- element-wise ----------------------------------------------------------------------------------

export function unary(ctx: GpuContext, name: string, source: string, a: GpuData, shape: readonly number[]): GpuData {
  const size = checkGpuSize(shape, `${name} input`);
  sameSize(a, shape, name);
  return ctx.run({ name, source, size }, [a]);
}

export function binary(
  ctx: GpuContext,
  name: string,
  source: string,
  a: GpuData,
  aShape: readonly number[],
  b: GpuData,
  bShape: readonly number[],
): GpuData {
  if (aShape.length !== bShape.length || aShape.some((d, i) => d !== bShape[i])) {
    throw new Error(
      `${name}: the gpu kernel needs equal shapes (got ${formatShape(aShape)} and ${formatShape(bShape)}); expand/broadcast first.`,
    );
  }
  const size = checkGpuSize(aShape, `${name} input`);
  sameSize(a, aShape, name);
  sameSize(b, bShape, name);
  return ctx.run({ name, source, size }, [a, b]);
}

export function concatChannels(
  ctx: GpuContext,
  parts: readonly { data: GpuData; shape: readonly number[] }[],
): { out: GpuData; shape: number[] } {
  if (parts.length === 0) throw new Error('ConcatChannels: needs at least one input.');
  const first = shape4(parts[0]!.shape, 'ConcatChannels input 0');
  const [N, , H, W] = first;
  const constants: Record<string, number> = { PLANE: H * W };
  let CT = 0;
  parts.forEach((p, j) => {
    const s = shape4(p.shape, `ConcatChannels input ${j}`);
    if (s[0] !== N || s[2] !== H || s[3] !== W) {
      throw new Error(
        `ConcatChannels: input ${j} has shape ${formatShape(s)}, but N, H, W must match input 0 ${formatShape(first)}.`,
      );
    }
    checkGpuSize(s, `ConcatChannels input ${j}`);
    sameSize(p.data, s, `ConcatChannels input ${j}`);
    constants[`C${j}`] = s[1];
    CT += s[1];
  });
  constants.CT = CT;
  const shape = [N, CT, H, W];
  const size = checkGpuSize(shape, 'ConcatChannels output');
  return {
    out: ctx.run(
      { name: 'ConcatChannels', source: src.concatChannelsSource(parts.length), constants, size },
      parts.map((p) => p.data),
    ),
    shape,
  };
}

/** Channels [start, start + channels) of an NCHW value (the backward of concatChannels). */
export function sliceChannels(
  ctx: GpuContext,
  x: GpuData,
  xShape: readonly number[],
  start: number,
  channels: number,
): { out: GpuData; shape: number[] } {
  const [N, CT, H, W] = shape4(xShape, 'SliceChannels x');
  if (!Number.isInteger(start) || !Number.isInteger(channels) || start < 0 || channels < 1 || start + channels > CT) {
    throw new Error(
      `SliceChannels: channels [${start}, ${start + channels}) are not inside the ${CT} channels of ${formatShape(xShape)}.`,
    );
  }
  checkGpuSize(xShape, 'SliceChannels x');
  sameSize(x, xShape, 'SliceChannels x');
  const shape = [N, channels, H, W];
  const size = checkGpuSize(shape, 'SliceChannels output');
  return {
    out: ctx.run(
      {
        name: 'SliceChannels',
        source: src.sliceChannelsSource,
        constants: { C: channels, CT, START: start, PLANE: H * W },
        size,
      },
      [x],
    ),
    shape,
  };
}

// ---- optimisers ------------------------------------------------------------------------------------

/** One Adam step of a parameter: the new weight and moments (to be swapped in by the caller). `hp`: see sources.ADAM_HP. */
export function adamUpdate(
  ctx: GpuContext,
  w: GpuData,
  g: GpuData,
  m: GpuData,
  v: GpuData,
  hp: GpuData,
  decoupled: boolean,
): { w: GpuData; m: GpuData; v: GpuData } {
  const size = w.size;
  for (const [name, d] of [
    ['grad', g],
    ['m', m],
    ['v', v],
  ] as const) {
    if (d.size !== size) throw new Error(`AdamUpdate: ${name} has ${d.size} values, the parameter ${size}.`);
  }
  const constants = { DECOUPLED: decoupled ? 1 : 0 };
  const m2 = ctx.run({ name: 'AdamUpdate m', source: src.adamMoment1Source, constants, size }, [m, g, w, hp]);
  const v2 = ctx.run({ name: 'AdamUpdate v', source: src.adamMoment2Source, constants, size }, [v, g, w, hp]);
  const w2 = ctx.run({ name: 'AdamUpdate w', source: src.adamParamSource, constants, size }, [w, m2, v2, hp]);
  return { w: w2, m: m2, v: v2 };
}

/** One SGD step of a parameter; with momentum (velocity `v` given) also the new velocity. `hp`: see sources.SGD_HP. */
export function sgdUpdate(
  ctx: GpuContext,
  w: GpuData,
  g: GpuData,
  v: GpuData | null,
  hp: GpuData,
  nesterov: boolean,
): { w: GpuData; v: GpuData | null } {
  const size = w.size;
  if (g.size !== size || (v && v.size !== size))
    throw new Error(`SgdUpdate: the gradient and velocity must have the parameter's ${size} values.`);
  if (!v) return { w: ctx.run({ name: 'SgdUpdate w', source: src.sgdParamSource, size }, [w, g, hp]), v: null };
  const v2 = ctx.run({ name: 'SgdUpdate v', source: src.sgdVelocitySource, size }, [v, g, w, hp]);
  const w2 = ctx.run(
    { name: 'SgdUpdate w', source: src.sgdMomentumParamSource, constants: { NESTEROV: nesterov ? 1 : 0 }, size },
    [w, g, v2, hp],
  );
  return { w: w2, v: v2 };
}
