/**
 * Paper Fig. 3: on a 6×6 toy probability map, the exact derivatives ∂L/∂p_i (eq. 12/19) next to the mean of n
 * sampled Lemma-1 derivatives (eq. 21) for n = 1, 10, 100, 1000. Writes a hand-written SVG (five 6×6 heatmaps
 * with a shared diverging colour scale, purple < 0 < orange; the object is outlined in red; the exact panel
 * also prints p_i in each cell) and the numbers as JSON.
 *
 * The exact gradient of a 6×6 map would need 2^36 masks, so the toy map fixes 18 pixels with p ∈ {0, 1}
 * (the centre of the object is certainly foreground, most of the frame certainly background) and leaves 18
 * uncertain: `exactSizeLossUncertain` enumerates 2^18 masks and still gives ∂L/∂p_i for every pixel.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Rng } from '../../autograd/rng.js';
import { exactSizeLossUncertain } from '../../estimators/exact.js';
import { lemma1Gradient } from '../../estimators/lemma1.js';
import { sampleBernoulliMasks } from '../../estimators/sizeLossKernel.js';
import { fig3Probabilities } from './fig3Map.js';

export const FIG3_H = 6;
export const FIG3_W = 6;
/** Target size s: the object is the 4×4 square at rows/cols 1–4, whose size is 2·2 = 4. */
export const FIG3_TARGET = 4;
/** Sample counts of the sampled panels. */
export const FIG3_NS = [1, 10, 100, 1000] as const;

export { fig3Probabilities } from './fig3Map.js';

export interface Fig3Data {
  probs: number[];
  target: number;
  expectedLoss: number;
  exact: number[];
  sampled: Array<{ n: number; mean: number[] }>;
  seed: number;
}

/** Compute the numbers behind the figure (deterministic for a given seed). */
export function fig3Data(seed = 3): Fig3Data {
  const H = FIG3_H;
  const W = FIG3_W;
  const V = H * W;
  const p = fig3Probabilities();
  const exact = exactSizeLossUncertain(p, H, W, FIG3_TARGET);
  const rng = new Rng(seed);
  const sampled = FIG3_NS.map((n) => {
    const ys = sampleBernoulliMasks(p, n, H, W, rng);
    const mean = new Float64Array(V);
    for (let k = 0; k < n; k++) {
      const e = lemma1Gradient(ys.subarray(k * V, (k + 1) * V), H, W, FIG3_TARGET);
      for (let i = 0; i < V; i++) mean[i] = (mean[i] as number) + (e[i] as number);
    }
    for (let i = 0; i < V; i++) mean[i] = (mean[i] as number) / n;
    return { n, mean: Array.from(mean) };
  });
  return {
    probs: Array.from(p),
    target: FIG3_TARGET,
    expectedLoss: exact.expectedLoss,
    exact: Array.from(exact.gradProbs),
    sampled,
    seed,
  };
}

/** Diverging PuOr-like map on t ∈ [−1, 1]: purple (−) — white (0) — orange (+). */
function colour(t: number): string {
  const c = Math.max(-1, Math.min(1, t));
  const lerp = (a: number, b: number, u: number): number => Math.round(a + (b - a) * u);
  const [r, g, b] =
    c < 0
      ? [lerp(255, 84, -c), lerp(255, 39, -c), lerp(255, 136, -c)]
      : [lerp(255, 179, c), lerp(255, 88, c), lerp(255, 6, c)];
  const hex = (v: number): string => v.toString(16).padStart(2, '0');
  return `#${hex(r)}${hex(g)}${hex(b)}`;
}

function fmt(v: number): string {
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 10) return v.toFixed(0);
  if (a >= 1) return v.toFixed(1);
  return v.toFixed(2);
}

/** The SVG text for the given data. */
export function fig3Svg(data: Fig3Data): string {
  const H = FIG3_H;
  const W = FIG3_W;
  const cell = 34;
  const pad = 24;
  const titleH = 40;
  const panelW = W * cell;
  const panelH = H * cell;
  const panels: Array<{ title: string; values: number[]; showP: boolean }> = [
    { title: 'exact ∂L/∂p (2^18 masks)', values: data.exact, showP: true },
    ...data.sampled.map((s) => ({ title: `Lemma 1, mean of n = ${s.n}`, values: s.mean, showP: false })),
  ];
  let scale = 0;
  for (const pnl of panels) for (const v of pnl.values) scale = Math.max(scale, Math.abs(v));
  if (scale === 0) scale = 1;
  const width = pad + panels.length * (panelW + pad) + 70;
  const height = 50 + titleH + panelH + 60;
  const parts: string[] = [];
  parts.push(`<?xml version="1.0" encoding="UTF-8"?>`);
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif">`,
  );
  parts.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`);
  parts.push(
    `<text x="${pad}" y="26" font-size="16" font-weight="bold">Fig. 3 — derivatives ∂E[l(s, g(Y))]/∂p_i on a 6×6 toy map (s = ${data.target}, E[l] = ${data.expectedLoss.toFixed(3)}, seed ${data.seed})</text>`,
  );
  const top = 50 + titleH;
  panels.forEach((pnl, k) => {
    const x0 = pad + k * (panelW + pad);
    parts.push(`<g class="panel" transform="translate(${x0},${top})">`);
    parts.push(`<text x="0" y="-10" font-size="12">${escapeXml(pnl.title)}</text>`);
    for (let r = 0; r < H; r++) {
      for (let c = 0; c < W; c++) {
        const v = pnl.values[r * W + c] as number;
        parts.push(
          `<rect x="${c * cell}" y="${r * cell}" width="${cell}" height="${cell}" fill="${colour(v / scale)}" stroke="#bbbbbb" stroke-width="0.5"><title>${fmt(v)}</title></rect>`,
        );
        const label = pnl.showP ? `p=${fmt(data.probs[r * W + c] as number)}` : fmt(v);
        parts.push(
          `<text x="${c * cell + cell / 2}" y="${r * cell + cell / 2 + 3}" font-size="8" text-anchor="middle" fill="#222222">${label}</text>`,
        );
      }
    }
    // The object: rows 1–4, cols 1–4.
    parts.push(
      `<rect x="${cell}" y="${cell}" width="${4 * cell}" height="${4 * cell}" fill="none" stroke="#e00000" stroke-width="2.5"/>`,
    );
    parts.push(`</g>`);
  });
  // Shared colour bar.
  const bx = pad + panels.length * (panelW + pad);
  const steps = 40;
  parts.push(`<g class="colorbar" transform="translate(${bx},${top})">`);
  for (let j = 0; j < steps; j++) {
    const t = 1 - (2 * j) / (steps - 1);
    parts.push(
      `<rect x="0" y="${(j * panelH) / steps}" width="14" height="${panelH / steps + 0.5}" fill="${colour(t)}"/>`,
    );
  }
  parts.push(`<text x="18" y="8" font-size="10">${fmt(scale)}</text>`);
  parts.push(`<text x="18" y="${panelH / 2 + 3}" font-size="10">0</text>`);
  parts.push(`<text x="18" y="${panelH}" font-size="10">${fmt(-scale)}</text>`);
  parts.push(`</g>`);
  parts.push(
    `<text x="${pad}" y="${top + panelH + 30}" font-size="11">Red frame: the object. Shared colour scale (purple: raising p_i lowers the expected loss; orange: raises it). Numbers in cells: the derivative (the exact panel shows p_i).</text>`,
  );
  parts.push(`</svg>`);
  return parts.join('\n') + '\n';
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Write outDir/fig3.svg and outDir/fig3.json; returns the written paths. */
export async function fig3(outDir: string, opts: { seed?: number } = {}): Promise<string[]> {
  const data = fig3Data(opts.seed ?? 3);
  await mkdir(outDir, { recursive: true });
  const svgPath = join(outDir, 'fig3.svg');
  const jsonPath = join(outDir, 'fig3.json');
  await writeFile(svgPath, fig3Svg(data), 'utf8');
  await writeFile(jsonPath, JSON.stringify(data, null, 2) + '\n', 'utf8');
  return [svgPath, jsonPath];
}
