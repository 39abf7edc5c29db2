/**
 * PNG output: raw RGBA writing and a grid of grayscale images with mask outlines
 * (ground truth green, prediction red, both yellow).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { PNG } from 'pngjs';

/** Encode RGBA (`width·height·4` bytes, row-major) as PNG bytes. */
export function encodePng(rgba: Uint8Array, width: number, height: number): Buffer {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`encodePng: width and height must be positive integers, got ${width}×${height}.`);
  }
  if (rgba.length !== width * height * 4) {
    throw new Error(`encodePng: expected ${width * height * 4} RGBA bytes for ${width}×${height}, got ${rgba.length}.`);
  }
  const png = new PNG({ width, height });
  png.data = Buffer.from(rgba.buffer, rgba.byteOffset, rgba.byteLength);
  return PNG.sync.write(png);
}

/** Write RGBA pixels to a PNG file (parent folders are created). */
export function writePng(path: string, rgba: Uint8Array, width: number, height: number): void {
  const bytes = encodePng(rgba, width, height);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, bytes);
}

export interface GridItem {
  /** `[H][W]` intensities. */
  image: Float32Array;
  /** Ground-truth mask, outlined in green. */
  truth?: Uint8Array;
  /** Predicted mask, outlined in red. */
  pred?: Uint8Array;
}

export interface GridOptions {
  /** Columns of the grid (default: min(items, 8)). */
  cols?: number;
  /** Integer upscaling factor (default 4). */
  scale?: number;
  /** Gap between tiles in output pixels (default 2). */
  gap?: number;
  /** Intensity window per image: `percentile` (1st–99th, default) or `minmax`. */
  normalise?: 'percentile' | 'minmax';
  /**
   * `edge` (default): a line along the sides of each outline pixel that face the outside of the mask
   * (thickness max(1, scale/4)); `block`: the whole upscaled outline pixel.
   */
  outline?: 'edge' | 'block';
}

export const COLOURS = {
  truth: [0, 220, 0] as const,
  pred: [255, 40, 40] as const,
  both: [255, 230, 0] as const,
  gap: [24, 24, 24] as const,
};

/** Outline pixels of a mask: foreground pixels with a 4-neighbour outside the mask (or outside the image). */
export function outlineOf(mask: ArrayLike<number>, H: number, W: number): Uint8Array {
  const out = new Uint8Array(H * W);
  for (let r = 0; r < H; r++) {
    for (let c = 0; c < W; c++) {
      const p = r * W + c;
      if (!mask[p]) continue;
      const edge =
        r === 0 ||
        c === 0 ||
        r === H - 1 ||
        c === W - 1 ||
        !mask[p - W] ||
        !mask[p + W] ||
        !mask[p - 1] ||
        !mask[p + 1];
      if (edge) out[p] = 1;
    }
  }
  return out;
}

function windowOf(image: Float32Array, mode: 'percentile' | 'minmax'): [number, number] {
  const vals = Float32Array.from(image).filter((v) => Number.isFinite(v));
  if (vals.length === 0) return [0, 1];
  vals.sort();
  let lo: number;
  let hi: number;
  if (mode === 'minmax') {
    lo = vals[0] as number;
    hi = vals[vals.length - 1] as number;
  } else {
    lo = vals[Math.floor(0.01 * (vals.length - 1))] as number;
    hi = vals[Math.ceil(0.99 * (vals.length - 1))] as number;
  }
  if (!(hi > lo)) hi = lo + 1;
  return [lo, hi];
}

/**
 * Per side of an output pixel inside an upscaled source pixel: which of the source pixel's 4 sides it lies on
 * (within thickness `t`). Bit 1 up, 2 down, 4 left, 8 right.
 */
function sideBits(dy: number, dx: number, scale: number, t: number): number {
  let b = 0;
  if (dy < t) b |= 1;
  if (dy >= scale - t) b |= 2;
  if (dx < t) b |= 4;
  if (dx >= scale - t) b |= 8;
  return b;
}

/** Which sides of source pixel (r, c) of `mask` face the outside (bit layout as `sideBits`). */
function outsideSides(mask: ArrayLike<number>, H: number, W: number, r: number, c: number): number {
  const p = r * W + c;
  if (!mask[p]) return 0;
  let b = 0;
  if (r === 0 || !mask[p - W]) b |= 1;
  if (r === H - 1 || !mask[p + W]) b |= 2;
  if (c === 0 || !mask[p - 1]) b |= 4;
  if (c === W - 1 || !mask[p + 1]) b |= 8;
  return b;
}

/** Render the grid to RGBA; returns the pixels and the canvas size. */
export function renderImageGrid(
  items: readonly GridItem[],
  H: number,
  W: number,
  opts: GridOptions = {},
): { rgba: Uint8Array; width: number; height: number } {
  if (items.length === 0) throw new Error('imageGrid: no items to draw.');
  const scale = opts.scale ?? 4;
  if (!Number.isInteger(scale) || scale < 1)
    throw new Error(`imageGrid: scale must be a positive integer, got ${scale}.`);
  const gap = opts.gap ?? 2;
  const cols = Math.max(1, Math.min(opts.cols ?? Math.min(items.length, 8), items.length));
  const rows = Math.ceil(items.length / cols);
  const tileW = W * scale;
  const tileH = H * scale;
  const width = cols * tileW + (cols + 1) * gap;
  const height = rows * tileH + (rows + 1) * gap;
  const rgba = new Uint8Array(width * height * 4);
  for (let p = 0; p < width * height; p++) {
    rgba[4 * p] = COLOURS.gap[0];
    rgba[4 * p + 1] = COLOURS.gap[1];
    rgba[4 * p + 2] = COLOURS.gap[2];
    rgba[4 * p + 3] = 255;
  }
  const mode = opts.normalise ?? 'percentile';
  const style = opts.outline ?? 'edge';
  const t = Math.max(1, Math.floor(scale / 4));
  items.forEach((item, idx) => {
    if (item.image.length !== H * W) {
      throw new Error(`imageGrid: item ${idx} has ${item.image.length} pixels, expected ${H}×${W} = ${H * W}.`);
    }
    for (const key of ['truth', 'pred'] as const) {
      const m = item[key];
      if (m && m.length !== H * W)
        throw new Error(`imageGrid: item ${idx} ${key} has ${m.length} pixels, expected ${H * W}.`);
    }
    const [lo, hi] = windowOf(item.image, mode);
    const ox = gap + (idx % cols) * (tileW + gap);
    const oy = gap + Math.floor(idx / cols) * (tileH + gap);
    const truthOl = item.truth ? outlineOf(item.truth, H, W) : undefined;
    const predOl = item.pred ? outlineOf(item.pred, H, W) : undefined;
    for (let r = 0; r < H; r++) {
      for (let c = 0; c < W; c++) {
        const p = r * W + c;
        const v = item.image[p] as number;
        const g = Number.isFinite(v) ? Math.round(255 * Math.min(1, Math.max(0, (v - lo) / (hi - lo)))) : 0;
        const tSides = truthOl?.[p] && item.truth ? outsideSides(item.truth, H, W, r, c) : 0;
        const pSides = predOl?.[p] && item.pred ? outsideSides(item.pred, H, W, r, c) : 0;
        for (let dy = 0; dy < scale; dy++) {
          for (let dx = 0; dx < scale; dx++) {
            let onT = tSides !== 0;
            let onP = pSides !== 0;
            if (style === 'edge') {
              const bits = sideBits(dy, dx, scale, t);
              onT = (bits & tSides) !== 0;
              onP = (bits & pSides) !== 0;
            }
            const col = onT && onP ? COLOURS.both : onT ? COLOURS.truth : onP ? COLOURS.pred : null;
            const q = ((oy + r * scale + dy) * width + (ox + c * scale + dx)) * 4;
            rgba[q] = col ? col[0] : g;
            rgba[q + 1] = col ? col[1] : g;
            rgba[q + 2] = col ? col[2] : g;
          }
        }
      }
    }
  });
  return { rgba, width, height };
}

/**
 * Write a grid of grayscale images with outlines: ground truth green, prediction red, yellow where both run
 * along the same pixel side. Each image is windowed on its own (1st–99th percentile by default).
 */
export function imageGridPng(
  path: string,
  items: readonly GridItem[],
  H: number,
  W: number,
  opts: GridOptions = {},
): void {
  const { rgba, width, height } = renderImageGrid(items, H, W, opts);
  writePng(path, rgba, width, height);
}
