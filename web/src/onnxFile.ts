/**
 * Panel 4's "download ONNX", worker side: the network the page trained as .onnx bytes (the library's
 * exportOnnx: eval mode, batch norm folded, input [N, 1, H, W] at the training images' size), with the
 * page's training settings in the file's metadata.
 */
import { exportOnnx, type ResUNet, type SegDataset } from '../../src/browser.js';
import type { OnnxFileMessage, TrainConfig } from './protocol.js';

export interface TrainedNetwork {
  model: ResUNet;
  ds: SegDataset;
  config: TrainConfig;
}

export function onnxFileMessage(trained: TrainedNetwork | null): OnnxFileMessage {
  if (!trained) return { type: 'onnx', error: 'no network has been trained yet; press start training first' };
  const { model, ds, config } = trained;
  try {
    const { threads: _threads, ...settings } = config; // how fast it ran does not describe the network
    const bytes = exportOnnx(model, {
      height: ds.height,
      width: ds.width,
      metadata: {
        'sizeseg.trained_in': 'the sizeseg web page (panel 4)',
        'sizeseg.training': JSON.stringify({ ...settings, dataset: `${ds.name}: ${ds.source}` }),
      },
    });
    const name = `sizeseg-resunet-${config.widths.join('-')}-${config.data}-seed${config.seed}.onnx`;
    return {
      type: 'onnx',
      name,
      bytes: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
    };
  } catch (e) {
    return { type: 'onnx', error: e instanceof Error ? e.message : String(e) };
  }
}
