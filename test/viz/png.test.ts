import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { COLOURS, imageGridPng, outlineOf, renderImageGrid, writePng } from '../../src/viz/png.js';

const tmp = mkdtempSync(join(tmpdir(), 'sizeseg-png-'));
const read = (p: string): PNG => PNG.sync.read(readFileSync(p));
const rgbAt = (png: PNG, x: number, y: number): number[] => {
  const q = (y * png.width + x) * 4;
  return [png.data[q] as number, png.data[q + 1] as number, png.data[q + 2] as number];
};

describe('writePng', () => {
  it('round-trips RGBA pixels', () => {
    const w = 3;
    const h = 2;
    const rgba = Uint8Array.from({ length: w * h * 4 }, (_, i) => (i * 37) % 256);
    const p = join(tmp, 'sub', 'raw.png');
    writePng(p, rgba, w, h);
    const png = read(p);
    expect([png.width, png.height]).toEqual([w, h]);
    expect(Array.from(png.data)).toEqual(Array.from(rgba));
    expect(() => writePng(p, rgba, 4, 2)).toThrow(/expected 32 RGBA bytes/);
  });
});

describe('imageGridPng', () => {
  const H = 6;
  const W = 5;
  const image = Float32Array.from({ length: H * W }, (_, i) => i); // a ramp
  // truth: rows 1..4, cols 1..3; prediction: rows 1..3, cols 1..2 (shares the top-left corner sides)
  const truth = new Uint8Array(H * W);
  const pred = new Uint8Array(H * W);
  for (let r = 1; r <= 4; r++) for (let c = 1; c <= 3; c++) truth[r * W + c] = 1;
  for (let r = 1; r <= 3; r++) for (let c = 1; c <= 2; c++) pred[r * W + c] = 1;

  it('outline = mask pixels with a 4-neighbour outside the mask', () => {
    const ol = outlineOf(truth, H, W);
    expect(ol[2 * W + 2]).toBe(0); // interior pixel (2,2) is not outline
    expect(ol[1 * W + 2]).toBe(1);
    expect(ol[0]).toBe(0);
    const full = outlineOf(new Uint8Array(4).fill(1), 2, 2);
    expect(Array.from(full)).toEqual([1, 1, 1, 1]); // the image border counts as outside
  });

  it('decodes with the right size; outlines green / red / yellow at the expected pixels', () => {
    const p = join(tmp, 'grid.png');
    const scale = 4;
    const gap = 2;
    imageGridPng(p, [{ image, truth, pred }, { image }, { image, truth }], H, W, { cols: 2, scale });
    const png = read(p);
    expect(png.width).toBe(2 * W * scale + 3 * gap);
    expect(png.height).toBe(2 * H * scale + 3 * gap);
    const X = (tile: number, c: number, dx: number): number => gap + (tile % 2) * (W * scale + gap) + c * scale + dx;
    const Y = (tile: number, r: number, dy: number): number =>
      gap + Math.floor(tile / 2) * (H * scale + gap) + r * scale + dy;
    // gap colour
    expect(rgbAt(png, 0, 0)).toEqual([...COLOURS.gap]);
    // tile 0: top side of (1,3) is truth only → green; top side of (1,1) is both → yellow
    expect(rgbAt(png, X(0, 3, 2), Y(0, 1, 0))).toEqual([...COLOURS.truth]);
    expect(rgbAt(png, X(0, 1, 2), Y(0, 1, 0))).toEqual([...COLOURS.both]);
    // right side of pred pixel (2,2) faces (2,3), inside truth only → red; bottom of (3,1) is pred only → red
    expect(rgbAt(png, X(0, 2, 3), Y(0, 2, 2))).toEqual([...COLOURS.pred]);
    expect(rgbAt(png, X(0, 1, 2), Y(0, 3, 3))).toEqual([...COLOURS.pred]);
    // bottom side of truth pixel (4,2) → green
    expect(rgbAt(png, X(0, 2, 1), Y(0, 4, 3))).toEqual([...COLOURS.truth]);
    // the centre of an outline pixel keeps the image grey (edge style); grey means r = g = b
    const centre = rgbAt(png, X(0, 3, 2), Y(0, 2, 2));
    expect(centre[0]).toBe(centre[1]);
    expect(centre[1]).toBe(centre[2]);
    // tile 1 has no masks: all grey, and the ramp gets brighter down the image
    const top = rgbAt(png, X(1, 2, 1), Y(1, 0, 1));
    const bottom = rgbAt(png, X(1, 2, 1), Y(1, 5, 1));
    expect(top[0]).toBe(top[1]);
    expect((bottom[0] as number) > (top[0] as number)).toBe(true);
    // tile 2: truth only, the shared corner side is green now
    expect(rgbAt(png, X(2, 1, 2), Y(2, 1, 0))).toEqual([...COLOURS.truth]);
    // tile 3 is empty: gap colour
    expect(rgbAt(png, X(3, 2, 2), Y(3, 2, 2))).toEqual([...COLOURS.gap]);
  });

  it("'block' outlines colour the whole upscaled outline pixel; minmax windowing spans 0..255", () => {
    const { rgba, width } = renderImageGrid([{ image, truth }], H, W, {
      scale: 3,
      gap: 0,
      outline: 'block',
      normalise: 'minmax',
    });
    const at = (x: number, y: number): number[] =>
      Array.from(rgba.subarray((y * width + x) * 4, (y * width + x) * 4 + 3));
    expect(at(3 * 3 + 1, 1 * 3 + 1)).toEqual([...COLOURS.truth]); // centre of outline pixel (1,3)
    expect(at(0, 0)).toEqual([0, 0, 0]); // minimum of the ramp
    expect(at(4 * 3 + 2, 5 * 3 + 2)).toEqual([255, 255, 255]); // maximum
  });

  it('validates sizes', () => {
    expect(() => renderImageGrid([], H, W)).toThrow(/no items/);
    expect(() => renderImageGrid([{ image: new Float32Array(3) }], H, W)).toThrow(/expected 6×5/);
    expect(() => renderImageGrid([{ image, pred: new Uint8Array(2) }], H, W)).toThrow(/pred has 2 pixels/);
    expect(() => renderImageGrid([{ image }], H, W, { scale: 1.5 })).toThrow(/scale/);
  });
});
