/**
 * Panel 4 — the method end to end, live: phase 1 pre-trains the small ResUNet with BCE on m pixel-annotated
 * images, phase 2 continues on the object sizes of all training images only (Lemma-1 estimator, n = 1) or, with
 * the joint objective, on BCE of the m masks + λ·size loss on the other training images.
 * Training runs in a Web Worker (worker.ts) so the page stays responsive.
 */
import type { FromWorker, Overlay, ToWorker, TrainConfig } from '../protocol.js';
import { fixed } from '../numbers.js';
import { button, el, lineChart, show, slider } from '../ui.js';
import { onnxDownload } from '../onnxDownload.js';
import { plural } from '../words.js';
import { realDataSection } from './realData.js';

export const DEFAULT_CONFIG: TrainConfig = {
  data: 'synthetic',
  count: 400,
  m: 20,
  widths: [8, 16, 32],
  batch: 16,
  pretrainEpochs: 6,
  pretrainImagesPerEpoch: 160,
  pretrainLr: 3e-3,
  sizeEpochs: 3,
  sizeLr: 1e-4,
  joint: false,
  seed: 0,
  threads: 1,
};

export interface StepRecord {
  phase: string;
  epoch: number;
  step: number;
  loss: number;
  ms: number;
}
export interface EpochRow {
  phase: string;
  epoch: number;
  trainLoss: number;
  iou: number;
  sizeError: number;
}

/** What the tests read: everything the worker reported, and whether the run has finished. */
export interface TrainingLog {
  steps: StepRecord[];
  epochs: EpochRow[];
  overlays: string[];
  info: Extract<FromWorker, { type: 'info' }> | null;
  state: 'idle' | 'running' | 'paused' | 'done' | 'stopped' | 'error';
  /** Kernel calls of the last run that ran on more than one thread (the extra ones are Web Workers). */
  parallelRuns: number;
  error: string;
  /** The last load of MRI files: what it gave, or why it failed. */
  volumes: string;
  volumesOk: boolean | null;
  /** Loads answered so far (successful or not). */
  volumeLoads: number;
}

export interface TrainingPanel {
  root: HTMLElement;
  log: TrainingLog;
  start(overrides?: Partial<TrainConfig>): void;
}

/** Grey image, ground truth outlined in green, prediction (σ(a) > ½) tinted red. */
function drawOverlay(canvas: HTMLCanvasElement, o: Overlay, k: number): void {
  const { height: H, width: W } = o;
  const V = H * W;
  const ctx = canvas.getContext('2d')!;
  const img = ctx.createImageData(W, H);
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < V; i++) {
    const v = o.images[k * V + i] as number;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  for (let i = 0; i < V; i++) {
    const r = Math.floor(i / W);
    const c = i % W;
    const grey = Math.round((255 * ((o.images[k * V + i] as number) - lo)) / Math.max(1e-6, hi - lo));
    const truth = o.masks[k * V + i] === 1;
    const pred = (o.logits[k * V + i] as number) > 0;
    // truth boundary: a foreground pixel with a background 4-neighbour (or the image edge)
    const at = (rr: number, cc: number): boolean =>
      rr >= 0 && rr < H && cc >= 0 && cc < W && o.masks[k * V + rr * W + cc] === 1;
    const edge = truth && !(at(r - 1, c) && at(r + 1, c) && at(r, c - 1) && at(r, c + 1));
    let [R, G, B] = [grey, grey, grey];
    if (pred) [R, G, B] = [Math.round(grey * 0.45 + 140), Math.round(grey * 0.45), Math.round(grey * 0.45 + 10)];
    if (edge) [R, G, B] = [40, 220, 90];
    img.data.set([R, G, B, 255], 4 * i);
  }
  ctx.putImageData(img, 0, 0);
}

/** λ of the joint objective: the library's DEFAULT_JOINT_LAMBDA, which the worker uses (a page test compares them). */
const JOINT_LAMBDA = '0.001';

const phaseName = (phase: string, joint: boolean): string =>
  phase === 'pretrain'
    ? 'phase 1 (BCE on masks)'
    : joint
      ? `phase 2 (joint: BCE on the m masks + ${JOINT_LAMBDA}·size loss)`
      : 'phase 2 (size loss, sizes only)';

export function trainingPanel(): TrainingPanel {
  const config: TrainConfig = { ...DEFAULT_CONFIG, widths: [...DEFAULT_CONFIG.widths] };
  const log: TrainingLog = {
    steps: [],
    epochs: [],
    overlays: [],
    info: null,
    state: 'idle',
    error: '',
    volumes: '',
    volumesOk: null,
    volumeLoads: 0,
    parallelRuns: 0,
  };
  let worker: Worker | null = null;
  let isolated = false;
  let cores = 1;

  const status = el(
    'div',
    { class: 'status', 'data-testid': 'tr-status' },
    'Press start: both phases take from half a minute to a few minutes, depending on the machine.',
  );
  const sysline = el('div', { class: 'sysline', 'data-testid': 'tr-system' });
  const lossHost1 = el('div', {});
  const lossHost2 = el('div', {});
  const iouHost = el('div', {});
  const eHost = el('div', {});
  const overlayHost = el('div', { class: 'overlays', 'data-testid': 'tr-overlays' });
  const valCount = el('span', {}, 'the validation images');
  const realData = realDataSection(
    (msg, transfer) => ensureWorker().postMessage(msg, transfer),
    (ok, text) => {
      log.volumes = text;
      log.volumesOk = ok;
      log.volumeLoads++;
    },
  );

  const startButton = button('start training', () => start(), { 'data-testid': 'tr-start', class: 'primary' });
  const pauseButton = button('pause', () => togglePause(), { 'data-testid': 'tr-pause', disabled: true });
  const stopButton = button('stop', () => worker?.postMessage({ type: 'stop' } satisfies ToWorker), { disabled: true });
  const onnx = onnxDownload(() => ensureWorker().postMessage({ type: 'exportOnnx' } satisfies ToWorker));

  const mSlider = slider(
    'm (pixel-annotated images)',
    { min: 2, max: 64, step: 1, value: config.m, id: 'tr-m' },
    (v) => {
      config.m = v;
    },
  );
  const preSlider = slider(
    'phase-1 epochs',
    { min: 0, max: 15, step: 1, value: config.pretrainEpochs, id: 'tr-pre' },
    (v) => {
      config.pretrainEpochs = v;
    },
  );
  const sizeSlider = slider(
    'phase-2 epochs',
    { min: 0, max: 8, step: 1, value: config.sizeEpochs, id: 'tr-size' },
    (v) => {
      config.sizeEpochs = v;
    },
  );
  const seedSlider = slider('seed', { min: 0, max: 9, step: 1, value: config.seed, id: 'tr-seed' }, (v) => {
    config.seed = v;
  });
  const threadSlider = slider('threads', { min: 1, max: 1, step: 1, value: 1, id: 'tr-threads' }, (v) => {
    config.threads = v;
  });
  threadSlider.input.disabled = true;
  const jointBox = el('input', { type: 'checkbox', id: 'tr-joint', 'data-testid': 'tr-joint' });
  jointBox.addEventListener('change', () => {
    config.joint = jointBox.checked;
  });
  const jointOption = el(
    'div',
    { class: 'joint-option' },
    el(
      'label',
      { class: 'slider' },
      jointBox,
      el('span', {}, `phase 2: joint objective (BCE on the m annotated images + ${JOINT_LAMBDA}·size)`),
    ),
    el(
      'span',
      { class: 'note' },
      " — the BCE term keeps the masks from shrinking where plain size training costs IoU (large m); recommended: at paper scale it gained IoU at every m, where the size loss alone lost from m = 200 on. Unticked, phase 2 is the paper's.",
    ),
  );
  let runJoint = false; // the objective of the run on screen (the box may change while it runs)

  const drawCharts = (): void => {
    const phase1 = log.steps.filter((s) => s.phase === 'pretrain');
    const phase2 = log.steps.filter((s) => s.phase === 'sizetrain');
    show(
      lossHost1,
      lineChart([{ points: phase1.map((s, i) => [i + 1, s.loss]), colour: '#2f5fb3', label: 'BCE per step' }], {
        xLabel: 'phase-1 step',
        yLabel: 'BCE loss',
        testid: 'tr-loss1',
        width: 254,
        height: 190,
      }),
    );
    show(
      lossHost2,
      lineChart(
        [
          {
            points: phase2.map((s, i) => [i + 1, s.loss]),
            colour: '#b3580b',
            label: runJoint ? 'joint loss per step' : 'size loss per step',
          },
        ],
        {
          xLabel: 'phase-2 step',
          yLabel: runJoint ? `BCE + ${JOINT_LAMBDA}·(s − g(y))²` : '(s − g(y))², batch mean',
          logY: phase2.some((s) => s.loss > 0),
          testid: 'tr-loss2',
          width: 254,
          height: 190,
        },
      ),
    );
    const x = (i: number): number => i + 1;
    const e1 = log.epochs.map((e, i) => ({ ...e, x: x(i) }));
    const series = (phase: string, key: 'iou' | 'sizeError', colour: string, label: string) => ({
      points: e1
        .filter((e) => e.phase === phase)
        .map((e) => [e.x, key === 'iou' ? 100 * e.iou : e.sizeError] as [number, number]),
      colour,
      label,
      dots: true,
    });
    show(
      iouHost,
      lineChart([series('pretrain', 'iou', '#2f5fb3', 'phase 1'), series('sizetrain', 'iou', '#b3580b', 'phase 2')], {
        xLabel: 'epoch',
        yLabel: 'validation IoU (%)',
        testid: 'tr-iou',
        width: 254,
        height: 190,
      }),
    );
    show(
      eHost,
      lineChart(
        [series('pretrain', 'sizeError', '#2f5fb3', 'phase 1'), series('sizetrain', 'sizeError', '#b3580b', 'phase 2')],
        { xLabel: 'epoch', yLabel: 'validation size error E', testid: 'tr-E', width: 254, height: 190 },
      ),
    );
  };

  const showOverlay = (o: Overlay): void => {
    const n = o.images.length / (o.height * o.width);
    const canvases = Array.from({ length: n }, (_, k) => {
      const c = el('canvas', { width: o.width, height: o.height, class: 'overlay' });
      drawOverlay(c, o, k);
      return c;
    });
    const row = el(
      'div',
      { class: 'overlay-row', 'data-stage': o.stage },
      el(
        'div',
        { class: 'overlay-label' },
        el('b', {}, o.stage),
        el('br'),
        `${n === 1 ? 'this one' : `these ${n}`}: IoU ${fixed(100 * o.iou, 1)} %`,
        el('br'),
        `E ${fixed(o.sizeError, 2)}`,
      ),
      ...canvases,
    );
    overlayHost.querySelector(`[data-stage="${o.stage}"]`)?.remove();
    overlayHost.append(row);
    log.overlays.push(o.stage);
  };

  const onMessage = (msg: FromWorker): void => {
    switch (msg.type) {
      case 'ready':
        isolated = msg.isolated;
        cores = msg.cores;
        sysline.textContent = `cross-origin isolated: ${isolated ? 'yes' : 'no'} · ${cores} logical cores`;
        if (isolated) {
          // threads beyond the first are Web Workers sharing memory with the training worker
          threadSlider.input.max = String(Math.max(1, Math.min(cores, 8)));
          threadSlider.input.disabled = cores < 2;
          config.threads = Math.min(2, cores);
          threadSlider.set(config.threads);
        }
        break;
      case 'info':
        log.info = msg;
        sysline.textContent = `backend ${msg.backend} (${msg.kernels === 'wasm' ? 'WebAssembly SIMD' : 'JavaScript'} kernels) · ${msg.threads} thread${msg.threads > 1 ? 's' : ''} · cross-origin isolated: ${isolated ? 'yes' : 'no'} · ${msg.params.toLocaleString('en')} parameters`;
        status.textContent = `${msg.dataset}; ${plural(msg.train, 'training image')} (${msg.annotated} with masks), ${msg.val} for validation.`;
        valCount.textContent = plural(msg.val, 'validation image');
        break;
      case 'step': {
        log.steps.push({ phase: msg.phase, epoch: msg.epoch, step: msg.step, loss: msg.loss, ms: msg.ms });
        const recent = log.steps.slice(-10);
        const ms = recent.reduce((s, r) => s + r.ms, 0) / recent.length;
        status.textContent = `${phaseName(msg.phase, runJoint)} · epoch ${msg.epoch} · step ${msg.step}/${msg.steps} · loss ${fixed(msg.loss, 4)} · ${ms.toFixed(0)} ms per step`;
        status.dataset['msPerStep'] = String(ms);
        drawCharts();
        break;
      }
      case 'epoch':
        log.epochs.push({
          phase: msg.phase,
          epoch: msg.epoch,
          trainLoss: msg.trainLoss,
          iou: msg.iou,
          sizeError: msg.sizeError,
        });
        drawCharts();
        break;
      case 'overlay':
        showOverlay(msg.overlay);
        break;
      case 'paused': {
        log.state = 'paused';
        pauseButton.textContent = 'continue';
        const last = log.steps[log.steps.length - 1];
        status.textContent = `paused${last ? ` after step ${last.step} of epoch ${last.epoch}, ${phaseName(last.phase, runJoint)}` : ' before the first step'}; press continue.`;
        break;
      }
      case 'continued':
        log.state = 'running';
        pauseButton.textContent = 'pause';
        status.textContent = 'continuing…';
        break;
      case 'done':
      case 'stopped':
        if (msg.type === 'done') log.parallelRuns = msg.parallelRuns;
        log.state = msg.type;
        status.textContent = msg.type === 'done' ? `done in ${msg.seconds.toFixed(0)} s.` : 'stopped.';
        finish();
        break;
      case 'onnx':
        onnx.receive(msg);
        break;
      case 'volumes':
      case 'volumes-progress':
        realData.handle(msg);
        break;
      case 'error':
        if (log.state === 'done' || log.state === 'stopped') break;
        log.state = 'error';
        log.error = msg.message;
        status.textContent = `error: ${msg.message}`;
        status.classList.add('error');
        console.error(`training worker: ${msg.message}`);
        finish();
        break;
    }
  };

  function ensureWorker(): Worker {
    if (!worker) {
      worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
      worker.onmessage = (ev: MessageEvent<FromWorker>) => onMessage(ev.data);
      worker.onerror = (ev) => onMessage({ type: 'error', message: ev.message || 'the worker failed to load' });
    }
    return worker;
  }

  function finish(): void {
    startButton.disabled = false;
    pauseButton.disabled = true;
    stopButton.disabled = true;
    pauseButton.textContent = 'pause';
    onnx.enable(log.state === 'done' || log.state === 'stopped');
  }

  function togglePause(): void {
    if (!worker) return;
    if (log.state === 'paused') worker.postMessage({ type: 'continue' } satisfies ToWorker);
    else {
      worker.postMessage({ type: 'pause' } satisfies ToWorker);
      pauseButton.textContent = 'pausing…';
    }
  }

  function start(overrides: Partial<TrainConfig> = {}): void {
    if (overrides.data) realData.setData(overrides.data);
    Object.assign(config, overrides, { data: realData.data() });
    jointBox.checked = config.joint;
    runJoint = config.joint;
    status.classList.remove('error');
    status.textContent = 'starting…';
    log.steps = [];
    log.epochs = [];
    log.overlays = [];
    log.state = 'running';
    log.error = '';
    overlayHost.replaceChildren();
    drawCharts();
    startButton.disabled = true;
    pauseButton.disabled = false;
    stopButton.disabled = false;
    onnx.enable(false);
    ensureWorker().postMessage({ type: 'start', config: { ...config } } satisfies ToWorker);
  }

  const root = el(
    'section',
    { class: 'panel', id: 'panel-train', 'data-testid': 'panel-train' },
    el('h2', {}, '4 · Two-phase training, live in your browser'),
    el(
      'p',
      { class: 'lead' },
      'Phase 1 pre-trains a small residual U-Net with binary cross-entropy on only m images that have pixel masks. ',
      'Phase 2 continues on every training image, but sees only its object size s = g(mask): the loss is (s − g(y))² for a ',
      "mask y sampled from the network's probabilities, and the gradient is the Lemma-1 estimate. Validation IoU measures the ",
      'masks; the size error E = mean over the images of (s − g(ŷ))² measures the sizes of the thresholded predictions ',
      'ŷ = [σ(a) > ½] (an all-foreground ŷ counts as size 2·max(H, W), as in training).',
    ),
    el(
      'div',
      { class: 'formula' },
      'phase 1: BCE(a, t) on m masks     phase 2: min',
      el('sub', {}, 'θ'),
      ' E',
      el('sub', {}, 'Y ~ σ(f', el('sub', {}, 'θ'), '(x))'),
      ' (s − g(Y))²,   ∂/∂a',
      el('sub', {}, 'i'),
      ' ≈ y',
      el('sub', {}, 'i'),
      '(l(y) − l(y↓i)) · p',
      el('sub', {}, 'i'),
      '(1 − p',
      el('sub', {}, 'i'),
      ')',
    ),
    el('div', { class: 'buttons' }, mSlider.root, preSlider.root, sizeSlider.root, seedSlider.root, threadSlider.root),
    jointOption,
    realData.choice,
    el('div', { class: 'buttons' }, startButton, pauseButton, stopButton, onnx.button, sysline),
    status,
    el('div', { class: 'row charts' }, lossHost1, lossHost2, iouHost, eHost),
    el(
      'p',
      { class: 'note wide' },
      'The first 6 validation images: green outline = true object, red = predicted foreground (σ(a) > ½). ',
      "Each row's IoU and E are over the images in that row; the charts' are over all ",
      valCount,
      '.',
    ),
    overlayHost,
    realData.section,
  );
  drawCharts();
  ensureWorker();
  return { root, log, start };
}
