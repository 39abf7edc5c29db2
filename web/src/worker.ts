/**
 * The training worker of panel 4: the library's browser entry (src/browser.ts) runs the two phases here, off
 * the page's thread, and reports every step and epoch. Pause holds the trainer between two steps
 * (TrainObserver.pause); stop ends it cleanly after the current step.
 */
import {
  ResUNet, Rng, cpuKernels, evaluate, foregroundPriorLogit, generateSynthetic, getBackend, getNumThreads, indicesOf, predictLogits, pretrain,
  selectAnnotated, setNumThreads, sizetrain, slicesFromVolumes, decodeNiftiBytes, isGzip, volumeSplit, maskSizes,
  type SegDataset, type MsdVolumePair,
} from '../../src/browser.js';
import { parallelRunCount, threadingDisabledReason } from '../../src/kernels/wasm/threads.js';
import type { FromWorker, NamedBytes, Overlay, ToWorker, TrainConfig } from './protocol.js';
import { installWebWorkerThreads, preparePoolWorkers } from './threads.js';
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
let msdDataset: SegDataset | null = null;
let trained: TrainedNetwork | null = null; // the last run's network, for 'download ONNX'
const OVERLAY_IMAGES = 6;

async function gunzip(bytes: ArrayBuffer): Promise<Uint8Array> {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Case id of an MSD file name: "hippocampus_001.nii.gz" → "hippocampus_001". */
const caseId = (name: string): string => name.replace(/^.*[\\/]/, '').replace(/\.nii(\.gz)?$/, '');

async function decode(file: NamedBytes) {
  const raw = new Uint8Array(file.bytes);
  return decodeNiftiBytes(isGzip(raw) ? await gunzip(file.bytes) : raw, file.name);
}

/** MSD volumes → the same 48×32 slices as `loadMsd`, split 70/10/20 by volume. */
async function loadVolumes(images: NamedBytes[], labels: NamedBytes[]): Promise<SegDataset> {
  const labelOf = new Map(labels.map((l) => [caseId(l.name), l]));
  const pairs: MsdVolumePair[] = [];
  const ids = images.map((f) => caseId(f.name)).sort();
  for (const id of ids) {
    const img = images.find((f) => caseId(f.name) === id)!;
    const lab = labelOf.get(id);
    if (!lab) throw new Error(`${img.name} has no label file of the same name; drop the labelsTr file too.`);
    pairs.push({ id, image: await decode(img), label: await decode(lab), imageName: img.name, labelName: lab.name });
  }
  if (pairs.length === 0) throw new Error('no image volumes given.');
  const s = slicesFromVolumes(pairs);
  if (s.count < 3) throw new Error(`only ${s.count} slices have an object; drop more volumes.`);
  // with one or two volumes a split by volume would leave a split empty: split by slice then
  const split = pairs.length >= 3 ? volumeSplit(s.volumeId, 0) : Uint8Array.from({ length: s.count }, (_, i) => (i % 10 === 7 ? 1 : i % 10 >= 8 ? 2 : 0));
  return {
    name: 'msd (dropped files)', height: s.height, width: s.width, count: s.count, images: s.images, masks: s.masks,
    sizes: maskSizes(s.masks, s.count, s.height, s.width), split, volumeId: s.volumeId, sliceIndex: s.sliceIndex,
    source: `${pairs.length} dropped volumes → ${s.count} slices`,
  };
}

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
  post({ type: 'overlay', overlay: { stage, height: ds.height, width: ds.width, images, masks, logits, iou: metrics.iou, sizeError: metrics.sizeError } });
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
  const ds = config.data === 'msd' && msdDataset ? msdDataset : generateSynthetic({ count: config.count, seed: config.seed });
  const train = indicesOf(ds, 'train');
  const val = indicesOf(ds, 'val');
  const annotated = selectAnnotated(ds, Math.min(config.m, train.length), new Rng(config.seed));
  const model = new ResUNet({ widths: config.widths, rng: new Rng(config.seed), headBias: foregroundPriorLogit(ds.masks, annotated, ds.height * ds.width) });
  const params = model.parameters().reduce((s, p) => s + p.size, 0);
  post({ type: 'info', backend: getBackend(), kernels: cpuKernels(), threads: getNumThreads(), dataset: `${ds.name}: ${ds.source}`, train: train.length, val: val.length, annotated: annotated.length, params });
  const shown = val.slice(0, OVERLAY_IMAGES);
  await overlay('before', model, ds, shown);

  let last = performance.now();
  const observer = {
    onStep(info: { phase: string; epoch: number; step: number; steps: number; loss: number }) {
      const now = performance.now();
      post({ type: 'step', ...info, ms: now - last });
      last = now;
    },
    onEpoch(r: { phase: string; epoch: number; trainLoss: number; val: { iou: number; sizeError: number; dice: number }; seconds: number; best: boolean }) {
      post({ type: 'epoch', phase: r.phase, epoch: r.epoch, trainLoss: r.trainLoss, iou: r.val.iou, sizeError: r.val.sizeError, dice: r.val.dice, seconds: r.seconds, best: r.best });
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
      annotated, minImagesPerEpoch: config.pretrainImagesPerEpoch, valIndices: val, epochs: config.pretrainEpochs, patience: config.pretrainEpochs,
      batch: config.batch, lr: config.pretrainLr, seed: config.seed, observer,
    });
    await overlay('after phase 1', model, ds, shown);
  }
  if (config.sizeEpochs > 0 && !stopRequested) {
    await sizetrain(model, ds, {
      sizeLabelled: train, valIndices: val, samples: 1, estimator: 'fast', epochs: config.sizeEpochs, patience: config.sizeEpochs,
      batch: config.batch, lr: config.sizeLr, seed: config.seed, observer,
    });
    await overlay('after phase 2', model, ds, shown);
  }
  trained = { model, ds, config };
  if (threadingDisabledReason()) post({ type: 'error', message: `the kernel threads were disabled: ${threadingDisabledReason()}` });
  if (stopRequested) post({ type: 'stopped' });
  else post({ type: 'done', seconds: (performance.now() - t0) / 1000, parallelRuns: parallelRunCount() - parallelRunsBefore });
}

scope.onmessage = (ev) => {
  const msg = ev.data;
  switch (msg.type) {
    case 'start':
      train(msg.config).catch((e: unknown) => post({ type: 'error', message: e instanceof Error ? e.message : String(e) }));
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
      loadVolumes(msg.images, msg.labels).then((ds) => {
        msdDataset = ds;
        post({ type: 'volumes', ok: true, slices: ds.count, volumes: new Set(ds.volumeId).size, text: ds.source });
      }, (e: unknown) => post({ type: 'volumes', ok: false, text: e instanceof Error ? e.message : String(e) }));
      break;
  }
};

post({ type: 'ready', isolated: scope.crossOriginIsolated === true, cores: navigator.hardwareConcurrency || 1 });
