/**
 * The training worker of panel 4: the library's browser entry (src/browser.ts) runs the two phases here, off
 * the page's thread, and reports every step and epoch. Pause holds the trainer between two steps
 * (TrainObserver.pause); stop ends it cleanly after the current step.
 */
import {
  ResUNet,
  Rng,
  cpuKernels,
  evaluate,
  foregroundPriorLogit,
  generateSynthetic,
  getBackend,
  getNumThreads,
  indicesOf,
  predictLogits,
  pretrain,
  selectAnnotated,
  setNumThreads,
  sizetrain,
  sizeTermImages,
  type SegDataset,
} from '../../src/browser.js';
import { parallelRunCount, threadingDisabledReason } from '../../src/kernels/wasm/threads.js';
import type { FromWorker, Overlay, ToWorker, TrainConfig, VolumesLoaded } from './protocol.js';
import { installWebWorkerThreads, preparePoolWorkers } from './threads.js';
import { datasetFromFiles } from './volumes.js';
import { onnxFileMessage, type TrainedNetwork } from './onnxFile.js';

// A dedicated worker's global scope, typed by hand (the page's tsconfig has the DOM lib, not WebWorker).
const scope = self as unknown as {
  onmessage: ((ev: MessageEvent<ToWorker>) => void) | null;
  postMessage(msg: FromWorker, transfer?: Transferable[]): void;
  crossOriginIsolated?: boolean;
};
const post = (msg: FromWorker, transfer: Transferable[] = []): void => scope.postMessage(msg, transfer);

let paused = false;
let stopRequested = false;
let resumeWaiters: Array<() => void> = [];
/** The volumes of the last successful load: a failed load keeps them (and says so). */
let msd: { dataset: SegDataset; loaded: VolumesLoaded } | null = null;
let trained: TrainedNetwork | null = null; // the last run's network, for 'download ONNX'
const OVERLAY_IMAGES = 6;

async function overlay(stage: Overlay['stage'], model: ResUNet, ds: SegDataset, indices: number[]): Promise<void> {
  const V = ds.height * ds.width;
  const logits = await predictLogits(model, ds, indices);
  const images = new Float32Array(indices.length * V);
  const masks = new Uint8Array(indices.length * V);
  indices.forEach((n, k) => {
    images.set(ds.images.subarray(n * V, (n + 1) * V), k * V);
    masks.set(ds.masks.subarray(n * V, (n + 1) * V), k * V);
  });
  const metrics = await evaluate(model, ds, indices);
  post({
    type: 'overlay',
    overlay: {
      stage,
      height: ds.height,
      width: ds.width,
      images,
      masks,
      logits,
      iou: metrics.iou,
      sizeError: metrics.sizeError,
    },
  });
}

async function train(config: TrainConfig): Promise<void> {
  const t0 = performance.now();
  const parallelRunsBefore = parallelRunCount();
  stopRequested = false;
  paused = false;
  // extra kernel threads need SharedArrayBuffer, i.e. a cross-origin isolated page (npm run web sends COOP/COEP)
  const threads = scope.crossOriginIsolated ? Math.max(1, Math.floor(config.threads)) : 1;
  if (threads > 1) {
    await preparePoolWorkers(threads - 1);
    installWebWorkerThreads();
  }
  setNumThreads(threads);
  if (config.data === 'msd' && !msd)
    throw new Error('no MRI volumes are loaded: choose or drop the Task04 files first, or train on synthetic images.');
  const ds = config.data === 'msd' && msd ? msd.dataset : generateSynthetic({ count: config.count, seed: config.seed });
  const train = indicesOf(ds, 'train');
  const val = indicesOf(ds, 'val');
  const annotated = selectAnnotated(ds, Math.min(config.m, train.length), new Rng(config.seed));
  const model = new ResUNet({
    widths: config.widths,
    rng: new Rng(config.seed),
    headBias: foregroundPriorLogit(ds.masks, annotated, ds.height * ds.width),
  });
  const params = model.parameters().reduce((s, p) => s + p.size, 0);
  post({
    type: 'info',
    backend: getBackend(),
    kernels: cpuKernels(),
    threads: getNumThreads(),
    dataset: `${ds.name}: ${ds.source}`,
    train: train.length,
    val: val.length,
    annotated: annotated.length,
    params,
  });
  const shown = val.slice(0, OVERLAY_IMAGES);
  await overlay('before', model, ds, shown);

  let last = performance.now();
  const observer = {
    onStep(info: { phase: string; epoch: number; step: number; steps: number; loss: number }) {
      const now = performance.now();
      post({ type: 'step', ...info, ms: now - last });
      last = now;
    },
    onEpoch(r: {
      phase: string;
      epoch: number;
      trainLoss: number;
      val: { iou: number; sizeError: number; dice: number };
      seconds: number;
      best: boolean;
    }) {
      post({
        type: 'epoch',
        phase: r.phase,
        epoch: r.epoch,
        trainLoss: r.trainLoss,
        iou: r.val.iou,
        sizeError: r.val.sizeError,
        dice: r.val.dice,
        seconds: r.seconds,
        best: r.best,
      });
      last = performance.now(); // validation time is not a step
    },
    shouldStop: () => stopRequested,
    pause: async () => {
      if (!paused) return;
      post({ type: 'paused' });
      await new Promise<void>((resolve) => resumeWaiters.push(resolve));
      last = performance.now();
    },
  };
  if (config.pretrainEpochs > 0) {
    await pretrain(model, ds, {
      annotated,
      minImagesPerEpoch: config.pretrainImagesPerEpoch,
      valIndices: val,
      epochs: config.pretrainEpochs,
      patience: config.pretrainEpochs,
      batch: config.batch,
      lr: config.pretrainLr,
      seed: config.seed,
      observer,
    });
    await overlay('after phase 1', model, ds, shown);
  }
  if (config.sizeEpochs > 0 && !stopRequested) {
    // the joint objective (λ = the library's default): BCE on the m masks, the size loss on the other images
    await sizetrain(model, ds, {
      sizeLabelled: config.joint ? sizeTermImages(train, annotated) : train,
      ...(config.joint ? { joint: { annotated } } : {}),
      valIndices: val,
      samples: 1,
      estimator: 'fast',
      epochs: config.sizeEpochs,
      patience: config.sizeEpochs,
      batch: config.batch,
      lr: config.sizeLr,
      seed: config.seed,
      observer,
    });
    await overlay('after phase 2', model, ds, shown);
  }
  trained = { model, ds, config };
  if (threadingDisabledReason())
    post({ type: 'error', message: `the kernel threads were disabled: ${threadingDisabledReason()}` });
  if (stopRequested) post({ type: 'stopped' });
  else
    post({
      type: 'done',
      seconds: (performance.now() - t0) / 1000,
      parallelRuns: parallelRunCount() - parallelRunsBefore,
    });
}

scope.onmessage = (ev) => {
  const msg = ev.data;
  switch (msg.type) {
    case 'start':
      train(msg.config).catch((e: unknown) =>
        post({ type: 'error', message: e instanceof Error ? e.message : String(e) }),
      );
      break;
    case 'pause':
      paused = true;
      break;
    case 'continue':
      paused = false;
      for (const r of resumeWaiters) r();
      resumeWaiters = [];
      post({ type: 'continued' });
      break;
    case 'stop':
      stopRequested = true;
      paused = false;
      for (const r of resumeWaiters) r();
      resumeWaiters = [];
      break;
    case 'exportOnnx': {
      const msg = onnxFileMessage(trained);
      post(msg, 'bytes' in msg ? [msg.bytes] : []);
      break;
    }
    case 'volumes':
      datasetFromFiles(msg.files, (text) => post({ type: 'volumes-progress', text })).then(
        (loaded) => {
          msd = loaded;
          post({ type: 'volumes', ok: true, loaded: loaded.loaded });
        },
        (e: unknown) =>
          post({
            type: 'volumes',
            ok: false,
            text: e instanceof Error ? e.message : String(e),
            kept: msd?.loaded ?? null,
          }),
      );
      break;
  }
};

post({ type: 'ready', isolated: scope.crossOriginIsolated === true, cores: navigator.hardwareConcurrency || 1 });
