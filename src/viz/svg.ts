/**
 * Hand-written SVG charts: a line chart with axes, "nice" ticks, a legend and optional error bars, and a small
 * heatmap for matrices. Pure functions returning the SVG text (write it with `fs.writeFileSync`).
 */

export interface Series {
  name: string;
  x: number[];
  y: number[];
  /** Symmetric error (± yErr[i]) drawn as a vertical bar with caps. */
  yErr?: number[];
  /** CSS colour; defaults to a 10-colour palette. */
  color?: string;
  /** Dashed line. */
  dashed?: boolean;
}

export interface LineChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  width?: number;
  height?: number;
  /** Logarithmic axes (non-positive values are skipped). */
  logX?: boolean;
  logY?: boolean;
  /** Fixed axis ranges (otherwise from the data, with nice rounding). */
  xRange?: [number, number];
  yRange?: [number, number];
  /** Draw a circle at each point (default true when a series has ≤ 40 points). */
  markers?: boolean;
}

export const PALETTE = [
  '#1f77b4',
  '#d62728',
  '#2ca02c',
  '#ff7f0e',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf',
];

/** Escape text for XML content and attribute values. */
export function escapeXml(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** Format a number compactly for tick labels and attributes. */
function fmt(v: number, step?: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3)
    return v
      .toExponential(step !== undefined ? Math.max(0, Math.min(6, -Math.floor(Math.log10(step / a)))) : 2)
      .replace('e+', 'e');
  if (step !== undefined) {
    // as many decimals as the step needs to be written exactly (2.5 needs one, 0.25 two, 5 none)
    let dec = 0;
    while (dec < 8 && Math.abs(step * 10 ** dec - Math.round(step * 10 ** dec)) > 1e-6 * step * 10 ** dec) dec++;
    return v.toFixed(dec);
  }
  return String(Math.round(v * 1e6) / 1e6);
}

/** Coordinates in SVG attributes: two decimals at most. */
function c2(v: number): string {
  return String(Math.round(v * 100) / 100);
}

/** "Nice" ticks (1, 2, 5 × 10^k) covering [lo, hi], about `target` of them. */
export function niceTicks(
  lo: number,
  hi: number,
  target = 6,
): { ticks: number[]; lo: number; hi: number; step: number } {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return { ticks: [0, 1], lo: 0, hi: 1, step: 1 };
  if (hi < lo) [lo, hi] = [hi, lo];
  if (hi === lo) {
    const d = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo -= d;
    hi += d;
  }
  const raw = (hi - lo) / Math.max(1, target - 1);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5 : norm <= 5 ? 5 : 10) * mag;
  const nlo = Math.floor(lo / step + 1e-9) * step;
  const nhi = Math.ceil(hi / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let v = nlo; v <= nhi + step * 1e-6; v += step)
    ticks.push(Math.abs(v) < step * 1e-9 ? 0 : Number(v.toPrecision(12)));
  return { ticks, lo: nlo, hi: nhi, step };
}

/** Ticks at powers of ten for a log axis (values are log10 of the data). */
function logTicks(lo: number, hi: number): { ticks: number[]; lo: number; hi: number } {
  const a = Math.floor(lo);
  const b = Math.max(a + 1, Math.ceil(hi));
  const ticks: number[] = [];
  for (let k = a; k <= b; k++) ticks.push(k);
  return { ticks, lo: a, hi: b };
}

/** A line chart. Non-finite points break the line (they are not drawn). */
/**
 * A chart's title, centred over the plot; a title too wide for that (bold text is about 0.6 em a character)
 * starts at the left edge instead, so that it is not cut off where the legend moves the plot's centre left.
 */
function titleText(title: string, centre: number, width: number, fontSize: number): string {
  const estimated = 0.6 * fontSize * [...title].length;
  const fits = estimated / 2 <= Math.min(centre, width - centre) - 4;
  const at = fits ? `x="${c2(centre)}" text-anchor="middle"` : `x="8" text-anchor="start"`;
  return `<text ${at} y="22" font-size="${fontSize}" font-weight="bold">${escapeXml(title)}</text>`;
}

export function lineChartSvg(spec: LineChartSpec): string {
  const width = spec.width ?? 640;
  const height = spec.height ?? 400;
  const logX = spec.logX ?? false;
  const logY = spec.logY ?? false;
  const tx = (v: number): number => (logX ? Math.log10(v) : v);
  const ty = (v: number): number => (logY ? Math.log10(v) : v);
  const okX = (v: number): boolean => Number.isFinite(v) && (!logX || v > 0);
  const okY = (v: number): boolean => Number.isFinite(v) && (!logY || v > 0);

  // data ranges
  let xmin = Infinity;
  let xmax = -Infinity;
  let ymin = Infinity;
  let ymax = -Infinity;
  for (const s of spec.series) {
    const n = Math.min(s.x.length, s.y.length);
    for (let i = 0; i < n; i++) {
      const x = s.x[i] as number;
      const y = s.y[i] as number;
      if (!okX(x) || !okY(y)) continue;
      xmin = Math.min(xmin, tx(x));
      xmax = Math.max(xmax, tx(x));
      const e = s.yErr?.[i];
      const lo = e !== undefined && Number.isFinite(e) ? y - Math.abs(e) : y;
      const hi = e !== undefined && Number.isFinite(e) ? y + Math.abs(e) : y;
      if (okY(lo)) ymin = Math.min(ymin, ty(lo));
      ymin = Math.min(ymin, ty(y));
      if (okY(hi)) ymax = Math.max(ymax, ty(hi));
      ymax = Math.max(ymax, ty(y));
    }
  }
  if (!Number.isFinite(xmin)) [xmin, xmax] = [0, 1];
  if (!Number.isFinite(ymin)) [ymin, ymax] = [0, 1];
  if (spec.xRange) [xmin, xmax] = [tx(spec.xRange[0]), tx(spec.xRange[1])];
  if (spec.yRange) [ymin, ymax] = [ty(spec.yRange[0]), ty(spec.yRange[1])];

  const xt = logX ? { ...logTicks(xmin, xmax), step: 1 } : niceTicks(xmin, xmax, 7);
  const yt = logY ? { ...logTicks(ymin, ymax), step: 1 } : niceTicks(ymin, ymax, 6);
  if (spec.xRange && !logX) {
    xt.lo = xmin;
    xt.hi = xmax;
    xt.ticks = xt.ticks.filter((v) => v >= xmin - 1e-12 && v <= xmax + 1e-12);
  }
  if (spec.yRange && !logY) {
    yt.lo = ymin;
    yt.hi = ymax;
    yt.ticks = yt.ticks.filter((v) => v >= ymin - 1e-12 && v <= ymax + 1e-12);
  }

  // layout: plot area left of the legend
  const legendW =
    spec.series.length > 0 ? Math.min(200, 28 + 7 * Math.max(...spec.series.map((s) => s.name.length))) : 0;
  const m = { left: 70, right: 16 + legendW, top: 40, bottom: 56 };
  const pw = Math.max(10, width - m.left - m.right);
  const ph = Math.max(10, height - m.top - m.bottom);
  const X = (v: number): number => m.left + ((v - xt.lo) / (xt.hi - xt.lo || 1)) * pw;
  const Y = (v: number): number => m.top + ph - ((v - yt.lo) / (yt.hi - yt.lo || 1)) * ph;

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
      `font-family="Helvetica, Arial, sans-serif" font-size="12">`,
  );
  out.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(titleText(spec.title, m.left + pw / 2, width, 15));

  // grid + ticks
  out.push('<g class="grid" stroke="#e5e5e5" stroke-width="1">');
  for (const v of xt.ticks) out.push(`<line x1="${c2(X(v))}" y1="${m.top}" x2="${c2(X(v))}" y2="${m.top + ph}"/>`);
  for (const v of yt.ticks) out.push(`<line x1="${m.left}" y1="${c2(Y(v))}" x2="${m.left + pw}" y2="${c2(Y(v))}"/>`);
  out.push('</g>');
  out.push('<g class="axes" stroke="#333333" stroke-width="1">');
  out.push(`<line x1="${m.left}" y1="${m.top + ph}" x2="${m.left + pw}" y2="${m.top + ph}"/>`);
  out.push(`<line x1="${m.left}" y1="${m.top}" x2="${m.left}" y2="${m.top + ph}"/>`);
  for (const v of xt.ticks)
    out.push(`<line x1="${c2(X(v))}" y1="${m.top + ph}" x2="${c2(X(v))}" y2="${m.top + ph + 5}"/>`);
  for (const v of yt.ticks) out.push(`<line x1="${m.left - 5}" y1="${c2(Y(v))}" x2="${m.left}" y2="${c2(Y(v))}"/>`);
  out.push('</g>');
  const tickLabel = (v: number, log: boolean, step: number): string => (log ? fmt(10 ** v) : fmt(v, step));
  out.push('<g class="tick-labels" fill="#333333">');
  for (const v of xt.ticks) {
    out.push(
      `<text x="${c2(X(v))}" y="${m.top + ph + 18}" text-anchor="middle">${escapeXml(tickLabel(v, logX, xt.step))}</text>`,
    );
  }
  for (const v of yt.ticks) {
    out.push(
      `<text x="${m.left - 8}" y="${c2(Y(v) + 4)}" text-anchor="end">${escapeXml(tickLabel(v, logY, yt.step))}</text>`,
    );
  }
  out.push('</g>');
  out.push(`<text x="${c2(m.left + pw / 2)}" y="${height - 14}" text-anchor="middle">${escapeXml(spec.xLabel)}</text>`);
  out.push(
    `<text x="16" y="${c2(m.top + ph / 2)}" text-anchor="middle" transform="rotate(-90 16 ${c2(m.top + ph / 2)})">${escapeXml(spec.yLabel)}</text>`,
  );

  // series
  out.push(
    `<defs><clipPath id="plot-area"><rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}"/></clipPath></defs>`,
  );
  spec.series.forEach((s, si) => {
    const color = s.color ?? PALETTE[si % PALETTE.length] ?? '#000000';
    const n = Math.min(s.x.length, s.y.length);
    const markers = spec.markers ?? n <= 40;
    let d = '';
    let pen = false;
    const pts: [number, number][] = [];
    for (let i = 0; i < n; i++) {
      const x = s.x[i] as number;
      const y = s.y[i] as number;
      if (!okX(x) || !okY(y)) {
        pen = false;
        continue;
      }
      const px = X(tx(x));
      const py = Y(ty(y));
      d += `${pen ? 'L' : 'M'}${c2(px)},${c2(py)}`;
      pen = true;
      pts.push([px, py]);
    }
    out.push(`<g class="series" data-name="${escapeXml(s.name)}" clip-path="url(#plot-area)">`);
    if (s.yErr) {
      out.push(`<g class="error-bars" stroke="${color}" stroke-width="1.2">`);
      for (let i = 0; i < n; i++) {
        const x = s.x[i] as number;
        const y = s.y[i] as number;
        const e = s.yErr[i];
        if (e === undefined || !Number.isFinite(e) || !okX(x) || !okY(y)) continue;
        const px = X(tx(x));
        const lo = y - Math.abs(e);
        const hi = y + Math.abs(e);
        const y0 = okY(lo) ? Y(ty(lo)) : m.top + ph;
        const y1 = Y(ty(hi));
        out.push(`<line x1="${c2(px)}" y1="${c2(y0)}" x2="${c2(px)}" y2="${c2(y1)}"/>`);
        out.push(`<line x1="${c2(px - 4)}" y1="${c2(y0)}" x2="${c2(px + 4)}" y2="${c2(y0)}"/>`);
        out.push(`<line x1="${c2(px - 4)}" y1="${c2(y1)}" x2="${c2(px + 4)}" y2="${c2(y1)}"/>`);
      }
      out.push('</g>');
    }
    if (d) {
      out.push(
        `<path d="${d}" fill="none" stroke="${color}" stroke-width="2" stroke-linejoin="round"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
      );
    }
    if (markers) for (const [px, py] of pts) out.push(`<circle cx="${c2(px)}" cy="${c2(py)}" r="3" fill="${color}"/>`);
    out.push('</g>');
  });

  // legend
  if (spec.series.length > 0) {
    const lx = m.left + pw + 14;
    out.push(`<g class="legend">`);
    spec.series.forEach((s, si) => {
      const color = s.color ?? PALETTE[si % PALETTE.length] ?? '#000000';
      const ly = m.top + 8 + si * 18;
      out.push(
        `<line x1="${lx}" y1="${ly}" x2="${lx + 20}" y2="${ly}" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
      );
      out.push(`<text x="${lx + 26}" y="${ly + 4}">${escapeXml(s.name)}</text>`);
    });
    out.push('</g>');
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}

export interface HeatmapSpec {
  title: string;
  /** Row-major values, `values[r][c]`. Non-finite cells are drawn grey. */
  values: number[][];
  rowLabels?: string[];
  colLabels?: string[];
  xLabel?: string;
  yLabel?: string;
  /** Pixel size of one cell (default 28). */
  cell?: number;
  /** Print the value in each cell (default when the matrix is at most 16×16). */
  annotate?: boolean;
  /** Colour range (default: data min/max). */
  range?: [number, number];
  /** Diverging blue–white–red scale centred at 0 (default: sequential viridis-like). */
  diverging?: boolean;
}

const VIRIDIS: [number, number, number][] = [
  [68, 1, 84],
  [59, 82, 139],
  [33, 145, 140],
  [94, 201, 98],
  [253, 231, 37],
];

function lerpColor(stops: [number, number, number][], t: number): string {
  const u = Math.min(1, Math.max(0, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(u));
  const f = u - i;
  const a = stops[i] as [number, number, number];
  const b = stops[i + 1] as [number, number, number];
  const ch = (k: 0 | 1 | 2): number => Math.round(a[k] + (b[k] - a[k]) * f);
  return `rgb(${ch(0)},${ch(1)},${ch(2)})`;
}

/** A small heatmap (e.g. a gradient-estimate image or a confusion matrix). */
export function heatmapSvg(spec: HeatmapSpec): string {
  const rows = spec.values.length;
  const cols = Math.max(0, ...spec.values.map((r) => r.length));
  const cell = spec.cell ?? 28;
  const annotate = spec.annotate ?? (rows <= 16 && cols <= 16);
  let lo = Infinity;
  let hi = -Infinity;
  for (const r of spec.values) for (const v of r) if (Number.isFinite(v)) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
  if (spec.range) [lo, hi] = spec.range;
  if (!Number.isFinite(lo)) [lo, hi] = [0, 1];
  if (spec.diverging) {
    const a = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
    [lo, hi] = [-a, a];
  }
  if (hi === lo) hi = lo + 1;
  const colorOf = (v: number): string => {
    if (!Number.isFinite(v)) return '#bbbbbb';
    const t = (v - lo) / (hi - lo);
    return spec.diverging
      ? lerpColor(
          [
            [33, 102, 172],
            [247, 247, 247],
            [178, 24, 43],
          ],
          t,
        )
      : lerpColor(VIRIDIS, t);
  };
  const m = { left: 60, top: 40, right: 80, bottom: 50 };
  const width = m.left + cols * cell + m.right;
  const height = m.top + rows * cell + m.bottom;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
      `font-family="Helvetica, Arial, sans-serif" font-size="11">`,
  );
  out.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(titleText(spec.title, m.left + (cols * cell) / 2, width, 14));
  out.push('<g class="cells">');
  spec.values.forEach((row, r) => {
    row.forEach((v, c) => {
      const x = m.left + c * cell;
      const y = m.top + r * cell;
      out.push(
        `<rect x="${x}" y="${y}" width="${cell}" height="${cell}" fill="${colorOf(v)}"><title>${escapeXml(`[${r},${c}] ${fmt(v)}`)}</title></rect>`,
      );
      if (annotate) {
        const t = Number.isFinite(v) ? (v - lo) / (hi - lo) : 0.5;
        const dark = spec.diverging ? Math.abs(t - 0.5) > 0.3 : t < 0.6;
        out.push(
          `<text x="${c2(x + cell / 2)}" y="${c2(y + cell / 2 + 4)}" text-anchor="middle" font-size="9" fill="${dark ? '#ffffff' : '#000000'}">${escapeXml(
            Number.isFinite(v) ? fmt(Number(v.toPrecision(2))) : String(v),
          )}</text>`,
        );
      }
    });
  });
  out.push('</g>');
  if (spec.rowLabels) {
    spec.rowLabels.forEach((l, r) =>
      out.push(
        `<text x="${m.left - 6}" y="${c2(m.top + r * cell + cell / 2 + 4)}" text-anchor="end">${escapeXml(l)}</text>`,
      ),
    );
  }
  if (spec.colLabels) {
    spec.colLabels.forEach((l, c) =>
      out.push(
        `<text x="${c2(m.left + c * cell + cell / 2)}" y="${m.top + rows * cell + 14}" text-anchor="middle">${escapeXml(l)}</text>`,
      ),
    );
  }
  if (spec.xLabel) {
    out.push(
      `<text x="${c2(m.left + (cols * cell) / 2)}" y="${height - 10}" text-anchor="middle">${escapeXml(spec.xLabel)}</text>`,
    );
  }
  if (spec.yLabel) {
    const cy = m.top + (rows * cell) / 2;
    out.push(
      `<text x="14" y="${c2(cy)}" text-anchor="middle" transform="rotate(-90 14 ${c2(cy)})">${escapeXml(spec.yLabel)}</text>`,
    );
  }
  // colour bar
  const bx = m.left + cols * cell + 20;
  const bh = Math.max(40, rows * cell);
  out.push('<g class="colorbar">');
  const steps = 24;
  for (let i = 0; i < steps; i++) {
    const t = 1 - (i + 0.5) / steps;
    out.push(
      `<rect x="${bx}" y="${c2(m.top + (i * bh) / steps)}" width="12" height="${c2(bh / steps + 0.5)}" fill="${colorOf(lo + t * (hi - lo))}"/>`,
    );
  }
  out.push(`<text x="${bx + 16}" y="${m.top + 8}">${escapeXml(fmt(Number(hi.toPrecision(3))))}</text>`);
  out.push(`<text x="${bx + 16}" y="${c2(m.top + bh)}">${escapeXml(fmt(Number(lo.toPrecision(3))))}</text>`);
  out.push('</g>');
  out.push('</svg>');
  return out.join('\n') + '\n';
}
