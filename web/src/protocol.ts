/** Messages between the page (panel 4) and the training worker. */

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
  /** Phase 2 with the joint objective: BCE on the m annotated images + λ·size loss on the other training images. */
  joint: boolean;
  seed: number;
  threads: number;
}

export interface NamedBytes {
  /** File name ("hippocampus_001.nii.gz"). */
  name: string;
  /** Where it came from, for messages: the path inside a dropped folder ("labelsTr/hippocampus_001.nii.gz"), else the name. */
  path: string;
  bytes: ArrayBuffer;
  /** What the user said it is (the input it was chosen in); null for dropped files, sorted by folder name or contents. */
  role: 'image' | 'label' | null;
}

/** The volumes the worker holds for the next 'msd' run. */
export interface VolumesLoaded {
  volumes: number;
  slices: number;
  train: number;
  val: number;
  /** "15 volumes → 359 slices, split by volume …" */
  text: string;
  /** What was left out and why (an image without a label file, a file that is not NIfTI). */
  notes: string[];
}

export type ToWorker =
  | { type: 'start'; config: TrainConfig }
  | { type: 'pause' }
  | { type: 'continue' }
  | { type: 'stop' }
  | { type: 'exportOnnx' }
  | { type: 'volumes'; files: NamedBytes[] };

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
  | {
      type: 'info';
      backend: string /** 'wasm' (WebAssembly SIMD) or 'js' for float32. */;
      kernels: string;
      threads: number;
      dataset: string;
      train: number;
      val: number;
      annotated: number;
      params: number;
    }
  | { type: 'volumes'; ok: true; loaded: VolumesLoaded }
  /** A failed load; `kept` is what the worker still holds from an earlier load (null: none). */
  | { type: 'volumes'; ok: false; text: string; kept: VolumesLoaded | null }
  | { type: 'volumes-progress'; text: string }
  | { type: 'step'; phase: string; epoch: number; step: number; steps: number; loss: number; ms: number }
  | {
      type: 'epoch';
      phase: string;
      epoch: number;
      trainLoss: number;
      iou: number;
      sizeError: number;
      dice: number;
      seconds: number;
      best: boolean;
    }
  | { type: 'overlay'; overlay: Overlay }
  | { type: 'paused' | 'continued' | 'stopped' }
  | {
      type: 'done';
      seconds: number /** Kernel calls that ran on more than one thread (0 on one thread). */;
      parallelRuns: number;
    }
  | { type: 'error'; message: string }
  | OnnxFileMessage;

/** The worker's answer to 'exportOnnx': the network of the last run as .onnx bytes, or why there is none. */
export type OnnxFileMessage = { type: 'onnx'; name: string; bytes: ArrayBuffer } | { type: 'onnx'; error: string };
