/**
 * `synthetic` — the built-in dataset: seeded 48×32 images that imitate the hippocampus slices of
 * `data/hippocampus/preview.png` (T1 MRI: bright white matter, grey-matter ribbons with black CSF in the
 * sulci, a grey hippocampus next to the black ventricle), with masks and sizes, and no files.
 *
 * Each image has:
 *  - bright "white matter" with a coarse smooth field, a global intensity gradient and large soft grey regions;
 *  - 2–5 curved grey-matter ribbons (random walks with drifting curvature, 2–6 px wide), most with a thin black
 *    CSF core — structures of the SAME grey level as the object, i.e. natural distractors;
 *  - the object: one irregular, curved, elongated blob (discs of varying radius along a curved spine, one end
 *    wider, smooth random boundary perturbation) thresholded to a target area of 16..500 px (log-normal,
 *    median ≈ 115, as in the real set) with its width capped so that sizes stay in the real range 2..~14;
 *    grey with its own texture and soft (partial-volume) edges;
 *  - usually a black crescent (the ventricle) hugging part of the object's boundary — the main cue;
 *  - 0–3 grey distractor blobs next to the object, often touching it, NOT in the mask, each a tenth to 0.4 of
 *    the object's area and elongated (thinner than the object) — a network pre-trained on few annotations
 *    tends to over-segment into them. (With distractors as large as the object, the demo's IoU gain from
 *    size training was seed-dependent, +0.2 to +6.1 points over seeds 0–2; with these thinner ones it is
 *    +1.7 to +3.5, and E falls by 28–47 %.)
 *  - pixel texture noise, a 3×3 blur, a little Gaussian noise, sometimes a dark zero-padding band at the top or
 *    bottom (as in the real data), and a per-image z-score (zero mean, unit variance).
 *
 * Sizes are `g(mask) = 2·max` Chebyshev DT. Split: seeded 70/10/20 by image. Deterministic in (seed, count,
 * height, width); image n depends only on the seed and n. 2000 images take ≈ 0.2–0.3 s.
 */
import { Rng } from '../autograd/rng.js';
import type { LoadOptions, SegDataset } from './dataset.js';
import { maskSize, randomSplit } from './dataset.js';

export interface SyntheticOptions extends LoadOptions {
  height?: number;
  width?: number;
}

export const SYNTHETIC_DEFAULTS = { count: 2000, height: 48, width: 32, seed: 0 } as const;

const BIG = 1e9;
const SQRT3 = Math.sqrt(3);
const SQRT6 = Math.sqrt(6);

/** Approximate N(0, 1) (Irwin–Hall sum of four 16-bit uniforms): cheap, for pixel noise and random fields. */
function fastNormal(rng: Rng): number {
  const a = rng.nextU32();
  const b = rng.nextU32();
  const sum = (a & 0xffff) + (a >>> 16) + (b & 0xffff) + (b >>> 16);
  return (sum / 65536 - 2) * SQRT3;
}

/** Approximate N(0, 1) from one 32-bit draw (triangular: sum of two 16-bit uniforms): for pixel noise. */
function pixelNoise(rng: Rng): number {
  const a = rng.nextU32();
  return (((a & 0xffff) + (a >>> 16)) / 65536 - 1) * SQRT6;
}

/** Per-image scratch buffers, reused across images. */
class Scratch {
  readonly V: number;
  readonly img: Float64Array;
  readonly tmp: Float64Array;
  readonly field: Float64Array;
  readonly greyA: Float64Array;
  readonly dark: Float64Array;
  readonly dist: Float32Array;
  readonly objF: Float32Array;
  readonly sortBuf: Float32Array;
  readonly comp: Int32Array;
  readonly stack: Int32Array;
  readonly sizeScratch: Int32Array;
  readonly rowsX: Float64Array;
  readonly cx: Int32Array;
  readonly wx: Float64Array;
  /** Linear scale of the image against the real 48×32 slices: object areas and widths follow it. */
  readonly scale: number;
  constructor(
    readonly H: number,
    readonly W: number,
  ) {
    const V = H * W;
    this.V = V;
    this.scale = Math.min(H / 48, W / 32);
    this.img = new Float64Array(V);
    this.tmp = new Float64Array(V);
    this.field = new Float64Array(V);
    this.greyA = new Float64Array(V);
    this.dark = new Float64Array(V);
    this.dist = new Float32Array(V);
    this.objF = new Float32Array(V);
    this.sortBuf = new Float32Array(V);
    this.comp = new Int32Array(V);
    this.stack = new Int32Array(V);
    this.sizeScratch = new Int32Array(V);
    this.rowsX = new Float64Array((H + 3) * W);
    this.cx = new Int32Array(W);
    this.wx = new Float64Array(W);
  }
}

/**
 * out[p] (+)= amp · smooth random field with cell size `cell` px: N(0, 1)-ish values at the grid nodes,
 * interpolated separably with smoothstep weights; a random sub-cell offset hides the grid.
 */
function smoothField(rng: Rng, s: Scratch, out: Float64Array, cell: number, amp: number, add: boolean): void {
  const { H, W } = s;
  const gh = Math.ceil(H / cell) + 2;
  const gw = Math.ceil(W / cell) + 2;
  const g = new Float64Array(gh * gw);
  for (let i = 0; i < g.length; i++) g[i] = fastNormal(rng);
  const oy = rng.uniform();
  const ox = rng.uniform();
  const { cx, wx, rowsX } = s;
  for (let c = 0; c < W; c++) {
    const f = c / cell + ox;
    const i = Math.floor(f);
    const t = f - i;
    cx[c] = i;
    wx[c] = t * t * (3 - 2 * t);
  }
  // Interpolate every grid row along x first.
  for (let gy = 0; gy < gh; gy++) {
    const row = gy * gw;
    for (let c = 0; c < W; c++) {
      const ix = row + (cx[c] as number);
      const sx = wx[c] as number;
      rowsX[gy * W + c] = (g[ix] as number) + sx * ((g[ix + 1] as number) - (g[ix] as number));
    }
  }
  for (let r = 0; r < H; r++) {
    const f = r / cell + oy;
    const iy = Math.floor(f);
    const ty = f - iy;
    const sy = amp * ty * ty * (3 - 2 * ty);
    const a0 = iy * W;
    const b0 = a0 + W;
    const o = r * W;
    for (let c = 0; c < W; c++) {
      const a = rowsX[a0 + c] as number;
      const v = amp * a + sy * ((rowsX[b0 + c] as number) - a);
      out[o + c] = add ? (out[o + c] as number) + v : v;
    }
  }
}

interface Curve {
  x: Float64Array;
  y: Float64Array;
  /** Heading at each sample (radians). */
  th: Float64Array;
  n: number;
}

/** A random walk with drifting curvature: `length` px in steps of `step` px, centred on (cx, cy). */
function walk(
  rng: Rng,
  cx: number,
  cy: number,
  theta: number,
  length: number,
  kappa: number,
  kappaDrift: number,
  step: number,
): Curve {
  const n = Math.max(2, Math.round(length / step) + 1);
  const x = new Float64Array(n);
  const y = new Float64Array(n);
  const th = new Float64Array(n);
  let px = 0;
  let py = 0;
  let t = theta;
  let k = kappa;
  const drift = kappaDrift * Math.sqrt(step);
  for (let i = 0; i < n; i++) {
    x[i] = px;
    y[i] = py;
    th[i] = t;
    px += Math.cos(t) * step;
    py += Math.sin(t) * step;
    t += k * step;
    k += drift * fastNormal(rng);
  }
  const mid = n >> 1;
  const dx = cx - (x[mid] as number);
  const dy = cy - (y[mid] as number);
  for (let i = 0; i < n; i++) {
    x[i] = (x[i] as number) + dx;
    y[i] = (y[i] as number) + dy;
  }
  return { x, y, th, n };
}

/** Bounding box of a stamp, clipped to the image: [x0, x1, y0, y1] (empty when x0 > x1). */
type Box = [number, number, number, number];

/**
 * buf[p] = min(buf[p], distance to the curve − local radius) for pixels within (radius + reach) of the curve.
 * The curve is taken as segments between every `stride`-th sample (a tapered capsule per segment, radius
 * interpolated linearly). The buffer is reset to BIG inside the curve's bounding box first; returns that box.
 */
function stamp(
  s: Scratch,
  buf: Float32Array,
  cv: Curve,
  radius: (i: number) => number,
  reach: number,
  stride: number,
): Box {
  const { H, W } = s;
  let bx0 = W;
  let bx1 = -1;
  let by0 = H;
  let by1 = -1;
  let rmax = 0;
  for (let i = 0; i < cv.n; i++) {
    const r = radius(i);
    if (r > rmax) rmax = r;
    const x = cv.x[i] as number;
    const y = cv.y[i] as number;
    if (x < bx0) bx0 = x;
    if (x > bx1) bx1 = x;
    if (y < by0) by0 = y;
    if (y > by1) by1 = y;
  }
  const ext = rmax + reach;
  const box: Box = [
    Math.max(0, Math.floor(bx0 - ext)),
    Math.min(W - 1, Math.ceil(bx1 + ext)),
    Math.max(0, Math.floor(by0 - ext)),
    Math.min(H - 1, Math.ceil(by1 + ext)),
  ];
  if (box[0] > box[1] || box[2] > box[3]) return box;
  for (let yy = box[2]; yy <= box[3]; yy++) buf.fill(BIG, yy * W + box[0], yy * W + box[1] + 1);
  const last = cv.n - 1;
  let ia = 0;
  for (;;) {
    const ib = Math.min(last, ia + stride);
    const ax = cv.x[ia] as number;
    const ay = cv.y[ia] as number;
    const bx = cv.x[ib] as number;
    const by = cv.y[ib] as number;
    const ra = radius(ia);
    const rb = radius(ib);
    const vx = bx - ax;
    const vy = by - ay;
    const l2 = vx * vx + vy * vy;
    const inv = l2 > 1e-12 ? 1 / l2 : 0;
    const e = Math.max(ra, rb) + reach;
    const x0 = Math.max(0, Math.floor(Math.min(ax, bx) - e));
    const x1 = Math.min(W - 1, Math.ceil(Math.max(ax, bx) + e));
    const y0 = Math.max(0, Math.floor(Math.min(ay, by) - e));
    const y1 = Math.min(H - 1, Math.ceil(Math.max(ay, by) + e));
    const dr = rb - ra;
    for (let yy = y0; yy <= y1; yy++) {
      const wy = yy - ay;
      const row = yy * W;
      for (let xx = x0; xx <= x1; xx++) {
        const wx = xx - ax;
        let t = (wx * vx + wy * vy) * inv;
        t = t < 0 ? 0 : t > 1 ? 1 : t;
        const dx = wx - t * vx;
        const dy = wy - t * vy;
        const d = Math.sqrt(dx * dx + dy * dy) - (ra + t * dr);
        if (d < (buf[row + xx] as number)) buf[row + xx] = d;
      }
    }
    if (ib >= last) break;
    ia = ib;
  }
  return box;
}

/** k-th smallest (0-based) of a[0..n) by quickselect (reorders `a`). */
function selectKth(a: Float32Array, n: number, k: number): number {
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >> 1] as number;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while ((a[i] as number) < pivot) i++;
      while ((a[j] as number) > pivot) j--;
      if (i <= j) {
        const t = a[i] as number;
        a[i] = a[j] as number;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else break;
  }
  return a[k] as number;
}

/**
 * A grey ribbon of half-width `hw` (px) along a curve into `s.greyA` (max of soft coverages), with an optional
 * black core of width `core` and darkness `depth` into `s.dark` (max).
 */
function ribbon(s: Scratch, cv: Curve, hw: number, core: number, depth: number): void {
  const d = s.dist;
  const box = stamp(s, d, cv, () => 0, Math.max(hw + 0.6, 2.5 * core + 0.5), 3);
  const W = s.W;
  for (let y = box[2]; y <= box[3]; y++) {
    for (let x = box[0]; x <= box[1]; x++) {
      const p = y * W + x;
      const dd = d[p] as number;
      if (dd >= BIG / 2) continue;
      if (hw > 0) {
        const a = Math.min(1, Math.max(0, (hw + 1 - dd) * 0.5));
        if (a > (s.greyA[p] as number)) s.greyA[p] = a;
      }
      if (core > 0) {
        const q = dd / core;
        if (q < 3) {
          const k = depth * Math.exp(-q * q);
          if (k > (s.dark[p] as number)) s.dark[p] = k;
        }
      }
    }
  }
}

interface Blob {
  /** Level function (≤ 0 inside for a zero threshold). */
  f: Float32Array;
  box: Box;
  spine: Curve;
  radius: (i: number) => number;
}

/**
 * An irregular curved blob: discs along a curved spine with a radius profile (tapered ends, one end wider),
 * plus a smooth boundary perturbation taken from `noise` (scaled by `wobble`).
 */
function makeBlob(
  rng: Rng,
  s: Scratch,
  f: Float32Array,
  noise: Float64Array,
  cx: number,
  cy: number,
  area: number,
  elong: number,
  theta: number,
  wobble: number,
): Blob {
  const width = Math.sqrt((4 * area) / (Math.PI * elong));
  const len = Math.max(0.5, elong * width - width * 0.8);
  const kappa = (fastNormal(rng) * 1.6) / Math.max(len, 4);
  const spine = walk(rng, cx, cy, theta, len, kappa, 0.06, 0.75);
  const base = 0.5 + 0.35 * rng.uniform();
  const head = 0.5 * rng.uniform() * (rng.uniform() < 0.5 ? 1 : -1);
  const n = spine.n;
  const prof = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t = n > 1 ? i / (n - 1) : 0.5;
    const taper = base + (1 - base) * Math.sqrt(Math.sin(Math.PI * t));
    prof[i] = Math.max(0.4, (width / 2) * taper * (1 + head * (t - 0.5) * 2) * 1.05);
  }
  const radius = (i: number): number => prof[i] as number;
  const box = stamp(s, f, spine, radius, 2.5, 4);
  const W = s.W;
  for (let y = box[2]; y <= box[3]; y++) {
    for (let x = box[0]; x <= box[1]; x++) {
      const p = y * W + x;
      const v = f[p] as number;
      if (v < 4) f[p] = v + wobble * (noise[p] as number);
    }
  }
  return { f, box, spine, radius };
}

/** Keep the largest 8-connected component of `mask` (in place); returns its size. */
function largestComponent(s: Scratch, mask: Uint8Array, off: number): number {
  const { H, W, V } = s;
  const comp = s.comp;
  comp.fill(0);
  const stack = s.stack;
  let best = 0;
  let bestLabel = 0;
  let label = 0;
  for (let p0 = 0; p0 < V; p0++) {
    if (!mask[off + p0] || comp[p0]) continue;
    label++;
    let sp = 0;
    stack[sp++] = p0;
    comp[p0] = label;
    let size = 0;
    while (sp > 0) {
      const p = stack[--sp] as number;
      size++;
      const r = (p / W) | 0;
      const c = p - r * W;
      for (let dr = -1; dr <= 1; dr++) {
        const rr = r + dr;
        if (rr < 0 || rr >= H) continue;
        for (let dc = -1; dc <= 1; dc++) {
          const cc = c + dc;
          if (cc < 0 || cc >= W || (dr === 0 && dc === 0)) continue;
          const q = rr * W + cc;
          if (mask[off + q] && !comp[q]) {
            comp[q] = label;
            stack[sp++] = q;
          }
        }
      }
    }
    if (size > best) {
      best = size;
      bestLabel = label;
    }
  }
  if (label > 1) for (let p = 0; p < V; p++) if (mask[off + p] && comp[p] !== bestLabel) mask[off + p] = 0;
  return best;
}

/** Largest object width (px) for a given area, so that sizes stay in the real data's range. */
const MAX_WIDTH = 13;
/** Samples whose size exceeds this are redrawn (the real set's sizes are 2..14). */
const MAX_SIZE = 14;

/** Draw one sample into `images`/`masks` at image `n`. */
function drawSample(rng: Rng, s: Scratch, images: Float32Array, masks: Uint8Array, n: number): void {
  const { H, W, V } = s;
  const off = n * V;
  const img = s.img;
  s.greyA.fill(0);
  s.dark.fill(0);

  // --- object parameters first (the grey level is shared with the distractor structures) ---
  // areas and widths scale with the image (exactly the real data's at 48×32), so small test images get
  // objects that fit; never below the 16 pixels a valid sample needs
  const a2 = s.scale * s.scale;
  const area = Math.min(Math.max(16, 500 * a2), Math.max(16, Math.exp(Math.log(112) + 0.62 * fastNormal(rng)) * a2));
  const maxWidth = Math.max(3, MAX_WIDTH * s.scale);
  const minElong = (4 * area) / (Math.PI * maxWidth * maxWidth);
  const elong = Math.max(minElong, 1.1 + 1.9 * rng.uniform() ** 1.4);
  const theta =
    rng.uniform() < 0.6 ? 0.5 * fastNormal(rng) + (rng.uniform() < 0.5 ? 0 : Math.PI) : 2 * Math.PI * rng.uniform();
  const width = Math.sqrt((4 * area) / (Math.PI * elong));
  const halfLen = (elong * width) / 2;
  const marginX = Math.min(W / 2 - 1, Math.abs(Math.cos(theta)) * halfLen * 0.8 + width / 2 + 1);
  const marginY = Math.min(H / 2 - 1, Math.abs(Math.sin(theta)) * halfLen * 0.8 + width / 2 + 1);
  const ocx = marginX + (W - 2 * marginX) * (0.1 + 0.8 * rng.uniform());
  const ocy = marginY + (H - 2 * marginY) * (0.1 + 0.8 * rng.uniform());
  const white = 1;
  const grey = 0.62 + 0.16 * rng.uniform();
  const objLevel = grey * (1 + 0.05 * fastNormal(rng));
  const soft = 0.6 + 0.6 * rng.uniform();

  // --- white matter: coarse field, gradient ---
  smoothField(rng, s, img, 10 + 8 * rng.uniform(), 0.05, false);
  const gAng = rng.uniform() * 2 * Math.PI;
  const gAmp = 0.2 * rng.uniform();
  const gx = (Math.cos(gAng) * gAmp) / W;
  const gy = (Math.sin(gAng) * gAmp) / H;
  for (let r = 0; r < H; r++) {
    for (let c = 0; c < W; c++) {
      const p = r * W + c;
      img[p] = white + (img[p] as number) + gx * (c - W / 2) + gy * (r - H / 2);
    }
  }

  // --- large soft grey regions (a soft threshold of a smooth field) ---
  const region = s.tmp;
  smoothField(rng, s, region, 7 + 5 * rng.uniform(), 1, false);
  const regionBias = 0.9 * rng.uniform();
  for (let p = 0; p < V; p++) {
    const v = 2.5 * ((region[p] as number) - regionBias);
    const a = v <= -1 ? 0 : v >= 1 ? 1 : 0.5 + 0.5 * v; // piecewise-linear soft threshold
    s.greyA[p] = 0.85 * a;
  }

  // --- grey-matter ribbons with black CSF cores ---
  const nRib = 2 + rng.int(4);
  for (let k = 0; k < nRib; k++) {
    const len = 12 + 35 * rng.uniform();
    const cv = walk(
      rng,
      W * rng.uniform(),
      H * rng.uniform(),
      2 * Math.PI * rng.uniform(),
      len,
      (fastNormal(rng) * 2) / len,
      0.1,
      1,
    );
    const hw = 1 + 2 * rng.uniform();
    const u = rng.uniform();
    const core = u < 0.25 ? 0 : 0.35 + 0.8 * rng.uniform() ** 2;
    ribbon(s, cv, hw, core, 0.5 + 0.45 * rng.uniform());
  }
  // a few free CSF lines/spots
  const nCsf = rng.int(3);
  for (let k = 0; k < nCsf; k++) {
    const len = 2 + 14 * rng.uniform();
    const cv = walk(
      rng,
      W * rng.uniform(),
      H * rng.uniform(),
      2 * Math.PI * rng.uniform(),
      len,
      fastNormal(rng) / len,
      0.1,
      1,
    );
    ribbon(s, cv, 0, 0.4 + 1.0 * rng.uniform() ** 2, 0.5 + 0.45 * rng.uniform());
  }

  // --- shared boundary-perturbation field for all blobs of this image ---
  smoothField(rng, s, s.field, 3 + 2 * rng.uniform(), 1, false);

  // --- distractors: grey blobs right next to the object (the object is drawn over them), smaller and
  // thinner than it. Look-alikes as thick as the object made the pre-trained network mistake one for the
  // other — an error that the size label cannot correct, and one the real slices rarely show (the
  // hippocampus's grey neighbours are thin ribbons or far larger regions). ---
  const nDis = rng.uniform() < 0.15 ? 0 : 1 + rng.int(3);
  const objR = Math.sqrt(area / Math.PI);
  for (let k = 0; k < nDis; k++) {
    const dArea = Math.max(10, area * (0.1 + 0.3 * rng.uniform()));
    const dR = Math.sqrt(dArea / Math.PI);
    const ang = 2 * Math.PI * rng.uniform();
    const gap = -1.5 + 4.5 * rng.uniform();
    const reachD = objR * (0.8 + 0.4 * rng.uniform()) + dR + gap;
    const blob = makeBlob(
      rng,
      s,
      s.dist,
      s.field,
      ocx + Math.cos(ang) * reachD,
      ocy + Math.sin(ang) * reachD,
      dArea,
      1 + 3 * rng.uniform(),
      2 * Math.PI * rng.uniform(),
      0.6,
    );
    const a0 = 0.8 + 0.2 * rng.uniform();
    const box = blob.box;
    for (let y = box[2]; y <= box[3]; y++) {
      for (let x = box[0]; x <= box[1]; x++) {
        const p = y * W + x;
        const a = a0 * Math.min(1, Math.max(0, 0.5 - (blob.f[p] as number) / soft));
        if (a > (s.greyA[p] as number)) s.greyA[p] = a;
      }
    }
  }

  // --- apply grey matter (with texture) and CSF ---
  // mottled texture on white and (more) on grey matter
  smoothField(rng, s, s.tmp, 2.2 + 0.8 * rng.uniform(), 0.035 + 0.03 * rng.uniform(), false);
  for (let p = 0; p < V; p++) {
    const a = s.greyA[p] as number;
    const tx = s.tmp[p] as number;
    img[p] = ((img[p] as number) * (1 - a) + grey * a + tx * (0.6 + 0.8 * a)) * (1 - (s.dark[p] as number));
  }

  // --- the object ---
  const obj = makeBlob(rng, s, s.objF, s.field, ocx, ocy, area, elong, theta, 0.5 + 0.6 * rng.uniform());
  const f = obj.f;
  const ob = obj.box;
  let nc = 0;
  for (let y = ob[2]; y <= ob[3]; y++) {
    for (let x = ob[0]; x <= ob[1]; x++) {
      const v = f[y * W + x] as number;
      if (v < BIG / 2) s.sortBuf[nc++] = v;
    }
  }
  const target = Math.min(nc, Math.max(16, Math.round(area)));
  const thr = target > 0 ? selectKth(s.sortBuf, nc, target - 1) : 0;
  masks.fill(0, off, off + V);
  for (let y = ob[2]; y <= ob[3]; y++) {
    for (let x = ob[0]; x <= ob[1]; x++) {
      const p = y * W + x;
      if ((f[p] as number) <= thr) masks[off + p] = 1;
    }
  }
  largestComponent(s, masks, off);
  const objTex = 0.03 + 0.03 * rng.uniform();
  for (let y = ob[2]; y <= ob[3]; y++) {
    for (let x = ob[0]; x <= ob[1]; x++) {
      const p = y * W + x;
      const fv = (f[p] as number) - thr;
      if (fv > 2) continue;
      let a = Math.min(1, Math.max(0, 0.5 - fv / soft));
      if (masks[off + p]) a = Math.max(a, 0.8);
      else a = Math.min(a, 0.4);
      const level = objLevel + objTex * pixelNoise(rng);
      img[p] = (img[p] as number) * (1 - a) + level * a;
    }
  }

  // --- ventricle crescent: a black line hugging part of the boundary ---
  if (rng.uniform() < 0.8) {
    s.dark.fill(0);
    const sp = obj.spine;
    const side = rng.uniform() < 0.5 ? 1 : -1;
    const i0 = Math.floor(0.3 * rng.uniform() * (sp.n - 1));
    const i1 = Math.max(i0 + 2, Math.ceil((0.6 + 0.4 * rng.uniform()) * (sp.n - 1)));
    const gap = 0.9 + 0.9 * rng.uniform();
    const m = i1 - i0 + 1;
    const cv: Curve = { x: new Float64Array(m), y: new Float64Array(m), th: new Float64Array(m), n: m };
    for (let i = 0; i < m; i++) {
      const j = Math.min(sp.n - 1, i0 + i);
      const th = sp.th[j] as number;
      const o = side * (obj.radius(j) + thr + gap);
      cv.x[i] = (sp.x[j] as number) - Math.sin(th) * o;
      cv.y[i] = (sp.y[j] as number) + Math.cos(th) * o;
      cv.th[i] = th;
    }
    ribbon(s, cv, 0, 0.6 + 0.8 * rng.uniform(), 0.7 + 0.25 * rng.uniform());
    for (let p = 0; p < V; p++) img[p] = (img[p] as number) * (1 - (s.dark[p] as number));
  }

  // --- pixel texture, 3×3 binomial blur (edges replicated), then acquisition noise ---
  const tex = 0.03 + 0.04 * rng.uniform();
  for (let p = 0; p < V; p++) img[p] = (img[p] as number) + tex * pixelNoise(rng);
  const t = s.tmp;
  for (let r = 0; r < H; r++) {
    const o = r * W;
    for (let c = 0; c < W; c++) {
      const l = c > 0 ? c - 1 : c;
      const rr = c < W - 1 ? c + 1 : c;
      t[o + c] = 0.25 * (img[o + l] as number) + 0.5 * (img[o + c] as number) + 0.25 * (img[o + rr] as number);
    }
  }
  const sigma = 0.012 + 0.025 * rng.uniform();
  for (let r = 0; r < H; r++) {
    const u = (r > 0 ? r - 1 : r) * W;
    const d = (r < H - 1 ? r + 1 : r) * W;
    const o = r * W;
    for (let c = 0; c < W; c++) {
      img[o + c] =
        0.25 * (t[u + c] as number) +
        0.5 * (t[o + c] as number) +
        0.25 * (t[d + c] as number) +
        sigma * pixelNoise(rng);
    }
  }

  // --- padding band (raw zero, as the real data's centre padding) ---
  if (rng.uniform() < 0.1) {
    const rows = 1 + rng.int(4);
    const top = rng.uniform() < 0.5;
    for (let r = 0; r < rows; r++) {
      const rr = top ? r : H - 1 - r;
      for (let c = 0; c < W; c++) {
        img[rr * W + c] = 0;
        masks[off + rr * W + c] = 0;
      }
    }
  }

  // --- z-score ---
  let sum = 0;
  for (let p = 0; p < V; p++) sum += img[p] as number;
  const mean = sum / V;
  let ss = 0;
  for (let p = 0; p < V; p++) {
    const d = (img[p] as number) - mean;
    ss += d * d;
  }
  const inv = 1 / Math.sqrt(ss / V + 1e-12);
  for (let p = 0; p < V; p++) images[off + p] = ((img[p] as number) - mean) * inv;
}

/** Generate the synthetic dataset (deterministic in `seed`, `count`, `height`, `width`). */
export function generateSynthetic(opts: SyntheticOptions = {}): SegDataset {
  const count = opts.count ?? SYNTHETIC_DEFAULTS.count;
  const H = opts.height ?? SYNTHETIC_DEFAULTS.height;
  const W = opts.width ?? SYNTHETIC_DEFAULTS.width;
  const seed = opts.seed ?? SYNTHETIC_DEFAULTS.seed;
  if (!Number.isInteger(count) || count < 1)
    throw new Error(`synthetic: count must be a positive integer, got ${count}.`);
  if (!Number.isInteger(H) || !Number.isInteger(W) || H < 16 || W < 16) {
    throw new Error(`synthetic: images must be at least 16×16 integers, got ${H}×${W}.`);
  }
  const V = H * W;
  const maxSize = Math.max(4, Math.round((MAX_SIZE * Math.min(H / 48, W / 32)) / 2) * 2);
  const images = new Float32Array(count * V);
  const masks = new Uint8Array(count * V);
  const sizes = new Float32Array(count);
  const s = new Scratch(H, W);
  const root = new Rng(seed);
  for (let n = 0; n < count; n++) {
    const rng = root.fork();
    // Resample in the rare case that the object (nearly) vanished, e.g. under a padding band.
    let valid = false;
    for (let attempt = 0; attempt < 50 && !valid; attempt++) {
      drawSample(rng, s, images, masks, n);
      let fg = 0;
      for (let p = 0; p < V; p++) fg += masks[n * V + p] as number;
      const g = maskSize(masks, H, W, n * V, s.sizeScratch);
      sizes[n] = g;
      valid = fg >= 16 && fg < V && g <= maxSize;
    }
    // never hand out an invalid sample (an empty or full mask has an infinite size)
    if (!valid)
      throw new Error(
        `synthetic: could not draw a valid object for image ${n} at ${H}×${W} (seed ${seed}) in 50 tries; this should not happen at 16×16 or larger — please report it with the seed.`,
      );
  }
  return {
    name: 'synthetic',
    height: H,
    width: W,
    count,
    images,
    masks,
    sizes,
    split: randomSplit(count, seed ^ 0x7a11),
    source: `synthetic (seed ${seed}, ${count} images ${H}×${W}; seeded 70/10/20 split by image)`,
  };
}
