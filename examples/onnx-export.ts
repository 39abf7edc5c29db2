// examples/onnx-export.ts — a trained network as ONNX from the library, plus reference logits to check a runtime with.
//   npx tsx examples/onnx-export.ts CHECKPOINT OUT.onnx
// writes OUT.onnx (exportOnnx: eval mode, batch norm folded, input `images` [N, 1, 48, 32], output `logits`) and
// OUT.check.json: four 48×32 images and sizeseg's eval-mode logits for them (docs/deploy.md runs them in onnxruntime).
import { writeFileSync } from 'node:fs';
import { ResUNet, Tensor, exportOnnx, generateSynthetic, loadCheckpointInto, makeBatch, noGrad, readCheckpoint } from '../src/index.js';

const [checkpoint, out] = process.argv.slice(2);
if (!checkpoint || !out?.endsWith('.onnx')) {
  console.error('usage: npx tsx examples/onnx-export.ts CHECKPOINT OUT.onnx');
  process.exit(2);
}
const model = new ResUNet({ widths: readCheckpoint(checkpoint).header.config.widths as number[] });
loadCheckpointInto(checkpoint, model);
model.eval();
const onnx = exportOnnx(model, { height: 48, width: 32 });
writeFileSync(out, onnx);

// any images do for the check; these are the library's seeded synthetic ones
const batch = makeBatch(generateSynthetic({ count: 4, seed: 0 }), [0, 1, 2, 3]);
const dims = [4, 1, 48, 32];
const logits = noGrad(() => model.forward(new Tensor(batch.images, dims))).values();
const check = { dims, images: [...batch.images], logits: [...logits] };
writeFileSync(out.replace(/\.onnx$/, '.check.json'), JSON.stringify(check));
console.log(`wrote ${out} (${(onnx.length / 1024).toFixed(0)} KiB) and ${out.replace(/\.onnx$/, '.check.json')} (4 images, sizeseg's logits)`);
