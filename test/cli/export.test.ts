/** `sizeseg export`, run as a user would: a checkpoint on disk in, an .onnx file that onnxruntime-web runs out. */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { noGrad } from '../../src/autograd/engine.js';
import { Rng } from '../../src/autograd/rng.js';
import { Tensor } from '../../src/autograd/tensor.js';
import { ResUNet } from '../../src/models/resunet.js';
import { saveCheckpoint } from '../../src/train/checkpoint.js';
import { decodeOnnx, normals, randomiseBatchNorm, runOnnx } from '../export/_onnx.js';

const root = mkdtempSync(join(tmpdir(), 'sizeseg-export-'));
function sizeseg(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    encoding: 'utf8',
    env: { ...process.env, SIZESEG_THREADS: '1' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

// a run folder as pretrain leaves it: best.ckpt and config.json
const run = join(root, 'runs', 'pre');
mkdirSync(run, { recursive: true });
const widths = [4, 8, 16];
const model = new ResUNet({ widths, rng: new Rng(3), headBias: -2 });
randomiseBatchNorm(model, new Rng(4));
model.eval();
const ckpt = join(run, 'best.ckpt');
saveCheckpoint(ckpt, model, {
  config: { widths },
  epoch: 7,
  phase: 'pretrain',
  metrics: { iou: 0.41, sizeError: 6.5 },
  extra: { seed: 3 },
});
const runConfig = {
  command: 'pretrain',
  data: 'synthetic',
  count: 120,
  m: 8,
  widths,
  seed: 3,
  epochs: 10,
  patience: 10,
  batch: 8,
  lr: 0.003,
  annotated: [1, 2],
};
writeFileSync(join(run, 'config.json'), JSON.stringify(runConfig, null, 2));

describe('sizeseg export', () => {
  it("writes an .onnx file that onnxruntime-web runs with the checkpoint's logits, with the settings as metadata", async () => {
    const out = join(root, 'pre.onnx');
    const r = sizeseg('export', '--checkpoint', ckpt, '--onnx', out, '--size', '16x12');
    expect(r.stderr).toMatch(
      /^wrote .*pre\.onnx \(\d+ KiB, ONNX opset 13\): ResUNet widths 4,8,16 .* input 'images' float32 \[N, 1, 16, 12\]/,
    );
    expect(r.code).toBe(0);
    const bytes = new Uint8Array(readFileSync(out));
    const images = normals(3 * 16 * 12, new Rng(9));
    const got = await runOnnx(bytes, images, [3, 1, 16, 12]);
    const want = noGrad(() => model.forward(new Tensor(images, [3, 1, 16, 12]))).values();
    const scale = Math.max(...[...want].map(Math.abs));
    expect(Math.max(...[...got.values].map((v, i) => Math.abs(v - (want[i] as number))))).toBeLessThan(1e-5 * scale);
    const meta = Object.fromEntries(decodeOnnx(bytes).metadataProps.map((p) => [p.key, p.value]));
    expect(JSON.parse(meta['sizeseg.checkpoint']!)).toEqual({
      file: 'best.ckpt',
      config: { widths },
      phase: 'pretrain',
      epoch: 7,
      metrics: { iou: 0.41, sizeError: 6.5 },
      extra: { seed: 3 },
    });
    expect(JSON.parse(meta['sizeseg.run_config']!)).toEqual(runConfig);
  });

  it('the default size is 48×32; a checkpoint outside its run folder exports without run settings', () => {
    const lone = join(root, 'lone.ckpt');
    copyFileSync(ckpt, lone);
    const out = join(root, 'lone.onnx');
    const r = sizeseg('export', '--checkpoint', lone, '--onnx', out);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/\[N, 1, 48, 32\] \(--size HxW for another image size\)/);
    const decoded = decodeOnnx(new Uint8Array(readFileSync(out)));
    expect(decoded.graph.input[0]!.type.tensorType.shape.dim.map((d) => d.dimValue ?? d.dimParam)).toEqual([
      'N',
      1,
      48,
      32,
    ]);
    expect(decoded.metadataProps.map((p) => p.key)).not.toContain('sizeseg.run_config');
  });

  it('bad input: one line naming the file or flag and the fix', () => {
    const corrupt = join(root, 'corrupt.ckpt');
    const bytes = readFileSync(ckpt);
    bytes[bytes.length - 5] = bytes[bytes.length - 5]! ^ 0xff;
    writeFileSync(corrupt, bytes);
    const notResunet = join(root, 'other.ckpt');
    saveCheckpoint(notResunet, new ResUNet({ widths: [2] }), {
      config: { layers: 3 },
      epoch: 1,
      phase: 'x',
      metrics: {},
    });
    const wrongWidths = join(root, 'wrong.ckpt');
    saveCheckpoint(wrongWidths, new ResUNet({ widths: [2, 4] }), {
      config: { widths: [2, 8] },
      epoch: 1,
      phase: 'x',
      metrics: {},
    });
    writeFileSync(join(root, 'taken.onnx'), 'x');
    for (const [args, code, pattern] of [
      [
        ['--checkpoint', corrupt, '--onnx', join(root, 'a.onnx')],
        1,
        /checkpoint .*corrupt\.ckpt is not usable: .*sha256.*Re-run the training/,
      ],
      [
        ['--checkpoint', notResunet, '--onnx', join(root, 'a.onnx')],
        1,
        /checkpoint .*other\.ckpt does not describe a ResUNet .*; export a best\.ckpt or last\.ckpt written by sizeseg/,
      ],
      [
        ['--checkpoint', wrongWidths, '--onnx', join(root, 'a.onnx')],
        1,
        /checkpoint .*wrong\.ckpt does not hold a ResUNet of widths 2,8 \(.*shape.*\); export a best\.ckpt/,
      ],
      [['--checkpoint', join(root, 'nope.ckpt'), '--onnx', join(root, 'a.onnx')], 1, /nope\.ckpt does not exist/],
      [['--checkpoint', ckpt], 2, /--onnx is required here, e.g. --onnx model\.onnx/],
      [['--checkpoint', ckpt, '--onnx', join(root, 'taken.onnx')], 2, /taken\.onnx exists; pass --overwrite/],
      [['--checkpoint', ckpt, '--onnx', ckpt], 2, /is the checkpoint itself/],
      [['--checkpoint', ckpt, '--onnx', join(root, 'no', 'such', 'a.onnx')], 2, /the folder .*no\/such does not exist/],
      [['--checkpoint', ckpt, '--onnx', join(root, 'a.onnx'), '--size', '48by32'], 2, /--size must be HEIGHTxWIDTH/],
      [
        ['--checkpoint', ckpt, '--onnx', join(root, 'a.onnx'), '--size', '18x12'],
        2,
        /--size 18x12: the network of .*best\.ckpt has 3 levels, so height and width must be multiples of 4; .* e\.g\. --size 20x12/,
      ],
    ] as const) {
      const r = sizeseg('export', ...args);
      expect(r.stderr, args.join(' ')).toMatch(pattern);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.code).toBe(code);
    }
    expect(
      sizeseg('export', '--checkpoint', ckpt, '--onnx', join(root, 'taken.onnx'), '--overwrite', '--quiet').code,
    ).toBe(0);
    expect(readFileSync(join(root, 'taken.onnx')).length).toBeGreaterThan(1000);
  });
});
