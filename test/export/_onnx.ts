/**
 * Test helpers for the ONNX export: onnxruntime-web (its WebAssembly backend, in Node) to run the exported
 * bytes, and an independent protobuf decoder for them — the protobufjs module that onnxruntime-web ships,
 * generated from onnx.proto by its maintainers (not exported by the package, so it is loaded by path).
 */
import { createRequire } from 'node:module';
import * as ort from 'onnxruntime-web';
import type { onnx } from '../../node_modules/onnxruntime-web/lib/onnxjs/ort-schema/protobuf/onnx.js';
import type { Rng } from '../../src/autograd/rng.js';
import type { Module } from '../../src/models/module.js';

// one WebAssembly thread: deterministic, and no worker threads on a shared 2-core machine
ort.env.wasm.numThreads = 1;
export { ort };

const require = createRequire(import.meta.url);
/** onnx.proto's generated message classes (ModelProto.decode / encode). */
export const onnxProto = (
  require('../../node_modules/onnxruntime-web/lib/onnxjs/ort-schema/protobuf/onnx.js') as { onnx: typeof onnx }
).onnx;

/** The .onnx bytes decoded by onnx.proto's generated decoder, as plain objects (int64 as numbers). */
export function decodeOnnx(bytes: Uint8Array): DecodedModel {
  const message = onnxProto.ModelProto.decode(bytes);
  return onnxProto.ModelProto.toObject(message, { longs: Number, defaults: false, arrays: true }) as DecodedModel;
}

export interface DecodedModel {
  irVersion: number;
  producerName: string;
  producerVersion: string;
  docString: string;
  opsetImport: { domain?: string; version: number }[];
  metadataProps: { key: string; value: string }[];
  graph: {
    name: string;
    node: {
      name: string;
      opType: string;
      input: string[];
      output: string[];
      attribute: { name: string; type: number; i?: number; ints: number[]; f?: number; s?: Uint8Array }[];
    }[];
    initializer: { name: string; dims: number[]; dataType: number; rawData: Uint8Array }[];
    input: DecodedValueInfo[];
    output: DecodedValueInfo[];
  };
}

export interface DecodedValueInfo {
  name: string;
  type: { tensorType: { elemType: number; shape: { dim: { dimValue?: number; dimParam?: string }[] } } };
}

/** Run the model on float32 images [N, C, H, W]; returns the output's values and dims. */
export async function runOnnx(
  bytes: Uint8Array,
  images: Float32Array,
  dims: readonly number[],
): Promise<{ values: Float32Array; dims: readonly number[] }> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    const out = await session.run({ images: new ort.Tensor('float32', images, [...dims]) });
    const logits = out['logits'];
    if (!logits) throw new Error(`no 'logits' output; outputs: ${Object.keys(out).join(', ')}`);
    return { values: logits.data as Float32Array, dims: logits.dims };
  } finally {
    await session.release();
  }
}

/**
 * Batch-norm parameters and running statistics away from their initial 1/0 (which would make the fold a
 * no-op): γ ~ 1 ± 0.3, β ~ ±0.3, μ ~ ±0.3, σ² in [0.5, 1.5]; the head's bias too.
 */
export function randomiseBatchNorm(model: Module, rng: Rng): void {
  for (const [name, t] of model.stateDict()) {
    const v = t.storage;
    for (let i = 0; i < v.length; i++) {
      if (name.endsWith('running_var')) v[i] = 0.5 + rng.uniform();
      else if (name.endsWith('running_mean') || name === 'head.bias' || /bn\d?\.bias$/.test(name))
        v[i] = 0.3 * rng.normal();
      else if (/bn\d?\.weight$/.test(name)) v[i] = 1 + 0.3 * rng.normal();
    }
  }
}

/** Seeded normal values. */
export function normals(n: number, rng: Rng): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal());
}
