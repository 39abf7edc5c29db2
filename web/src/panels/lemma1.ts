/**
 * Panel 3 — the Lemma-1 estimator against the exact gradient. On a small probability map (≤ 18 uncertain
 * pixels) the exact ∂L/∂p_i is computed by enumerating all 2^U masks (paper eq. 19); next to it, the mean of n
 * Lemma-1 estimates (eq. 21), each from one sample y ~ Bernoulli(p). The n slider redraws the paper's Fig. 3.
 */
import { Rng } from '../../../src/autograd/rng.js';
import { fig3Probabilities } from '../../../src/cli/figures/fig3Map.js';
import {
  chebyshevDistanceTransform,
  exactSizeLoss,
  exactSizeLossUncertain,
  lemma1Gradient,
  objectSize,
  sampleBernoulliMasks,
  sizeLoss,
} from '../../../src/estimators/index.js';
import type { ExactResult } from '../../../src/estimators/exact.js';
import { fixed } from '../numbers.js';
import { button, cellGrid, diverging, el, lineChart, paintCell, show, slider, type CellGrid } from '../ui.js';

/** The n values the slider steps through (log-spaced), and the largest. */
export const N_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000] as const;
const N_MAX = N_STEPS[N_STEPS.length - 1]!;
/** The sample counts of the paper's Fig. 3. */
const FIG3_NS = [1, 10, 100, 1000] as const;

export interface Lemma1Preset {
  name: string;
  height: number;
  width: number;
  probs: number[];
  target: number;
  seed: number;
  note: string;
}

export const PRESETS: Record<string, Lemma1Preset> = {
  grid4: {
    name: '4×4, every pixel uncertain',
    height: 4,
    width: 4,
    target: 4,
    seed: 1,
    probs: [0.2, 0.4, 0.5, 0.1, 0.5, 0.8, 0.9, 0.3, 0.4, 0.9, 0.7, 0.5, 0.1, 0.3, 0.6, 0.2],
    note: 'All 16 pixels are uncertain: the exact gradient enumerates 2^16 = 65 536 masks (exactSizeLoss). Click a pixel to raise p by 0.1, shift-click to lower it.',
  },
  fig3: {
    name: "the paper's Fig. 3 (6×6 toy map)",
    height: 6,
    width: 6,
    target: 4,
    seed: 3,
    probs: [...fig3Probabilities()],
    note: 'The object is the 4×4 square in the middle (s = 4). 18 pixels are certain (p = 0 or 1), 18 uncertain: 2^18 masks (exactSizeLossUncertain).',
  },
  example3: {
    name: 'the 3×3 worked example (docs/estimators.md)',
    height: 3,
    width: 3,
    target: 4,
    seed: 7,
    probs: [0.2, 0.5, 0.3, 0.6, 0.9, 0.7, 0.3, 0.6, 0.4],
    note: 'docs/estimators.md, step by step: the first sample from Rng(7) is the cross below, g = 2, l = 4; flipping a corner makes g = 4 and l = 0, so those four entries are −4.',
  },
};

export interface Lemma1State {
  preset: string;
  height: number;
  width: number;
  probs: Float64Array;
  target: number;
  seed: number;
  n: number;
  exact: Float64Array;
  expectedLoss: number;
  mean: Float64Array;
}

export interface Lemma1Panel {
  root: HTMLElement;
  state(): Lemma1State;
  load(preset: string): void;
  setN(n: number): void;
  setSeed(seed: number): void;
}

const fmt = (v: number): string => (Math.abs(v) >= 10 ? fixed(v, 1) : fixed(v, 2));

export function lemma1Panel(): Lemma1Panel {
  let preset = 'grid4';
  let H = 4;
  let W = 4;
  let probs = new Float64Array(16);
  let target = 4;
  let seed = 1;
  let n = 100;
  let exact: ExactResult = { expectedLoss: 0, gradProbs: new Float64Array(16) };
  let means = new Map<number, Float64Array>(); // n → mean of the first n Lemma-1 estimates
  let firstSample = new Uint8Array(16);
  let firstEstimate: Float64Array = new Float64Array(16);

  const gridsHost = el('div', { class: 'row' });
  const fig3Host = el('div', { class: 'row fig3' });
  const chartHost = el('div', {});
  const sampleHost = el('div', { class: 'row' });
  const info = el('div', { class: 'readout', 'data-testid': 'l1-readout' });
  const note = el('p', { class: 'note' });
  const busy = el('p', { class: 'busy', 'data-testid': 'l1-busy' });
  let pGrid: CellGrid;
  let exactGrid: CellGrid;
  let meanGrid: CellGrid;
  let meanCaption: HTMLElement;

  const nSlider = slider(
    'n samples',
    {
      min: 0,
      max: N_STEPS.length - 1,
      step: 1,
      value: N_STEPS.indexOf(100),
      id: 'l1-n',
      format: (k) => String(N_STEPS[k]),
    },
    (k) => {
      n = N_STEPS[k]!;
      drawMean();
      drawChart();
    },
  );
  const seedSlider = slider('seed', { min: 0, max: 50, step: 1, value: seed, id: 'l1-seed' }, (v) => {
    seed = v;
    sample();
    drawAll();
  });
  const targetSlider = slider('target size s', { min: 0, max: 12, step: 1, value: target, id: 'l1-target' }, (v) => {
    target = v;
    compute();
  });

  /** Exact gradient: all 2^V masks when every pixel is uncertain, else 2^U over the uncertain ones. */
  const computeExact = (): void => {
    const allUncertain = probs.every((p) => p > 0 && p < 1);
    exact = allUncertain ? exactSizeLoss(probs, H, W, target) : exactSizeLossUncertain(probs, H, W, target);
  };

  /** N_MAX samples from Rng(seed), one Lemma-1 estimate each; running means kept at every slider n. */
  const sample = (): void => {
    const V = H * W;
    const ys = sampleBernoulliMasks(probs, N_MAX, H, W, new Rng(seed));
    const sum = new Float64Array(V);
    means = new Map();
    const wanted = new Set<number>([...N_STEPS, ...FIG3_NS]);
    for (let k = 0; k < N_MAX; k++) {
      const e = lemma1Gradient(ys.subarray(k * V, (k + 1) * V), H, W, target);
      if (k === 0) {
        firstSample = ys.slice(0, V);
        firstEstimate = e;
      }
      for (let i = 0; i < V; i++) sum[i] = (sum[i] as number) + (e[i] as number);
      if (wanted.has(k + 1))
        means.set(
          k + 1,
          sum.map((s) => s / (k + 1)),
        );
    }
  };

  /**
   * Recompute everything. The exact gradient costs (V − U + 1)·2^U size evaluations for U uncertain pixels
   * (exactSizeLossUncertain: one table per certain pixel), about 5 million for the Fig. 3 map, i.e. seconds:
   * then the panel says so first and computes after the browser has painted that (data-busy meanwhile).
   */
  const compute = (): void => {
    const U = probs.filter((p) => p > 0 && p < 1).length;
    const V = H * W;
    const evaluations = (U === V ? 1 : V - U + 1) * 2 ** U;
    const run = (): void => {
      computeExact();
      sample();
      drawAll();
      delete root.dataset['busy'];
      busy.textContent = '';
    };
    if (evaluations < 1e6) {
      run();
      return;
    }
    root.dataset['busy'] = '1';
    busy.textContent = `computing the exact gradient: ${(evaluations / 1e6).toFixed(1)} million masks (${V - U} certain pixels need one 2^${U} table each)…`;
    setTimeout(run, 30);
  };

  const scale = (): number => Math.max(1e-9, ...Array.from(exact.gradProbs, Math.abs));

  const paintGrad = (grid: CellGrid, values: Float64Array): void => {
    const s = scale();
    values.forEach((v, i) => paintCell(grid.cells[i]!, diverging(v / s), fmt(v), v));
  };

  const build = (): void => {
    const cell = H <= 3 ? 52 : H <= 4 ? 44 : 36;
    pGrid = cellGrid(H, W, { cell, testid: 'l1-probs' });
    exactGrid = cellGrid(H, W, { cell, testid: 'l1-exact' });
    meanGrid = cellGrid(H, W, { cell, testid: 'l1-mean' });
    meanCaption = el('figcaption', {});
    pGrid.root.addEventListener('click', (ev) => {
      const t = ev.target as HTMLElement;
      if (t.dataset['i'] === undefined) return;
      const i = Number(t.dataset['i']);
      const step = ev.shiftKey ? -0.1 : 0.1;
      let p = Math.round(((probs[i] as number) + step) * 100) / 100;
      if (p > 1) p = 0;
      if (p < 0) p = 1;
      probs[i] = p;
      const uncertain = probs.filter((q) => q > 0 && q < 1).length;
      if (uncertain > 18) {
        probs[i] = p > 0.5 ? 1 : 0; // keep the enumeration at most 2^18 masks
      }
      compute();
    });
    gridsHost.replaceChildren(
      el('figure', {}, pGrid.root, el('figcaption', {}, 'p = Pr(Y = 1) (click to edit)')),
      el('figure', {}, exactGrid.root, el('figcaption', {}, 'exact ∂L/∂p, all masks')),
      el('figure', {}, meanGrid.root, meanCaption),
      info,
    );
  };

  const drawMean = (): void => {
    const m = means.get(n)!;
    paintGrad(meanGrid, m);
    meanGrid.root.dataset['n'] = String(n);
    meanCaption.textContent = `mean of n = ${n} Lemma-1 estimates`;
    const rmse = Math.sqrt(m.reduce((s, v, i) => s + (v - (exact.gradProbs[i] as number)) ** 2, 0) / m.length);
    info.dataset['expectedLoss'] = String(exact.expectedLoss);
    info.replaceChildren(
      el('div', {}, 'exact L = E[l(s, ĝ(Y))] = ', el('b', {}, exact.expectedLoss.toFixed(4))),
      el('div', {}, `RMSE(mean of ${n}, exact) = `, el('b', { 'data-testid': 'l1-rmse' }, rmse.toFixed(4))),
      el(
        'div',
        { class: 'note' },
        `s = ${target}, seed ${seed}, ${probs.filter((p) => p > 0 && p < 1).length} uncertain pixels`,
      ),
    );
  };

  const drawChart = (): void => {
    const pts: Array<[number, number]> = [...means.entries()]
      .filter(([k]) => (N_STEPS as readonly number[]).includes(k))
      .sort((a, b) => a[0] - b[0])
      .map(([k, m]) => [
        k,
        Math.sqrt(m.reduce((s, v, i) => s + (v - (exact.gradProbs[i] as number)) ** 2, 0) / m.length),
      ]);
    const first = pts[0]?.[1] ?? 1;
    show(
      chartHost,
      lineChart(
        [
          { points: pts, colour: '#54278f', label: 'RMSE to exact', dots: true },
          {
            points: (N_STEPS as readonly number[]).map((k) => [k, first / Math.sqrt(k)] as [number, number]),
            colour: '#999',
            label: '∝ 1/√n',
            dashed: true,
          },
        ],
        {
          xLabel: 'n (samples averaged)',
          yLabel: 'RMSE of the mean',
          logX: true,
          logY: true,
          marker: n,
          testid: 'l1-chart',
          width: 380,
        },
      ),
    );
  };

  const drawFig3 = (): void => {
    const cell = H <= 3 ? 30 : H <= 4 ? 26 : 22;
    const panels: HTMLElement[] = [];
    const exactSmall = cellGrid(H, W, { cell, cls: 'mini-num' });
    paintGrad(exactSmall, exact.gradProbs);
    panels.push(el('figure', {}, exactSmall.root, el('figcaption', {}, 'exact')));
    for (const k of FIG3_NS) {
      const g = cellGrid(H, W, { cell, cls: 'mini-num' });
      paintGrad(g, means.get(k)!);
      panels.push(el('figure', {}, g.root, el('figcaption', {}, `n = ${k}`)));
    }
    fig3Host.replaceChildren(
      el(
        'div',
        { class: 'fig3-title' },
        'Fig. 3 of the paper, live: the exact derivatives and the mean of n Lemma-1 estimates (one colour scale, purple < 0 < orange)',
      ),
      ...panels,
    );
  };

  const drawSample = (): void => {
    const V = H * W;
    const cell = H <= 3 ? 40 : 30;
    const yGrid = cellGrid(H, W, { cell, testid: 'l1-sample' });
    const dGrid = cellGrid(H, W, { cell });
    const eGrid = cellGrid(H, W, { cell, testid: 'l1-single' });
    const d = chebyshevDistanceTransform(firstSample, H, W);
    for (let i = 0; i < V; i++) {
      paintCell(yGrid.cells[i]!, firstSample[i] ? '#2f5fb3' : '#f3f4f7', String(firstSample[i]));
      paintCell(dGrid.cells[i]!, '#fff', Number.isFinite(d[i]) ? String(d[i]) : '∞');
    }
    paintGrad(eGrid, firstEstimate);
    const g = objectSize(firstSample, H, W);
    sampleHost.replaceChildren(
      el('figure', {}, yGrid.root, el('figcaption', {}, `first sample y (Rng(${seed}))`)),
      el('figure', {}, dGrid.root, el('figcaption', {}, `its d: g = ${g}, l = ${sizeLoss(target, g, H, W)}`)),
      el('figure', {}, eGrid.root, el('figcaption', {}, 'its Lemma-1 estimate')),
      el(
        'p',
        { class: 'note' },
        'Each entry flips one pixel: y',
        el('sub', {}, 'i'),
        ' · (l(s, g(y)) − l(s, g(y↓i))), with y',
        el('sub', {}, 'i'),
        ' = +1 on the object and −1 off it. One sample is noisy but unbiased; the mean of n converges to the exact gradient like 1/√n.',
      ),
    );
  };

  const drawAll = (): void => {
    probs.forEach((p, i) => paintCell(pGrid.cells[i]!, `rgba(47, 95, 179, ${0.1 + 0.9 * p})`, p.toFixed(2), p));
    paintGrad(exactGrid, exact.gradProbs);
    drawMean();
    drawChart();
    drawFig3();
    drawSample();
  };

  const load = (name: string): void => {
    const p = PRESETS[name];
    if (!p) throw new Error(`unknown preset ${name}`);
    preset = name;
    H = p.height;
    W = p.width;
    probs = Float64Array.from(p.probs);
    target = p.target;
    seed = p.seed;
    targetSlider.set(target);
    seedSlider.set(seed);
    note.textContent = p.note;
    presetButtons.forEach((b) => b.classList.toggle('active', b.dataset['preset'] === name));
    build();
    compute();
  };

  const presetButtons = Object.entries(PRESETS).map(([key, p]) => {
    const b = button(p.name, () => load(key), { 'data-preset': key, 'data-testid': `l1-preset-${key}` });
    return b;
  });

  const root = el(
    'section',
    { class: 'panel', id: 'panel-lemma1', 'data-testid': 'panel-lemma1' },
    el('h2', {}, '3 · Lemma 1: one sample, an unbiased gradient'),
    el(
      'p',
      { class: 'lead' },
      'The expected loss L(p) = Σ',
      el('sub', {}, 'y'),
      ' Pr(y) · l(s, g(y)) is multilinear in p, so its derivative is exactly the difference ',
      'of two conditional expectations (eq. 19), computable here by enumerating every mask. Lemma 1 estimates it from one sample y ',
      'by flipping each pixel once (eq. 21) — V size evaluations instead of 2',
      el('sup', {}, 'V'),
      '.',
    ),
    el(
      'div',
      { class: 'formula' },
      '∂L/∂p',
      el('sub', {}, 'i'),
      ' = E[ l(s, g(Y',
      el('sub', {}, 'i=+1'),
      ')) − l(s, g(Y',
      el('sub', {}, 'i=−1'),
      ')) ]',
      '   ≈   y',
      el('sub', {}, 'i'),
      ' · ( l(s, g(y)) − l(s, g(y↓i)) ),   y ~ Bernoulli(p)',
    ),
    el('div', { class: 'buttons' }, el('span', {}, 'map: '), ...presetButtons),
    note,
    busy,
    gridsHost,
    el('div', { class: 'buttons' }, nSlider.root, seedSlider.root, targetSlider.root),
    el('div', { class: 'row' }, chartHost, fig3Host),
    el('h3', {}, 'One sample, step by step'),
    sampleHost,
  );
  load(preset);
  return {
    root,
    state: () => ({
      preset,
      height: H,
      width: W,
      probs: probs.slice(),
      target,
      seed,
      n,
      exact: exact.gradProbs.slice(),
      expectedLoss: exact.expectedLoss,
      mean: means.get(n)!.slice(),
    }),
    load,
    setN(k: number) {
      const idx = (N_STEPS as readonly number[]).indexOf(k);
      if (idx < 0) throw new Error(`n must be one of ${N_STEPS.join(', ')}`);
      nSlider.set(idx);
      n = k;
      drawMean();
      drawChart();
    },
    setSeed(v: number) {
      seed = v;
      seedSlider.set(v);
      sample();
      drawAll();
    },
  };
}
