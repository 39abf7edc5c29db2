/** Small DOM helpers shared by the panels: elements, colour maps, cell grids, SVG charts. */
import { linearTicks, logTicks, tickLabel } from './numbers.js';

type Attrs = Record<string, string | number | boolean | undefined>;

/** `el('div', { class: 'x' }, child, 'text')`: an element with attributes and children. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) e.append(c);
  return e;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

export function svgEl(tag: string, attrs: Attrs = {}, ...children: (Node | string)[]): SVGElement {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== false) e.setAttribute(k, String(v));
  for (const c of children) e.append(c);
  return e;
}

/** An `<input type=range>` with a live label; `onInput` gets the number. */
export function slider(
  label: string,
  opts: { min: number; max: number; step: number; value: number; id: string; format?: (v: number) => string },
  onInput: (v: number) => void,
): { root: HTMLElement; input: HTMLInputElement; set(v: number): void } {
  const input = el('input', {
    type: 'range',
    min: opts.min,
    max: opts.max,
    step: opts.step,
    value: opts.value,
    id: opts.id,
  });
  const format = opts.format ?? ((v: number) => String(v));
  const out = el('output', { for: opts.id }, format(opts.value));
  input.addEventListener('input', () => {
    const v = Number(input.value);
    out.textContent = format(v);
    onInput(v);
  });
  const root = el('label', { class: 'slider' }, el('span', {}, label), input, out);
  return {
    root,
    input,
    set(v: number) {
      input.value = String(v);
      out.textContent = format(v);
    },
  };
}

export function button(text: string, onClick: () => void, attrs: Attrs = {}): HTMLButtonElement {
  const b = el('button', { type: 'button', ...attrs }, text);
  b.addEventListener('click', onClick);
  return b;
}

// ---- colours -----------------------------------------------------------------------------------

function mix(a: readonly number[], b: readonly number[], t: number): string {
  const c = a.map((x, i) => Math.round(x + ((b[i] as number) - x) * t));
  return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
}

/** Sequential map for t ∈ [0, 1] (light yellow → orange → dark red), for distances. */
export function heat(t: number): string {
  const stops = [
    [255, 250, 225],
    [253, 187, 99],
    [227, 94, 45],
    [140, 20, 40],
  ];
  const u = Math.max(0, Math.min(1, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(u));
  return mix(stops[i]!, stops[i + 1]!, u - i);
}

/** Diverging map for t ∈ [−1, 1]: purple < 0 < orange, white at 0 (the colours of the paper's Fig. 3). */
export function diverging(t: number): string {
  const c = Math.max(-1, Math.min(1, t));
  return c < 0 ? mix([255, 255, 255], [84, 39, 136], -c) : mix([255, 255, 255], [179, 88, 6], c);
}

/** Black text on light cells, white on dark ones. */
export function inkFor(rgb: string): string {
  const m = /rgb\((\d+), (\d+), (\d+)\)/.exec(rgb);
  if (!m) return '#111';
  const lum = 0.299 * Number(m[1]) + 0.587 * Number(m[2]) + 0.114 * Number(m[3]);
  return lum < 140 ? '#fff' : '#111';
}

// ---- cell grids --------------------------------------------------------------------------------

export interface CellGrid {
  root: HTMLElement;
  cells: HTMLElement[];
  height: number;
  width: number;
}

/** An H×W grid of square cells (CSS grid); each cell has data-i (row-major index), data-r and data-c. */
export function cellGrid(
  height: number,
  width: number,
  opts: { cell?: number; cls?: string; testid?: string } = {},
): CellGrid {
  const size = opts.cell ?? 34;
  // the cell size is scaled by --cell-scale, which style.css lowers on narrow screens so that a grid fits a phone
  const cellSize = `calc(${size}px * var(--cell-scale, 1))`;
  const root = el('div', {
    class: `grid ${opts.cls ?? ''}`,
    'data-testid': opts.testid,
    style: `grid-template-columns: repeat(${width}, ${cellSize}); grid-auto-rows: ${cellSize};`,
  });
  const cells: HTMLElement[] = [];
  for (let r = 0; r < height; r++) {
    for (let c = 0; c < width; c++) {
      const cell = el('div', { class: 'cell', 'data-i': r * width + c, 'data-r': r, 'data-c': c });
      cells.push(cell);
      root.append(cell);
    }
  }
  return { root, cells, height, width };
}

/** Fill a cell: background colour, text and the exact value (data-v, for tests and tooltips). */
export function paintCell(cell: HTMLElement, colour: string, text: string, value?: number): void {
  cell.style.background = colour;
  cell.style.color = inkFor(colour);
  cell.textContent = text;
  if (value !== undefined) {
    cell.dataset['v'] = String(value);
    cell.title = String(value);
  }
}

/**
 * Pointer painting over a grid: press on a cell and drag; `paint(i, first)` is called for every cell entered
 * (`first` is true for the cell where the press started, so a tool can decide "draw" or "erase" there).
 */
export function paintable(
  grid: CellGrid,
  paint: (i: number, first: boolean) => void,
  done: () => void = () => {},
): void {
  let down = false;
  let last = -1;
  const indexOf = (ev: PointerEvent): number => {
    const t = document.elementFromPoint(ev.clientX, ev.clientY) as HTMLElement | null;
    if (!t || !grid.root.contains(t) || t.dataset['i'] === undefined) return -1;
    return Number(t.dataset['i']);
  };
  grid.root.addEventListener('pointerdown', (ev) => {
    const i = indexOf(ev);
    if (i < 0) return;
    ev.preventDefault();
    down = true;
    last = i;
    paint(i, true);
  });
  grid.root.addEventListener('pointermove', (ev) => {
    if (!down) return;
    const i = indexOf(ev);
    if (i < 0 || i === last) return;
    last = i;
    paint(i, false);
  });
  const up = (): void => {
    if (!down) return;
    down = false;
    last = -1;
    done();
  };
  window.addEventListener('pointerup', up);
  grid.root.addEventListener('contextmenu', (ev) => ev.preventDefault());
}

// ---- SVG charts --------------------------------------------------------------------------------

export interface Series {
  points: Array<[number, number]>;
  colour: string;
  label: string;
  /** Draw markers instead of a line (or both). */
  dots?: boolean;
  dashed?: boolean;
  /** A step function (horizontal then vertical). */
  step?: boolean;
}

export interface ChartOptions {
  width?: number;
  height?: number;
  xLabel: string;
  yLabel: string;
  logX?: boolean;
  logY?: boolean;
  xRange?: [number, number];
  yRange?: [number, number];
  /** A vertical marker (e.g. the current n). */
  marker?: number;
  testid?: string;
}

/** Approximate width of a legend label in the chart's 10.5 px font (no layout pass in a detached SVG). */
const labelWidth = (text: string): number => 6 * text.length;

/**
 * Legend entries laid out left to right above the plot, wrapping into rows: the band is part of the top margin,
 * so a legend never covers data. Returns the elements and the band's height.
 */
function legendBand(
  entries: Array<Pick<Series, 'colour' | 'label' | 'dashed' | 'dots' | 'step'>>,
  left: number,
  right: number,
  top: number,
): { nodes: SVGElement[]; height: number } {
  const nodes: SVGElement[] = [];
  const rowHeight = 15;
  let x = left;
  let row = 0;
  for (const e of entries) {
    const w = 22 + labelWidth(e.label) + 12;
    if (x > left && x + w > right) {
      x = left;
      row++;
    }
    const y = top + 7 + row * rowHeight;
    // the swatch looks like the series: a dot for a scatter, a (dashed) line otherwise
    if (e.dots && !e.step) nodes.push(svgEl('circle', { cx: x + 8, cy: y, r: 3, fill: e.colour }));
    else
      nodes.push(
        svgEl('line', {
          x1: x,
          x2: x + 16,
          y1: y,
          y2: y,
          stroke: e.colour,
          'stroke-width': 2,
          'stroke-dasharray': e.dashed ? '4 3' : undefined,
        }),
      );
    nodes.push(svgEl('text', { x: x + 20, y: y + 4, class: 'legend' }, e.label));
    x += w;
  }
  return { nodes, height: entries.length ? (row + 1) * rowHeight + 4 : 0 };
}

/** A small line/scatter chart with axes, ticks and a legend above the plot. Returns an <svg>. */
export function lineChart(series: Series[], o: ChartOptions): SVGElement {
  const W = o.width ?? 360;
  const m = { l: 52, r: 12, t: 8, b: 40 };
  const legend = legendBand(series, m.l, W - m.r, m.t);
  m.t += legend.height + 4;
  const H = (o.height ?? 210) + legend.height;
  const all = series
    .flatMap((s) => s.points)
    .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!o.logX || x > 0) && (!o.logY || y > 0));
  const tx = (v: number): number => (o.logX ? Math.log10(v) : v);
  const ty = (v: number): number => (o.logY ? Math.log10(v) : v);
  let [x0, x1] = o.xRange ?? [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
  let [y0, y1] = o.yRange ?? [Math.min(...all.map((p) => p[1])), Math.max(...all.map((p) => p[1]))];
  if (!Number.isFinite(x0) || !Number.isFinite(x1)) [x0, x1] = o.logX ? [1, 10] : [0, 1];
  if (!Number.isFinite(y0) || !Number.isFinite(y1)) [y0, y1] = o.logY ? [1, 10] : [0, 1];
  if (x0 === x1) [x0, x1] = o.logX ? [x0 / 2, x1 * 2] : [x0 - 1, x1 + 1];
  if (y0 === y1) [y0, y1] = o.logY ? [y0 / 2, y1 * 2] : [y0 - 1, y1 + 1];
  // a margin around the data, so that lines and dots at the extremes do not sit on the axes or the frame
  const widen = (lo: number, hi: number, log: boolean, fraction: number): [number, number] => {
    if (log) {
      const f = (hi / lo) ** fraction;
      return [lo / f, hi * f];
    }
    const pad = (hi - lo) * fraction;
    return [lo - pad, hi + pad];
  };
  if (!o.yRange) [y0, y1] = widen(y0, y1, !!o.logY, 0.06);
  if (!o.xRange && series.some((s) => s.dots)) [x0, x1] = widen(x0, x1, !!o.logX, 0.05);
  const X = (v: number): number => m.l + ((tx(v) - tx(x0)) / (tx(x1) - tx(x0))) * (W - m.l - m.r);
  const Y = (v: number): number => H - m.b - ((ty(v) - ty(y0)) / (ty(y1) - ty(y0))) * (H - m.t - m.b);
  const svg = svgEl('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: 'chart', 'data-testid': o.testid });
  const ticks = (lo: number, hi: number, log: boolean): number[] => (log ? logTicks(lo, hi) : linearTicks(lo, hi));
  for (const v of ticks(y0, y1, !!o.logY)) {
    svg.append(svgEl('line', { x1: m.l, x2: W - m.r, y1: Y(v), y2: Y(v), class: 'gridline' }));
    svg.append(svgEl('text', { x: m.l - 6, y: Y(v) + 4, 'text-anchor': 'end', class: 'tick y-tick' }, tickLabel(v)));
  }
  for (const v of ticks(x0, x1, !!o.logX)) {
    svg.append(svgEl('line', { x1: X(v), x2: X(v), y1: H - m.b, y2: H - m.b + 4, class: 'axis' }));
    svg.append(
      svgEl('text', { x: X(v), y: H - m.b + 16, 'text-anchor': 'middle', class: 'tick x-tick' }, tickLabel(v)),
    );
  }
  svg.append(svgEl('line', { x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b, class: 'axis' }));
  svg.append(svgEl('line', { x1: m.l, x2: m.l, y1: m.t, y2: H - m.b, class: 'axis' }));
  svg.append(
    svgEl('text', { x: (m.l + W - m.r) / 2, y: H - 6, 'text-anchor': 'middle', class: 'axis-label' }, o.xLabel),
  );
  svg.append(
    svgEl(
      'text',
      {
        x: 12,
        y: (m.t + H - m.b) / 2,
        'text-anchor': 'middle',
        class: 'axis-label',
        transform: `rotate(-90 12 ${(m.t + H - m.b) / 2})`,
      },
      o.yLabel,
    ),
  );
  if (o.marker !== undefined)
    svg.append(svgEl('line', { x1: X(o.marker), x2: X(o.marker), y1: m.t, y2: H - m.b, class: 'marker' }));
  const plot = svgEl('g', { class: 'plot' });
  for (const s of series) {
    const pts = s.points.filter(
      ([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!o.logX || x > 0) && (!o.logY || y > 0),
    );
    if (!s.dots || s.step) {
      let d = '';
      pts.forEach(([x, y], i) => {
        if (i === 0) d += `M${X(x).toFixed(1)},${Y(y).toFixed(1)}`;
        else if (s.step) d += `H${X(x).toFixed(1)}V${Y(y).toFixed(1)}`;
        else d += `L${X(x).toFixed(1)},${Y(y).toFixed(1)}`;
      });
      if (d)
        plot.append(
          svgEl('path', {
            d,
            fill: 'none',
            stroke: s.colour,
            'stroke-width': 2,
            'stroke-dasharray': s.dashed ? '5 4' : undefined,
          }),
        );
    }
    if (s.dots) for (const [x, y] of pts) plot.append(svgEl('circle', { cx: X(x), cy: Y(y), r: 3, fill: s.colour }));
  }
  svg.append(plot, ...legend.nodes);
  return svg;
}

/** A histogram of integer values (bars at each value). */
export function histogram(
  counts: Map<number, number>,
  o: {
    xLabel: string;
    yLabel: string;
    marks?: Array<{ x: number; colour: string; label: string }>;
    testid?: string;
    width?: number;
    height?: number;
  },
): SVGElement {
  const W = o.width ?? 360;
  const m = { l: 44, r: 12, t: 8, b: 40 };
  const marks = o.marks ?? [];
  const legend = legendBand(
    marks.map((k) => ({ colour: k.colour, label: k.label, dashed: true })),
    m.l,
    W - m.r,
    m.t,
  );
  m.t += legend.height + 4;
  const H = (o.height ?? 200) + legend.height;
  const xs = [...counts.keys()].filter(Number.isFinite);
  const lo = Math.min(0, ...xs, ...marks.map((k) => k.x));
  const hi = Math.max(2, ...xs, ...marks.map((k) => k.x));
  const total = [...counts.values()].reduce((a, b) => a + b, 0) || 1;
  const ymax = Math.max(...[...counts.values()].map((c) => c / total), 0.01);
  const bw = (W - m.l - m.r) / (hi - lo + 2);
  const X = (v: number): number => m.l + (v - lo + 1) * bw;
  const Y = (f: number): number => H - m.b - (f / ymax) * (H - m.t - m.b);
  const svg = svgEl('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: 'chart', 'data-testid': o.testid });
  const plot = svgEl('g', { class: 'plot' });
  for (const [x, c] of counts) {
    if (!Number.isFinite(x)) continue;
    plot.append(
      svgEl('rect', {
        x: X(x) - bw * 0.4,
        width: bw * 0.8,
        y: Y(c / total),
        height: H - m.b - Y(c / total),
        fill: '#6b8fd6',
      }),
    );
  }
  for (let v = lo; v <= hi; v += Math.max(2, 2 * Math.ceil((hi - lo) / 16))) {
    svg.append(svgEl('text', { x: X(v), y: H - m.b + 16, 'text-anchor': 'middle', class: 'tick' }, String(v)));
  }
  for (const f of [0, ymax / 2, ymax])
    svg.append(svgEl('text', { x: m.l - 6, y: Y(f) + 4, 'text-anchor': 'end', class: 'tick' }, f.toFixed(2)));
  svg.append(svgEl('line', { x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b, class: 'axis' }));
  svg.append(svgEl('line', { x1: m.l, x2: m.l, y1: m.t, y2: H - m.b, class: 'axis' }));
  svg.append(
    svgEl('text', { x: (m.l + W - m.r) / 2, y: H - 6, 'text-anchor': 'middle', class: 'axis-label' }, o.xLabel),
  );
  svg.append(
    svgEl(
      'text',
      {
        x: 12,
        y: (m.t + H - m.b) / 2,
        'text-anchor': 'middle',
        class: 'axis-label',
        transform: `rotate(-90 12 ${(m.t + H - m.b) / 2})`,
      },
      o.yLabel,
    ),
  );
  for (const k of marks)
    plot.append(
      svgEl('line', {
        x1: X(k.x),
        x2: X(k.x),
        y1: m.t,
        y2: H - m.b,
        stroke: k.colour,
        'stroke-width': 2,
        'stroke-dasharray': '5 3',
      }),
    );
  svg.append(plot, ...legend.nodes);
  return svg;
}

/** Replace the contents of `host` with `node`. */
export function show(host: Element, node: Node): void {
  host.replaceChildren(node);
}
