/**
 * Why size training shrinks the masks (issue 23, part 1): `npm run experiment -- mechanism --preset paper`.
 *
 * Reads the pre-trained networks (<out>/fig7-<preset>/runs/…/pretrained.ckpt) and the networks the remedies run
 * left (<out>/remedies-<preset>/runs/m<M>-s<seed>/{size,anchor,joint}.ckpt) and measures on the test split:
 *  1. **where pixels change**: the truth's foreground pixels split by their Chebyshev distance to the truth's
 *     largest inscribed squares (the union of all maximal squares, the only part of the object g measures):
 *     inside them, 1–2 pixels away, ≥ 3 away (thin parts, tails); for each network the fraction of them predicted
 *     foreground (thresholded at ½), and the same for background pixels near (≤ 2) and far from the object;
 *  2. **probabilities there**: histograms of σ(a) of those foreground pixels, per region and network;
 *  3. **g of sampled vs thresholded masks**: the loss sees g(Y) of masks sampled from σ(a), evaluation g(ŷ) of
 *     the thresholded one; mean g(Y) − s and g(ŷ) − s, and the areas of both against the true area;
 *  4. **the sign pattern of the Lemma-1 gradient** at the pre-trained network: ∂L/∂p averaged over samples, per
 *     pixel, grouped by the distance to the largest inscribed squares of the network's own thresholded mask; the
 *     descent direction −∂L/∂p says which pixels the size loss pushes up or down, and which it does not touch.
 * Writes mechanism.json, SVG figures and a PNG of examples under <out>/remedies-<preset>/mechanism/.
 * Every number is over test images; nothing here chooses anything.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Rng } from '../autograd/rng.js';
import type { SegDataset } from '../data/index.js';
import { dtKernel, DT_INF } from '../estimators/distanceTransform.js';
import { lemma1Gradient } from '../estimators/lemma1.js';
import { finiteSize, objectSizeUnchecked } from '../estimators/objectSize.js';
import { ResUNet } from '../models/resunet.js';
import { loadCheckpointInto } from '../train/checkpoint.js';
import { foregroundPriorLogit } from '../train/metrics.js';
import { predictLogits } from '../train/trainer.js';
import { encodePng } from '../viz/png.js';
import { lineChartSvg } from '../viz/svg.js';
import { annotatedSubset, mean, stdErr, type ExperimentContext } from './common.js';
import { loadVolumePools } from './fig7paper.js';
import { REMEDIES_PROTOCOLS, type RemediesProtocol } from './remedies.js';

/**
 * Chebyshev distance of every pixel to the union S of the mask's largest inscribed squares (0 inside S); all
 * DT_INF for an empty mask. With d the distance transform (d = 1 on the object's edge) and D = max d, a pixel c
 * with d_c = D is the centre of a foreground square of radius D − 1; S is the union of those squares.
 */
export function distanceToInscribedSquares(mask: Uint8Array, offset: number, H: number, W: number): Int32Array {
  const V = H * W;
  const d = new Int32Array(V);
  const D = dtKernel(mask, offset, H, W, d, 0);
  const out = new Int32Array(V).fill(DT_INF);
  if (D === 0) return out;
  const inS = new Uint8Array(V);
  if (D >= DT_INF) {
    inS.fill(1);
  } else {
    for (let c = 0; c < V; c++) {
      if (d[c] !== D) continue;
      const r0 = Math.floor(c / W);
      const c0 = c % W;
      for (let r = Math.max(0, r0 - D + 1); r <= Math.min(H - 1, r0 + D - 1); r++) {
        for (let q = Math.max(0, c0 - D + 1); q <= Math.min(W - 1, c0 + D - 1); q++) inS[r * W + q] = 1;
      }
    }
  }
  // the distance to S is the distance transform of "not S" (S as the background)
  const notS = new Uint8Array(V);
  for (let i = 0; i < V; i++) notS[i] = inS[i] ? 0 : 1;
  const dist = new Int32Array(V);
  dtKernel(notS, 0, H, W, dist, 0);
  for (let i = 0; i < V; i++) out[i] = inS[i] ? 0 : dist[i]!;
  return out;
}

/** Foreground regions by distance to the inscribed squares, and background regions by distance to the object. */
export const FG_REGIONS = ['in square', '1–2 px from it', '≥ 3 px from it (thin parts)'] as const;
export const BG_REGIONS = ['background ≤ 2 px from the object', 'background farther'] as const;
const fgRegion = (dist: number): number => (dist === 0 ? 0 : dist <= 2 ? 1 : 2);

/** Distance of every pixel to the mask's foreground (0 on it; DT_INF when there is none). */
function distanceToObject(mask: Uint8Array, offset: number, H: number, W: number): Int32Array {
  const V = H * W;
  const inv = new Uint8Array(V);
  let any = false;
  for (let i = 0; i < V; i++) {
    inv[i] = mask[offset + i] ? 0 : 1;
    any ||= mask[offset + i] === 1;
  }
  const out = new Int32Array(V);
  if (!any) return out.fill(DT_INF);
  dtKernel(inv, 0, H, W, out, 0);
  return out;
}

const sigmoid = (a: number): number => 1 / (1 + Math.exp(-a));

export interface NetworkStats {
  name: string;
  /** Fraction of the truth's pixels of each FG region predicted foreground; then of each BG region. */
  recall: number[];
  falsePositive: number[];
  /** Fraction of the truth's foreground pixels predicted foreground, by distance 0, 1, …, ≥ MAXD to the truth's squares. */
  recallByDistance: number[];
  /** Pixels per region over all test images (the same for every network). */
  fgCounts: number[];
  bgCounts: number[];
  /** Histograms of σ(a) of the truth's foreground pixels per FG region (20 bins of 0.05), as fractions. */
  hist: number[][];
  /** Means over images of g(Y) − s (sampled), g(ŷ) − s (thresholded), and area(Y), area(ŷ) over the true area. */
  gSampledMinusS: { mean: number; se: number };
  gThresholdedMinusS: { mean: number; se: number };
  areaSampledOverTrue: number;
  areaThresholdedOverTrue: number;
  /** Fraction of test images where g(Y) < g(ŷ) (sampled masks measure smaller). */
  sampledSmaller: number;
}

const BINS = 20;
/** Distances to the inscribed squares are binned 0, 1, …, MAXD − 1 and ≥ MAXD. */
export const MAXD = 8;

/** Statistics 1–3 of one network on the test images. */
function networkStats(
  name: string,
  logits: Float32Array,
  ds: SegDataset,
  test: readonly number[],
  regions: Int32Array[],
  objDist: Int32Array[],
  rng: Rng,
  samples: number,
): NetworkStats {
  const H = ds.height;
  const W = ds.width;
  const V = H * W;
  const fgHit = [0, 0, 0];
  const fgN = [0, 0, 0];
  const bgHit = [0, 0];
  const bgN = [0, 0];
  const byDHit = new Array<number>(MAXD + 1).fill(0);
  const byDN = new Array<number>(MAXD + 1).fill(0);
  const hist = FG_REGIONS.map(() => new Array<number>(BINS).fill(0));
  const gS: number[] = [];
  const gT: number[] = [];
  let areaS = 0;
  let areaT = 0;
  let areaTrue = 0;
  let smaller = 0;
  const y = new Uint8Array(V);
  const yhat = new Uint8Array(V);
  const scratch = new Int32Array(V);
  test.forEach((n, b) => {
    const s = ds.sizes[n] as number;
    const reg = regions[b]!;
    const od = objDist[b]!;
    for (let i = 0; i < V; i++) {
      const p = sigmoid(logits[b * V + i]!);
      const pred = logits[b * V + i]! > 0 ? 1 : 0;
      yhat[i] = pred;
      if (ds.masks[n * V + i]) {
        const k = fgRegion(reg[i]!);
        fgN[k]!++;
        fgHit[k]! += pred;
        const dk = Math.min(MAXD, reg[i]!);
        byDN[dk]!++;
        byDHit[dk]! += pred;
        hist[k]![Math.min(BINS - 1, Math.floor(p * BINS))]!++;
        areaTrue++;
      } else {
        const k = od[i]! <= 2 ? 0 : 1;
        bgN[k]!++;
        bgHit[k]! += pred;
      }
      areaT += pred;
    }
    const gHat = finiteSize(objectSizeUnchecked(yhat, 0, H, W, scratch), H, W);
    gT.push(gHat - s);
    let gSum = 0;
    for (let k = 0; k < samples; k++) {
      for (let i = 0; i < V; i++) {
        y[i] = rng.uniform() < sigmoid(logits[b * V + i]!) ? 1 : 0;
        areaS += y[i]! / samples;
      }
      gSum += finiteSize(objectSizeUnchecked(y, 0, H, W, scratch), H, W);
    }
    gS.push(gSum / samples - s);
    if (gSum / samples < gHat) smaller++;
  });
  return {
    name,
    recall: fgHit.map((h, k) => h / Math.max(1, fgN[k]!)),
    recallByDistance: byDHit.map((h, k) => (byDN[k]! > 0 ? h / byDN[k]! : Number.NaN)),
    falsePositive: bgHit.map((h, k) => h / Math.max(1, bgN[k]!)),
    fgCounts: fgN,
    bgCounts: bgN,
    hist: hist.map((h, k) => h.map((c) => c / Math.max(1, fgN[k]!))),
    gSampledMinusS: { mean: mean(gS), se: stdErr(gS) },
    gThresholdedMinusS: { mean: mean(gT), se: stdErr(gT) },
    areaSampledOverTrue: areaS / Math.max(1, areaTrue),
    areaThresholdedOverTrue: areaT / Math.max(1, areaTrue),
    sampledSmaller: smaller / Math.max(1, test.length),
  };
}

/** Distance classes around the network's own inscribed squares for the gradient's sign pattern. */
export const GRAD_REGIONS = [
  'in its square',
  'ring 1 px outside the square, in the mask',
  '2–3 px, in the mask',
  '≥ 4 px, in the mask',
  'background 1 px from the mask',
  'background ≥ 2 px',
] as const;
function gradRegion(distSq: number, distObj: number, inMask: boolean): number {
  if (inMask) return distSq === 0 ? 0 : distSq === 1 ? 1 : distSq <= 3 ? 2 : 3;
  return distObj <= 1 ? 4 : 5;
}

export interface GradientStats {
  /** Mean of −∂L/∂p per region (positive: the size loss pushes the probability up), and its s.e. over images. */
  descent: { mean: number; se: number }[];
  /** Fraction of pixels per region whose averaged gradient is not 0, and of those, the fraction pushed down. */
  touched: number[];
  pushedDown: number[];
  counts: number[];
  /** Inside the network's mask, by distance 0, 1, …, ≥ MAXD to its squares: mean −∂L/∂p and the fraction touched. */
  descentByDistance: number[];
  touchedByDistance: number[];
}

/**
 * The Lemma-1 gradient at a network: for each test image, ∂L/∂p averaged over `samples` masks sampled from
 * σ(a), grouped by region of the network's own thresholded mask. Returns the stats and the per-pixel maps.
 */
function gradientStats(
  logits: Float32Array,
  ds: SegDataset,
  test: readonly number[],
  rng: Rng,
  samples: number,
): { stats: GradientStats; maps: Float64Array[] } {
  const H = ds.height;
  const W = ds.width;
  const V = H * W;
  const R = GRAD_REGIONS.length;
  const perImage: number[][] = Array.from({ length: R }, () => []);
  const touched = new Array<number>(R).fill(0);
  const down = new Array<number>(R).fill(0);
  const counts = new Array<number>(R).fill(0);
  const maps: Float64Array[] = [];
  const byD = new Array<number>(MAXD + 1).fill(0);
  const byDTouched = new Array<number>(MAXD + 1).fill(0);
  const byDN = new Array<number>(MAXD + 1).fill(0);
  const p = new Float64Array(V);
  const y = new Uint8Array(V);
  const yhat = new Uint8Array(V);
  test.forEach((n, b) => {
    for (let i = 0; i < V; i++) {
      p[i] = sigmoid(logits[b * V + i]!);
      yhat[i] = logits[b * V + i]! > 0 ? 1 : 0;
    }
    const g = new Float64Array(V);
    for (let k = 0; k < samples; k++) {
      for (let i = 0; i < V; i++) y[i] = rng.uniform() < p[i]! ? 1 : 0;
      const est = lemma1Gradient(y, H, W, ds.sizes[n] as number);
      for (let i = 0; i < V; i++) g[i]! += est[i]! / samples;
    }
    maps.push(g);
    const dSq = distanceToInscribedSquares(yhat, 0, H, W);
    const dObj = distanceToObject(yhat, 0, H, W);
    const sums = new Array<number>(R).fill(0);
    const ns = new Array<number>(R).fill(0);
    for (let i = 0; i < V; i++) {
      const r = gradRegion(dSq[i]!, dObj[i]!, yhat[i] === 1);
      sums[r]! += -g[i]!;
      ns[r]!++;
      counts[r]!++;
      if (yhat[i] === 1) {
        const dk = Math.min(MAXD, dSq[i]!);
        byD[dk]! += -g[i]!;
        byDN[dk]!++;
        if (g[i] !== 0) byDTouched[dk]!++;
      }
      if (g[i] !== 0) {
        touched[r]!++;
        if (g[i]! > 0) down[r]!++;
      }
    }
    for (let r = 0; r < R; r++) if (ns[r]! > 0) perImage[r]!.push(sums[r]! / ns[r]!);
  });
  return {
    stats: {
      descent: perImage.map((xs) => ({ mean: mean(xs), se: stdErr(xs) })),
      touched: touched.map((t, r) => t / Math.max(1, counts[r]!)),
      pushedDown: down.map((d, r) => d / Math.max(1, touched[r]!)),
      counts,
      descentByDistance: byD.map((v, k) => (byDN[k]! > 0 ? v / byDN[k]! : Number.NaN)),
      touchedByDistance: byDTouched.map((v, k) => (byDN[k]! > 0 ? v / byDN[k]! : Number.NaN)),
    },
    maps,
  };
}

/** One tile of the examples figure: RGB per source pixel, upscaled. */
type Tile = (r: number, c: number) => [number, number, number];

function composePng(rows: Tile[][], H: number, W: number, scale: number): Buffer {
  const gap = 3;
  const cols = Math.max(...rows.map((r) => r.length));
  const width = cols * W * scale + (cols + 1) * gap;
  const height = rows.length * H * scale + (rows.length + 1) * gap;
  const rgba = new Uint8Array(width * height * 4).fill(255);
  rows.forEach((tiles, ri) => {
    tiles.forEach((tile, ci) => {
      const ox = gap + ci * (W * scale + gap);
      const oy = gap + ri * (H * scale + gap);
      for (let r = 0; r < H; r++) {
        for (let c = 0; c < W; c++) {
          const [R, G, B] = tile(r, c);
          for (let dy = 0; dy < scale; dy++) {
            for (let dx = 0; dx < scale; dx++) {
              const q = ((oy + r * scale + dy) * width + ox + c * scale + dx) * 4;
              rgba[q] = R;
              rgba[q + 1] = G;
              rgba[q + 2] = B;
            }
          }
        }
      }
    });
  });
  return encodePng(rgba, width, height);
}

export interface MechanismUnit {
  m: string;
  seed: number;
  networks: NetworkStats[];
  gradient: GradientStats;
  /** Gradient at the size-trained network (where the loss has brought it). */
  gradientAfter: GradientStats | null;
}

/** Run the measurements for every (m, seed) whose size-trained network exists; write JSON and figures. */
export async function runMechanism(
  ctx: ExperimentContext,
  protocol: RemediesProtocol = REMEDIES_PROTOCOLS.paper,
  options: { ms?: string[]; samples?: number } = {},
): Promise<{ dir: string; files: string[]; summary: Record<string, unknown> }> {
  const p = protocol;
  const root = resolve(ctx.out);
  const remediesDir = join(root, `remedies-${p.name}`);
  const fig7Dir = join(root, `fig7-${p.fig7.name}`);
  const outDir = join(remediesDir, 'mechanism');
  if (!existsSync(join(remediesDir, 'runs')))
    throw new Error(
      `mechanism: ${remediesDir}/runs does not exist; run 'npm run experiment -- remedies --preset ${p.name}' first (with the same --out).`,
    );
  const pools = await loadVolumePools(ctx, p.fig7);
  const { ds, test } = pools;
  const H = ds.height;
  const W = ds.width;
  const V = H * W;
  const samples = options.samples ?? 16;
  const wanted = options.ms ?? ['200', 'all'];
  const units = readdirSync(join(remediesDir, 'runs'))
    .map((d) => /^m(\w+)-s(\d+)$/.exec(d))
    .filter((x): x is RegExpExecArray => x !== null)
    .map((x) => ({ m: x[1]!, seed: Number(x[2]) }))
    .filter((u) => wanted.includes(u.m) && existsSync(join(remediesDir, 'runs', `m${u.m}-s${u.seed}`, 'size.ckpt')))
    .sort((a, b) => wanted.indexOf(a.m) - wanted.indexOf(b.m) || a.seed - b.seed);
  if (units.length === 0)
    throw new Error(
      `mechanism: no size-trained network (size.ckpt) for m ∈ {${wanted.join(', ')}} under ${remediesDir}/runs yet.`,
    );
  // truth regions, shared by every network
  const regions = test.map((n) => distanceToInscribedSquares(ds.masks, n * V, H, W));
  const objDist = test.map((n) => distanceToObject(ds.masks, n * V, H, W));
  const results: MechanismUnit[] = [];
  const files: string[] = [];
  mkdirSync(outDir, { recursive: true });
  for (const u of units) {
    const m: number | 'all' = u.m === 'all' ? 'all' : Number(u.m);
    const annotated = annotatedSubset(pools.train, m, u.seed);
    const load = (path: string): ResUNet => {
      const model = new ResUNet({
        widths: p.fig7.widths,
        rng: new Rng(u.seed),
        headBias: foregroundPriorLogit(ds.masks, annotated, V),
      });
      loadCheckpointInto(path, model);
      return model;
    };
    const unitDir = join(remediesDir, 'runs', `m${u.m}-s${u.seed}`);
    const nets: { name: string; path: string }[] = [
      { name: 'pre-trained', path: join(fig7Dir, 'runs', `m${u.m}-s${u.seed}`, 'pretrained.ckpt') },
    ];
    for (const arm of ['size', 'anchor', 'joint'])
      if (existsSync(join(unitDir, `${arm}.ckpt`))) nets.push({ name: arm, path: join(unitDir, `${arm}.ckpt`) });
    ctx.progress.line(
      `mechanism m = ${u.m}, seed ${u.seed}: ${nets.map((x) => x.name).join(', ')} on ${test.length} test images`,
    );
    const logits = new Map<string, Float32Array>();
    for (const net of nets) logits.set(net.name, await predictLogits(load(net.path), ds, test, 32));
    const rng = new Rng(4242 + u.seed);
    const networks = nets.map((net) =>
      networkStats(net.name, logits.get(net.name)!, ds, test, regions, objDist, rng, 8),
    );
    const grad = gradientStats(logits.get('pre-trained')!, ds, test, new Rng(77), samples);
    const gradAfter = gradientStats(logits.get('size')!, ds, test, new Rng(78), samples);
    results.push({ m: u.m, seed: u.seed, networks, gradient: grad.stats, gradientAfter: gradAfter.stats });
    // examples: the 6 test images where size training removed the most predicted pixels (predictions only)
    const l0 = logits.get('pre-trained')!;
    const l1 = logits.get('size')!;
    const lost = test
      .map((_, b) => {
        let k = 0;
        for (let i = 0; i < V; i++) if (l0[b * V + i]! > 0 && !(l1[b * V + i]! > 0)) k++;
        return { b, k };
      })
      .sort((x, y) => y.k - x.k)
      .slice(0, 6);
    const rows: Tile[][] = lost.map(({ b }) => {
      const n = test[b]!;
      let lo = Infinity;
      let hi = -Infinity;
      for (let i = 0; i < V; i++) {
        const v = ds.images[n * V + i]!;
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
      const gray = (i: number): number => Math.round((255 * (ds.images[n * V + i]! - lo)) / Math.max(1e-9, hi - lo));
      const truth = (i: number): boolean => ds.masks[n * V + i] === 1;
      const edge = (f: (i: number) => boolean, r: number, c: number): boolean =>
        f(r * W + c) &&
        [
          [-1, 0],
          [1, 0],
          [0, -1],
          [0, 1],
        ].some(([dr, dc]) => {
          const rr = r + dr!;
          const cc = c + dc!;
          return rr < 0 || rr >= H || cc < 0 || cc >= W || !f(rr * W + cc);
        });
      const y0 = (i: number): boolean => l0[b * V + i]! > 0;
      const y1 = (i: number): boolean => l1[b * V + i]! > 0;
      const sq = regions[b]!;
      const gmap = grad.maps[b]!;
      let gmax = 0;
      for (let i = 0; i < V; i++) gmax = Math.max(gmax, Math.abs(gmap[i]!));
      const image: Tile = (r, c) => {
        const v = gray(r * W + c);
        return [v, v, v];
      };
      const withOutlines =
        (pred: (i: number) => boolean): Tile =>
        (r, c) => {
          const i = r * W + c;
          const t = edge(truth, r, c);
          const q = edge(pred, r, c);
          if (t && q) return [255, 230, 0];
          if (t) return [0, 200, 0];
          if (q) return [255, 40, 40];
          const v = gray(i);
          return [v, v, v];
        };
      const change: Tile = (r, c) => {
        const i = r * W + c;
        if (y0(i) && !y1(i)) return truth(i) ? [220, 0, 0] : [255, 150, 150];
        if (!y0(i) && y1(i)) return truth(i) ? [0, 90, 230] : [150, 190, 255];
        if (sq[i] === 0) return [255, 215, 0];
        if (y0(i)) return [120, 120, 120];
        return truth(i) ? [200, 235, 200] : [235, 235, 235];
      };
      const gradient: Tile = (r, c) => {
        const i = r * W + c;
        const v = -gmap[i]! / Math.max(1e-12, gmax);
        if (v === 0) return y0(i) ? [150, 150, 150] : [235, 235, 235];
        const a = Math.min(1, Math.abs(v) ** 0.5);
        return v > 0
          ? [255, Math.round(255 * (1 - a)), Math.round(255 * (1 - a))]
          : [Math.round(255 * (1 - a)), Math.round(255 * (1 - a)), 255];
      };
      return [image, withOutlines(y0), withOutlines(y1), change, gradient];
    });
    const png = join(outDir, `mechanism-examples-m${u.m}-s${u.seed}.png`);
    writeFileSync(png, composePng(rows, H, W, 5));
    files.push(png);
  }
  const summary = {
    experiment: 'mechanism',
    preset: p.name,
    samples,
    fgRegions: FG_REGIONS,
    bgRegions: BG_REGIONS,
    gradRegions: GRAD_REGIONS,
    units: results,
  };
  const json = join(outDir, 'mechanism.json');
  writeFileSync(json, `${JSON.stringify(summary, null, 2)}\n`);
  files.push(json);
  for (const [name, text] of Object.entries(mechanismFigures(results))) {
    writeFileSync(join(outDir, name), text);
    files.push(join(outDir, name));
  }
  for (const f of files) ctx.progress.line(`wrote ${f}`);
  return { dir: outDir, files, summary };
}

/** The SVG figures from the measurements (means over the units given). */
export function mechanismFigures(units: readonly MechanismUnit[]): Record<string, string> {
  const out: Record<string, string> = {};
  const names = [...new Set(units.flatMap((u) => u.networks.map((n) => n.name)))];
  const avg = (f: (u: MechanismUnit) => number | undefined): number =>
    mean(units.map(f).filter((v): v is number => v !== undefined && Number.isFinite(v)));
  // one unit by name, several as what they average (a title listing every unit runs off the figure)
  const ms = [...new Set(units.map((u) => u.m))];
  const seeds = [...new Set(units.map((u) => u.seed))].sort((a, b) => a - b);
  const label =
    units.length === 1
      ? `m = ${units[0]!.m}, seed ${units[0]!.seed}`
      : `mean of ${units.length}: m ∈ {${ms.join(', ')}}, seeds {${seeds.join(', ')}}`;
  const dx = Array.from({ length: MAXD + 1 }, (_, k) => k);
  const dLabel = `Chebyshev distance to the truth's largest inscribed squares (pixels; ${MAXD} = ${MAXD} or more)`;
  const colours: Record<string, string> = {
    'pre-trained': '#000000',
    size: '#d62728',
    anchor: '#1f77b4',
    joint: '#2ca02c',
  };
  out['mechanism-recall.svg'] = lineChartSvg({
    title: `Which true pixels survive, by distance to the inscribed square (${label})`,
    width: 820,
    height: 460,
    xLabel: dLabel,
    yLabel: 'true foreground pixels predicted foreground (%)',
    yRange: [0, 100],
    series: names.map((name) => ({
      name,
      x: dx,
      y: dx.map((k) => 100 * avg((u) => u.networks.find((n) => n.name === name)?.recallByDistance[k])),
      ...(colours[name] ? { color: colours[name] } : {}),
    })),
  });
  const x = Array.from({ length: BINS }, (_, i) => (i + 0.5) / BINS);
  out['mechanism-probabilities.svg'] = lineChartSvg({
    title: `σ(a) of true pixels: in the square (solid), ≥ 3 px away (dashed) (${label})`,
    width: 820,
    height: 460,
    xLabel: 'predicted probability σ(a)',
    yLabel: "fraction of the region's pixels (%)",
    series: names.flatMap((name) =>
      [0, 2].map((k) => ({
        name: `${name}, ${k === 0 ? 'in square' : '≥ 3 px'}`,
        x,
        y: x.map((_, i) => 100 * avg((u) => u.networks.find((n) => n.name === name)?.hist[k]?.[i])),
        ...(colours[name] ? { color: colours[name] } : {}),
        ...(k === 2 ? { dashed: true } : {}),
      })),
    ),
  });
  const gx = Array.from({ length: MAXD + 1 }, (_, k) => k);
  const gLabel = `inside the network's own mask: Chebyshev distance to its largest inscribed squares (pixels; ${MAXD} = ${MAXD} or more)`;
  out['mechanism-gradient.svg'] = lineChartSvg({
    title: `Lemma-1 push −∂L/∂p on each pixel's probability (${label})`,
    width: 820,
    height: 460,
    xLabel: gLabel,
    yLabel: 'mean −∂L/∂p (> 0: pushed up)',
    series: [
      {
        name: 'at the pre-trained network',
        x: gx,
        y: gx.map((k) => avg((u) => u.gradient.descentByDistance[k])),
        color: '#000000',
      },
      {
        name: 'at the size-trained network',
        x: gx,
        y: gx.map((k) => avg((u) => u.gradientAfter?.descentByDistance[k])),
        color: '#d62728',
      },
    ],
  });
  out['mechanism-gradient-touched.svg'] = lineChartSvg({
    title: `Pixels the size loss touches at all (gradient ≠ 0, averaged over samples) (${label})`,
    width: 820,
    height: 460,
    xLabel: gLabel,
    yLabel: 'pixels with a non-zero gradient (%)',
    yRange: [0, 100],
    series: [
      {
        name: 'at the pre-trained network',
        x: gx,
        y: gx.map((k) => 100 * avg((u) => u.gradient.touchedByDistance[k])),
        color: '#000000',
      },
      {
        name: 'at the size-trained network',
        x: gx,
        y: gx.map((k) => 100 * avg((u) => u.gradientAfter?.touchedByDistance[k])),
        color: '#d62728',
      },
    ],
  });
  return out;
}
