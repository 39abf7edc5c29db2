/**
 * Which algorithm the 'wasm' backend runs a convolution with, and the drivers of the Winograd one (winograd.ts,
 * winograd4.ts, winogradWeightGrad.ts, winograd4WeightGrad.ts): the forward pass, the input gradient and the weight
 * gradient of 3×3 convolutions with stride 1 and padding 1.
 *
 * - `'direct'`: the gather and pointwise kernels (conv2d.ts) for every convolution: what every release before
 *   this one computed, bit for bit.
 * - `'winograd'`: F(2×2, 3×3) wherever it applies (3×3, stride 1, padding 1), the direct kernels elsewhere.
 * - `'winograd4'`: F(4×4, 3×3) (winograd4.ts, winograd4WeightGrad.ts) for all three passes wherever it applies,
 *   the direct kernels elsewhere.
 * - `'auto'` (the default): Winograd only for the passes and shapes where it measured faster than the direct
 *   kernels (`winogradPays`, docs/kernels.md), and F(4×4) where that measured faster than F(2×2)
 *   (`winograd4Pays`, `winograd4WeightGradPays`); the direct kernels elsewhere.
 *
 * `SIZESEG_CONV_ALGORITHM=direct|winograd|winograd4|auto` sets it at start-up; `setConvAlgorithm` at run time. The
 * direct kernels, F(2×2) and F(4×4) give different bits (each within its float32 bound); each gives the same bits
 * for any thread count.
 */
import type { Conv2dOptions, Geometry, Shape4 } from '../js/conv2d.js';
import { geometry } from '../js/conv2d.js';
import { choiceFromEnv, parseChoice } from './envChoice.js';
import { kernelInput, kernelOutput } from './arena.js';
import { padIntoScratch, threadsFor } from './conv2d.js';
import { ARGS_BYTE, codeVariantKey, kernelModule, runItems, scratch, setArgs } from './runtime.js';
import { getNumThreads } from './threads.js';
import {
  buildReduceModule,
  buildWeightGradWinogradModule,
  paddedChannels,
  reduceKey,
  runWeightGradPasses,
  weightGradWinogradKey,
  weightGradWinogradSpec,
} from './winogradWeightGrad.js';
import {
  buildWeightTransformModule,
  buildWinogradModule,
  weightTransformKey,
  winogradKey,
  winogradSpec,
  type WeightTransformSpec,
  type WinogradSpec,
} from './winograd.js';
import {
  buildWeightTransform4Module,
  buildWinograd4Module,
  weightTransform4Key,
  winograd4Key,
  winograd4Spec,
  XI4,
  type Winograd4Spec,
} from './winograd4.js';
import { weightGradWinograd4 } from './winograd4WeightGrad.js';

export type ConvAlgorithm = 'auto' | 'direct' | 'winograd' | 'winograd4';
const ALGORITHMS: readonly ConvAlgorithm[] = ['auto', 'direct', 'winograd', 'winograd4'];

/** The algorithm a SIZESEG_CONV_ALGORITHM value names ('auto' when unset or empty); a clear error otherwise. */
export function parseConvAlgorithm(value: string | undefined): ConvAlgorithm {
  return parseChoice('SIZESEG_CONV_ALGORITHM', value, ALGORITHMS);
}

let algorithm: ConvAlgorithm | null = null;

/** The convolution algorithm of the 'wasm' backend (see the top of this file). */
export function getConvAlgorithm(): ConvAlgorithm {
  return (algorithm ??= choiceFromEnv('SIZESEG_CONV_ALGORITHM', ALGORITHMS));
}

export function setConvAlgorithm(a: ConvAlgorithm): void {
  if (!(ALGORITHMS as readonly string[]).includes(a)) {
    throw new Error(`setConvAlgorithm: expected one of ${ALGORITHMS.join(', ')}, got ${String(a)}`);
  }
  algorithm = a;
}

/** Whether Winograd F(2×2, 3×3) can run this convolution: a 3×3 kernel, stride 1, padding 1 (output = input size). */
export function winogradApplies(g: Geometry): boolean {
  return g.KH === 3 && g.KW === 3 && g.s === 1 && g.p === 1;
}

/**
 * Where 'auto' takes Winograd: the passes and shapes where it measured faster (bench/convWinograd.bench.ts,
 * docs/kernels.md). `C` is the channel count the pass reduces over (the input's for the forward pass, the
 * output's for the input gradient), `O` the count it produces.
 * - At least 16 channels each way: every such layer of ResUNet-lite ran 1.2–2.3× faster on Winograd (16→16 at
 *   48×32 included); the stem (1 input channel) ran at 0.7–0.9× (its product has one term: the transforms are
 *   the whole cost).
 * - Tile rows that fill whole vectors of four tiles (⌈W/2⌉ a multiple of 4, or nearly: at most 1 tile in 5 is
 *   padding): the 6×4 map (2 tiles a row, padded to 4) does 1.13× fewer multiplications, not 2.25×, and ran at
 *   0.6–1.1× the direct kernels.
 */
export function winogradPays(C: number, O: number, H: number, W: number): boolean {
  void H;
  const tilesPerRow = Math.ceil(W / 2);
  const padded = Math.ceil(tilesPerRow / 4) * 4;
  return C >= 16 && O >= 16 && padded <= 1.25 * tilesPerRow;
}

/**
 * Where 'auto' takes F(4×4, 3×3) for the forward pass or the input gradient (C reduced, O produced, as for
 * winogradPays): measured faster than F(2×2) on every 3×3 stride-1 layer of ResUNet-lite with 16 channels and
 * more each way (bench/convWinograd.bench.ts, docs/kernels.md "F(4×4, 3×3)"), and than the direct kernels on the
 * 6×4 map, where F(2×2) is not. The stem (1 input channel) stays direct: the transforms are its whole cost. The
 * last condition keeps small maps off it: its 4×4 tiles, cut by the border, must do at most a third of the
 * direct kernel's multiplications (6×4, the smallest map measured, does exactly a third: 2 tiles of 36).
 */
export function winograd4Pays(C: number, O: number, H: number, W: number): boolean {
  return C >= 16 && O >= 16 && 3 * 36 * Math.ceil(H / 4) * Math.ceil(W / 4) <= 9 * H * W;
}

/** Winograd's tile (2: F(2×2, 3×3), 4: F(4×4, 3×3)) for a forward or input-gradient pass under the current setting. */
export type WinogradTile = 2 | 4;

/** The tile a Winograd forward or input-gradient pass reducing over C channels into O takes under the current setting. */
export function winogradTileFor(C: number, O: number, H: number, W: number): WinogradTile {
  const a = getConvAlgorithm();
  return a === 'winograd4' || (a === 'auto' && winograd4Pays(C, O, H, W)) ? 4 : 2;
}

function useWinograd(g: Geometry, C: number, O: number): boolean {
  const a = getConvAlgorithm();
  if (a === 'direct' || !winogradApplies(g)) return false;
  return a === 'winograd' || a === 'winograd4' || winogradPays(C, O, g.H, g.W) || winograd4Pays(C, O, g.H, g.W);
}

/**
 * Where 'auto' takes Winograd for the weight gradient (winogradWeightGrad.ts): where it takes it for the other
 * two passes. Its products are O × C, reduced over tiles, so the same sizes matter; measured 1.2–1.9× as fast
 * on those layers of ResUNet-lite, 0.7–0.9× on the stem and the 6×4 map.
 */
export function winogradWeightGradPays(C: number, O: number, H: number, W: number): boolean {
  return winogradPays(C, O, H, W);
}

let autoWeightGrad4 = true;

/**
 * Whether 'auto' may take F(4×4) for the weight gradient (default true). False gives 'auto' as it was before
 * winograd4WeightGrad.ts, for benchmarks that compare the two in one process (bench/compareSettings.ts dw4).
 */
export function setAutoWeightGrad4(on: boolean): void {
  autoWeightGrad4 = on;
}

/**
 * Where 'auto' takes F(4×4, 3×3) for the weight gradient (winograd4WeightGrad.ts): where it takes it for the other
 * two passes (winograd4Pays), every 3×3 stride-1 layer of ResUNet-lite but the stem. Measured there (batch 32,
 * bench/convWinograd.bench.ts --pass weight, alternated, 1 and 2 threads; docs/kernels.md "F(4×4, 3×3) for the
 * weight gradient"): 1.38–1.54× as fast as F(2×2) on the 48×32 layers, 1.65–1.99× on 24×16 and 12×8, and on the 6×4
 * map 2.5–2.6× as fast as the direct kernels that 'auto' ran there before (F(2×2) is slower than those). The stem
 * (1 input channel) stays direct: F(4×4) ran at 0.6× the direct kernels' speed there.
 */
export function winograd4WeightGradPays(C: number, O: number, H: number, W: number): boolean {
  return autoWeightGrad4 && winograd4Pays(C, O, H, W);
}

/** The tile the weight gradient of C → O channels at H×W takes under the current setting, where it runs Winograd. */
export function winogradWeightGradTileFor(C: number, O: number, H: number, W: number): WinogradTile {
  const a = getConvAlgorithm();
  return a === 'winograd4' || (a === 'auto' && winograd4WeightGradPays(C, O, H, W)) ? 4 : 2;
}

/** Whether the weight gradient of this convolution runs on Winograd (either tile) under the current setting. */
export function winogradWeightGradChosen(xShape: Shape4, wShape: Shape4, opts: Conv2dOptions): boolean {
  const g = geometry(xShape, wShape, opts);
  const a = getConvAlgorithm();
  if (a === 'direct' || !winogradApplies(g)) return false;
  return a === 'winograd' || a === 'winograd4' || winogradWeightGradPays(g.C, g.O, g.H, g.W) || winograd4WeightGradPays(g.C, g.O, g.H, g.W);
}

/** Whether the forward pass of this convolution runs on Winograd (either tile) under the current setting. */
export function winogradForwardChosen(xShape: Shape4, wShape: Shape4, opts: Conv2dOptions): boolean {
  const g = geometry(xShape, wShape, opts);
  return useWinograd(g, g.C, g.O);
}

/** Whether the input gradient of this convolution runs on Winograd (either tile) under the current setting. */
export function winogradInputGradChosen(xShape: Shape4, wShape: Shape4, opts: Conv2dOptions): boolean {
  const g = geometry(xShape, wShape, opts);
  return useWinograd(g, g.O, g.C);
}

interface Plan {
  spec: WinogradSpec | Winograd4Spec;
  kernel: ReturnType<typeof kernelModule>;
  weights: ReturnType<typeof kernelModule>;
  wspec: WeightTransformSpec;
}

const plans = new Map<string, Plan>();

function plan(
  N: number, C: number, O: number, H: number, W: number, bias: boolean, relu: boolean, flip: boolean, tile: WinogradTile,
): Plan {
  const wspec: WeightTransformSpec = { A: O, B: C, flip };
  if (tile === 4) {
    const spec = winograd4Spec(N, C, O, H, W, bias, relu);
    const key = codeVariantKey(`${winograd4Key(spec)}:${flip}`);
    let p = plans.get(key);
    if (p === undefined) {
      p = {
        spec,
        wspec,
        kernel: kernelModule(winograd4Key(spec), () => buildWinograd4Module(spec)),
        weights: kernelModule(weightTransform4Key(wspec), () => buildWeightTransform4Module(wspec)),
      };
      plans.set(key, p);
    }
    return p;
  }
  const spec = winogradSpec(N, C, O, H, W, bias, relu);
  const key = `${winogradKey(spec)}:${flip}`;
  let p = plans.get(codeVariantKey(key));
  if (p === undefined) {
    p = {
      spec,
      wspec,
      kernel: kernelModule(winogradKey(spec), () => buildWinogradModule(spec)),
      weights: kernelModule(weightTransformKey(wspec), () => buildWeightTransformModule(wspec)),
    };
    plans.set(codeVariantKey(key), p);
  }
  return p;
}

/** Transformed weights below this many filters are computed on one thread (a hand-off costs tens of µs). */
const WEIGHT_THREAD_MIN = 4096;

/**
 * out [N][O][H][W] = the stride-1, padding-1 3×3 convolution of `src` [N][C][H][W] with the filters of `w`
 * (forward: w [O][C][3][3]; flipped: w [C][O][3][3] rotated by 180° with the channel roles swapped, the
 * input gradient), by Winograd F(tile×tile, 3×3).
 */
function runWinograd(
  src: Float32Array, N: number, C: number, O: number, H: number, W: number,
  w: Float32Array, flip: boolean, bias: Float32Array | null, relu: boolean, tile: WinogradTile,
): Float32Array {
  const { spec, kernel, weights, wspec } = plan(N, C, O, H, W, bias !== null, relu, flip, tile);
  const positions = tile === 4 ? XI4 : 16;
  scratch.reset();
  const out = kernelOutput(N * O * H * W);
  // F(4×4) pads inside its items (winograd4.ts); F(2×2) reads a padded copy
  const srcB = tile === 4 ? kernelInput(src.subarray(0, N * C * H * W)) : padIntoScratch(src, N * C, C, H, W, spec.Hp, spec.Wp, 1, 1);
  const wB = kernelInput(w.subarray(0, O * C * 9));
  const uB = scratch.alloc(positions * O * C);
  setArgs([wB, uB]);
  runItems(weights, 'item', ARGS_BYTE, wspec.A, O * C >= WEIGHT_THREAD_MIN ? getNumThreads() : 1);
  const biasB = bias === null ? 0 : kernelInput(bias.subarray(0, O));
  // one work area per thread that runs items (runItems uses at most `threads` of them)
  const threads = threadsFor(2 * N * O * H * W * C * 9);
  const workB = scratch.alloc(threads * spec.workFloats);
  setArgs([srcB, uB, out.byte, biasB, workB, 0]);
  runItems(kernel, 'item', ARGS_BYTE, spec.items, threads);
  return out.result();
}

/**
 * y = conv2d(x, w) + bias (3×3, stride 1, padding 1) by Winograd; with `relu`, max(y, 0). `tile`: F(2×2, 3×3)
 * or F(4×4, 3×3); by default the one the current setting takes for this shape.
 */
export function conv2dForwardWinograd(
  x: Float32Array, xShape: Shape4, w: Float32Array, wShape: Shape4, bias: Float32Array | null, opts: Conv2dOptions, relu = false,
  tile?: WinogradTile,
): { out: Float32Array; outShape: Shape4 } {
  const g = geometry(xShape, wShape, opts);
  if (!winogradApplies(g)) throw new Error(`conv2dForwardWinograd: needs a 3×3 kernel, stride 1 and padding 1 (got ${g.KH}×${g.KW}, stride ${g.s}, padding ${g.p})`);
  const { N, C, H, W, O } = g;
  const outShape: Shape4 = [N, O, H, W];
  if (N * O * H * W === 0) return { out: new Float32Array(0), outShape };
  return { out: runWinograd(x, N, C, O, H, W, w, false, bias, relu, tile ?? winogradTileFor(C, O, H, W)), outShape };
}

/**
 * dL/dx of y = conv2d(x, w) (3×3, stride 1, padding 1) by Winograd: the convolution of dy with the flipped
 * filters. `tile` as for conv2dForwardWinograd.
 */
export function conv2dBackwardInputWinograd(
  dy: Float32Array, dyShape: Shape4, w: Float32Array, wShape: Shape4, xShape: Shape4, opts: Conv2dOptions, tile?: WinogradTile,
): Float32Array {
  const g = geometry(xShape, wShape, opts);
  if (!winogradApplies(g)) throw new Error(`conv2dBackwardInputWinograd: needs a 3×3 kernel, stride 1 and padding 1 (got ${g.KH}×${g.KW}, stride ${g.s}, padding ${g.p})`);
  const { N, C, H, W, O } = g;
  if (dyShape[0] !== N || dyShape[1] !== O || dyShape[2] !== H || dyShape[3] !== W) {
    throw new Error(`conv2d: dy shape [${dyShape.join(', ')}] does not match the output [${N}, ${O}, ${H}, ${W}]`);
  }
  if (N * C * H * W === 0) return new Float32Array(0);
  if (O === 0) return new Float32Array(N * C * H * W);
  return runWinograd(dy, N, O, C, H, W, w, true, null, false, tile ?? winogradTileFor(O, C, H, W));
}

/**
 * dL/dw of y = conv2d(x, w) (3×3, stride 1, padding 1) by Winograd: Gᵀ [Σ_tiles (A dy Aᵀ) ⊙ (Bᵀ d B)] G. `tile`:
 * F(2×2, 3×3) or F(4×4, 3×3) (winograd4WeightGrad.ts); by default the one the current setting takes for this shape.
 */
export function conv2dBackwardWeightWinograd(
  dy: Float32Array, dyShape: Shape4, x: Float32Array, xShape: Shape4, wShape: Shape4, opts: Conv2dOptions,
  tile?: WinogradTile,
): Float32Array {
  const g = geometry(xShape, wShape, opts);
  if (!winogradApplies(g)) throw new Error(`conv2dBackwardWeightWinograd: needs a 3×3 kernel, stride 1 and padding 1 (got ${g.KH}×${g.KW}, stride ${g.s}, padding ${g.p})`);
  const { N, C, H, W, O } = g;
  if (dyShape[0] !== N || dyShape[1] !== O || dyShape[2] !== H || dyShape[3] !== W) {
    throw new Error(`conv2d: dy shape [${dyShape.join(', ')}] does not match the output [${N}, ${O}, ${H}, ${W}]`);
  }
  if (N === 0 || O === 0 || C === 0) return new Float32Array(O * C * 9);
  if ((tile ?? winogradWeightGradTileFor(C, O, H, W)) === 4) return weightGradWinograd4(dy, x, N, C, O, H, W);
  const spec = weightGradWinogradSpec(N, C, O, H, W);
  const kernel = kernelModule(weightGradWinogradKey(spec), () => buildWeightGradWinogradModule(spec));
  const rspec = { O, C, K: spec.items };
  const reduce = kernelModule(reduceKey(rspec), () => buildReduceModule(rspec));
  scratch.reset();
  const dw = kernelOutput(O * C * 9);
  const xB = padIntoScratch(x, N * C, C, H, W, spec.Hp, spec.Wp, 1, 1);
  const dyB = padIntoScratch(dy, N * O, O, H, W, 2 * spec.tH, 2 * spec.tWp, 0, 0);
  const partials = spec.items * 16 * O * paddedChannels(C);
  const threads = threadsFor(2 * N * O * H * W * C * 9);
  runWeightGradPasses(kernel, reduce, { xB, dyB, dwByte: dw.byte }, { items: spec.items, partials, workFloats: spec.workFloats, threads, O });
  return dw.result();
}
