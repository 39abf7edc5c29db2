/** Messages between the page (panel 4) and the training worker. */
import type { OnnxFileMessage } from './onnxDownload.js';

export interface TrainConfig {
  /** 'synthetic' or 'msd' (the volumes sent before with a 'volumes' message). */
  data: 'synthetic' | 'msd';
  /** Synthetic images to generate (70/10/20 train/val/test). */
  count: number;
  /** Pixel-annotated images for phase 1. */
  m: number;
  widths: number[];
  batch: number;
  pretrainEpochs: number;
  /** Phase 1 passes over the m images until it has seen this many per epoch. */
  pretrainImagesPerEpoch: number;
  pretrainLr: number;
  sizeEpochs: number;
  sizeLr: number;
  seed: number;
  threads: number;
}

export interface NamedBytes {
  name: string;
  bytes: ArrayBuffer;
}

export type ToWorker =
  | { type: 'start'; config: TrainConfig }
  | { type: 'pause' }
  | { type: 'continue' }
  | { type: 'stop' }
  | { type: 'exportOnnx' }
  | { type: 'volumes'; images: NamedBytes[]; labels: NamedBytes[] };

export interface Overlay {
  stage: 'before' | 'after phase 1' | 'after phase 2';
  height: number;
  width: number;
  images: Float32Array;
  masks: Uint8Array;
  logits: Float32Array;
  iou: number;
  sizeError: number;
}

export type FromWorker =
  | { type: 'ready'; isolated: boolean; cores: number }
  | { type: 'info'; backend: string; /** 'wasm' (WebAssembly SIMD) or 'js' for float32. */ kernels: string; threads: number; dataset: string; train: number; val: number; annotated: number; params: number }
  | { type: 'volumes'; ok: true; slices: number; volumes: number; text: string }
  | { type: 'volumes'; ok: false; text: string }
  | { type: 'step'; phase: string; epoch: number; step: number; steps: number; loss: number; ms: number }
  | { type: 'epoch'; phase: string; epoch: number; trainLoss: number; iou: number; sizeError: number; dice: number; seconds: number; best: boolean }
  | { type: 'overlay'; overlay: Overlay }
  | { type: 'paused' | 'continued' | 'stopped' }
  | { type: 'done'; seconds: number; /** Kernel calls that ran on more than one thread (0 on one thread). */ parallelRuns: number }
  | { type: 'error'; message: string }
  | OnnxFileMessage;
