/**
 * Panel 2 — why thresholding kills the gradient, and what logistic noise does. Paint per-pixel logits a_i; the
 * thresholded mask [a > 0] has a size that only jumps when a logit crosses 0 (zero gradient almost everywhere),
 * while samples y ~ Bernoulli(σ(a)) give a whole distribution of sizes whose mean moves smoothly with a.
 */
import { Rng } from '../../../src/autograd/rng.js';
import { objectSize, sampleBernoulliMasks, stableSigmoid } from '../../../src/estimators/index.js';
import { button, cellGrid, el, histogram, lineChart, paintable, paintCell, show, slider } from '../ui.js';

const H = 8;
const W = 12;
const HIST_SAMPLES = 2000;
const SHOWN_SAMPLES = 6;

/** A soft blob: fairly sure (+2.5) in the middle, uncertain at its rim, background (down to −4) outside. */
function blobLogits(): Float64Array {
  const a = new Float64Array(H * W);
  for (let r = 0; r < H; r++) {
    for (let c = 0; c < W; c++) {
      const dr = (r - 3.5) / 3.6;
      const dc = (c - 5.5) / 5.2;
      const v = 2.5 - (6 * Math.max(0, Math.sqrt(dr * dr + dc * dc) - 0.35)) / 0.65;
      a[r * W + c] = Math.max(-4, Math.min(4, Math.round(v * 2) / 2));
    }
  }
  return a;
}

/** Logit colours: blue for foreground-leaning (a > 0), warm grey for background-leaning, white at a = 0. */
function logitColour(a: number): string {
  const t = Math.max(-1, Math.min(1, a / 4));
  const mix = (x: number[], y: number[], u: number): string =>
    `rgb(${x.map((v, i) => Math.round(v + ((y[i] as number) - v) * u)).join(', ')})`;
  return t >= 0 ? mix([255, 255, 255], [47, 95, 179], t) : mix([255, 255, 255], [196, 120, 60], -t);
}

export function noisePanel(): HTMLElement {
  let logits = blobLogits();
  let brush = 2;
  let seed = 1;
  const logitGrid = cellGrid(H, W, { testid: 'nz-logits', cell: 30 });
  const threshGrid = cellGrid(H, W, { cell: 12, cls: 'mini', testid: 'nz-threshold' });
  const sampleGrids = Array.from({ length: SHOWN_SAMPLES }, () => cellGrid(H, W, { cell: 12, cls: 'mini' }));
  const threshLabel = el('figcaption', {});
  const sampleLabels = sampleGrids.map(() => el('figcaption', {}));
  const histHost = el('div', { 'data-testid': 'nz-hist' });
  const shiftHost = el('div', { 'data-testid': 'nz-shift' });

  const sizesOf = (a: Float64Array, count: number, rng: Rng): { masks: Uint8Array; sizes: number[] } => {
    const p = Array.from(a, (v) => stableSigmoid(v));
    const masks = sampleBernoulliMasks(p, count, H, W, rng);
    const sizes: number[] = [];
    for (let k = 0; k < count; k++) sizes.push(objectSize(masks.subarray(k * H * W, (k + 1) * H * W), H, W));
    return { masks, sizes };
  };
  const threshold = (a: Float64Array): Uint8Array => Uint8Array.from(a, (v) => (v > 0 ? 1 : 0));

  const redraw = (): void => {
    for (let i = 0; i < H * W; i++) {
      const a = logits[i] as number;
      paintCell(logitGrid.cells[i]!, logitColour(a), a.toFixed(1), a);
    }
    const t = threshold(logits);
    const gT = objectSize(t, H, W);
    for (let i = 0; i < H * W; i++) paintCell(threshGrid.cells[i]!, t[i] ? '#2f5fb3' : '#f3f4f7', '');
    threshLabel.textContent = `[a > 0]: g = ${gT}`;
    const rng = new Rng(seed);
    const { masks, sizes } = sizesOf(logits, HIST_SAMPLES, rng);
    sampleGrids.forEach((grid, k) => {
      for (let i = 0; i < H * W; i++) paintCell(grid.cells[i]!, masks[k * H * W + i] ? '#2f5fb3' : '#f3f4f7', '');
      sampleLabels[k]!.textContent = `sample ${k + 1}: g = ${sizes[k]}`;
    });
    const counts = new Map<number, number>();
    for (const g of sizes) counts.set(g, (counts.get(g) ?? 0) + 1);
    const finite = sizes.filter(Number.isFinite);
    const meanG = finite.reduce((s, g) => s + g, 0) / Math.max(1, finite.length);
    show(
      histHost,
      histogram(counts, {
        xLabel: `g of ${HIST_SAMPLES} samples y ~ Bernoulli(σ(a))`,
        yLabel: 'fraction',
        testid: 'nz-hist-svg',
        marks: [
          { x: gT, colour: '#c0392b', label: `thresholded g = ${gT}` },
          { x: meanG, colour: '#1e7b45', label: `mean g = ${meanG.toFixed(2)}` },
        ],
      }),
    );
    histHost.dataset['mean'] = String(meanG);
    // Shift every logit by b: the thresholded size is a staircase in b (zero derivative between the steps), the
    // expected size under logistic noise is smooth — that is what makes E[l] trainable by gradient descent.
    const stair: Array<[number, number]> = [];
    const smooth: Array<[number, number]> = [];
    const shiftRng = new Rng(seed + 1000);
    for (let b = -4; b <= 4.0001; b += 0.25) {
      const shifted = logits.map((v) => v + b);
      stair.push([b, objectSize(threshold(shifted), H, W)]);
      const s = sizesOf(shifted, 200, shiftRng).sizes.filter(Number.isFinite);
      smooth.push([b, s.reduce((x, y) => x + y, 0) / Math.max(1, s.length)]);
    }
    show(
      shiftHost,
      lineChart(
        [
          { points: stair, colour: '#c0392b', label: 'g([a + b > 0])', step: true },
          { points: smooth, colour: '#1e7b45', label: 'E g(Y), 200 samples' },
        ],
        { xLabel: 'shift b added to every logit', yLabel: 'object size', testid: 'nz-shift-svg' },
      ),
    );
  };

  paintable(logitGrid, (i) => {
    logits[i] = brush;
    redraw();
  });

  const brushSlider = slider(
    'brush logit',
    { min: -4, max: 4, step: 0.5, value: brush, id: 'nz-brush', format: (v) => v.toFixed(1) },
    (v) => {
      brush = v;
    },
  );
  const controls = el(
    'div',
    { class: 'buttons' },
    brushSlider.root,
    button('soft blob', () => {
      logits = blobLogits();
      redraw();
    }),
    button('all a = 0 (p = ½)', () => {
      logits = new Float64Array(H * W);
      redraw();
    }),
    button(
      'resample',
      () => {
        seed++;
        redraw();
      },
      { 'data-testid': 'nz-resample' },
    ),
  );

  const root = el(
    'section',
    { class: 'panel', id: 'panel-noise', 'data-testid': 'panel-noise' },
    el('h2', {}, '2 · Thresholding has no gradient; logistic noise gives one'),
    el(
      'p',
      { class: 'lead' },
      'The network outputs a logit a',
      el('sub', {}, 'i'),
      ' per pixel (paint them with the brush). A hard threshold [a > 0] gives one mask, ',
      'and its size changes only when some logit crosses zero: its derivative is zero almost everywhere. Adding logistic noise, ',
      'y',
      el('sub', {}, 'i'),
      ' = [a',
      el('sub', {}, 'i'),
      ' + z',
      el('sub', {}, 'i'),
      ' > 0] with z ~ Logistic(0, 1), is the same as sampling ',
      'y',
      el('sub', {}, 'i'),
      ' ~ Bernoulli(σ(a',
      el('sub', {}, 'i'),
      ')); the expected loss E[l(s, g(Y))] is then a smooth function of a.',
    ),
    el(
      'div',
      { class: 'formula' },
      'p',
      el('sub', {}, 'i'),
      ' = Pr(Y',
      el('sub', {}, 'i'),
      ' = 1) = σ(a',
      el('sub', {}, 'i'),
      ') = 1 / (1 + e',
      el('sup', {}, '−a'),
      el('sup', {}, el('sub', {}, 'i')),
      '),     L(a) = E',
      el('sub', {}, 'Y'),
      ' [ (s − g(Y))² ]',
    ),
    el(
      'div',
      { class: 'row' },
      el('figure', {}, logitGrid.root, el('figcaption', {}, 'logits a (paint here)')),
      el(
        'div',
        { class: 'samples' },
        el('figure', { class: 'thresh' }, threshGrid.root, threshLabel),
        ...sampleGrids.map((g, k) => el('figure', {}, g.root, sampleLabels[k]!)),
      ),
    ),
    el(
      'div',
      { class: 'row' },
      histHost,
      shiftHost,
      el(
        'p',
        { class: 'note' },
        'Right: every logit shifted by the same b. The thresholded size (red) is a staircase, flat between its jumps, ',
        'so its derivative gives training nothing to follow; the expected size under logistic noise (green) rises smoothly with b. ',
        'Left: the sizes of 2000 samples; the thresholded mask is only one of them.',
      ),
    ),
    controls,
  );
  redraw();
  return root;
}
