/**
 * A checkpoint records the data it was trained on, and `evaluate`, `predict` and `sizetrain` use it by default:
 * evaluating a demo's checkpoints reproduces the demo's own test numbers exactly; other data is allowed and
 * said; a test split holding images the network was trained on is refused (the count checked against an
 * independent byte comparison of the images); data that no longer loads as recorded is refused; a checkpoint
 * without a record (an older one) still loads, with the flags, and the output says so. Also: `demo --epochs N`
 * caps both phases, and the output explains the colours of predictions.png.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateSynthetic, indicesOf } from '../../src/data/index.js';
import { readCheckpoint, writeCheckpointFile } from '../../src/train/checkpoint.js';

const out = mkdtempSync(join(tmpdir(), 'sizeseg-ckpt-data-'));
function sizeseg(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    encoding: 'utf8',
    env: { ...process.env, SIZESEG_THREADS: '1' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const lastJson = (stdout: string) => JSON.parse(stdout.trim().split('\n').at(-1)!);
const metricsOf = (m: { iou: number; dice: number; sizeError: number; count: number }) => ({
  iou: m.iou,
  dice: m.dice,
  sizeError: m.sizeError,
  count: m.count,
});

// a small, fast demo that still learns something (test IoU well above 0)
const DEMO = ['--count', '200', '--widths', '4,8', '--m', '20', '--epochs', '2', '--batch', '8', '--seed', '0'];
let demo: { before: Record<string, number>; after: Record<string, number> };
let demoStderr = '';
const best = join(out, 'demo', 'best.ckpt');
const pretrained = join(out, 'demo', 'pretrained.ckpt');

beforeAll(() => {
  const r = sizeseg('demo', ...DEMO, '--out', out);
  expect(r.code).toBe(0);
  demo = lastJson(r.stdout).demo;
  demoStderr = r.stderr;
});

/** Images of `ds` that are byte for byte one of `pool`'s images. */
function sameImages(
  a: { images: Float32Array; height: number; width: number },
  aIdx: number[],
  b: typeof a,
  bIdx: number[],
): number {
  const V = a.height * a.width;
  const key = (ds: typeof a, n: number) =>
    Buffer.from(ds.images.buffer, ds.images.byteOffset + 4 * n * V, 4 * V).toString('base64');
  const pool = new Set(bIdx.map((n) => key(b, n)));
  return aIdx.filter((n) => pool.has(key(a, n))).length;
}

describe('checkpoints record their data', () => {
  it('demo --epochs N caps both phases, and the output says what the colours of predictions.png mean', () => {
    const epochs = readFileSync(join(out, 'demo', 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((r) => r.epoch !== undefined);
    expect(epochs.filter((r) => r.phase === 'pretrain')).toHaveLength(2);
    expect(epochs.filter((r) => r.phase === 'sizetrain')).toHaveLength(2);
    expect(demoStderr).toMatch(
      /predictions\.png: .*green outline = ground truth, red = prediction, yellow = both on the same pixel edge/,
    );
    expect(demo.before.iou).toBeGreaterThan(0.05);
  });

  it("evaluate reproduces the demo's test numbers exactly, on the data the checkpoint records", () => {
    expect(readCheckpoint(best).header.data).toMatchObject({
      spec: 'synthetic',
      seed: 0,
      count: 200,
      images: { train: 140, val: 20, test: 40 },
    });
    const after = sizeseg('evaluate', '--checkpoint', best);
    expect(after.code).toBe(0);
    const a = lastJson(after.stdout);
    expect(a.data).toEqual({ spec: 'synthetic', seed: 0, count: 200, from: 'checkpoint' });
    expect(metricsOf(a)).toEqual(metricsOf(demo.after as never));
    expect(after.stderr).toMatch(
      /data: the checkpoint's, --data synthetic --count 200 --seed 0 \(train 140, val 20, test 40\)/,
    );
    const before = sizeseg('evaluate', '--checkpoint', pretrained, '--quiet');
    expect(before.stderr).toBe('');
    expect(metricsOf(lastJson(before.stdout))).toEqual(metricsOf(demo.before as never));
  });

  it('a test split holding images the checkpoint was trained on is refused with one line naming the overlap', () => {
    // the demo trained on the training split of 200 seeded images; 400 images of the same seed begin with the
    // same 200, split anew: count the test images that are training images, comparing the pixels themselves
    const small = generateSynthetic({ count: 200, seed: 0 });
    const large = generateSynthetic({ count: 400, seed: 0 });
    const test = indicesOf(large, 'test');
    const overlap = sameImages(large, test, small, indicesOf(small, 'train'));
    expect(overlap).toBeGreaterThan(0);
    const r = sizeseg('evaluate', '--checkpoint', best, '--count', '400', '--quiet');
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(
      new RegExp(
        `^sizeseg: error: ${overlap} of the ${test.length} test images of --data synthetic --count 400 --seed 0 are images .*best\\.ckpt was trained on \\(the first: image \\d+\\); .*leave out --data, --count and --seed`,
      ),
    );
    // --split train is what the flag asks for: allowed
    expect(sizeseg('evaluate', '--checkpoint', best, '--count', '400', '--split', 'train', '--quiet').code).toBe(0);
    // predict is refused the same way
    expect(
      sizeseg('predict', '--checkpoint', best, '--count', '400', '--out', out, '--name', 'p-refused', '--quiet').stderr,
    ).toMatch(/are images .*was trained on/);
  });

  it('other data the network never saw is allowed and said in the output', () => {
    const r = sizeseg('evaluate', '--checkpoint', best, '--seed', '7', '--count', '300');
    expect(r.code).toBe(0);
    expect(lastJson(r.stdout).data).toEqual({ spec: 'synthetic', seed: 7, count: 300, from: 'flags' });
    expect(r.stderr).toMatch(
      /data: --data synthetic --count 300 --seed 7 as the flags say, instead of the checkpoint's --data synthetic --count 200 --seed 0/,
    );
    const p = sizeseg('predict', '--checkpoint', best, '--images', '4', '--out', out, '--name', 'p-own');
    expect(p.code).toBe(0);
    expect(p.stderr).toMatch(/data: the checkpoint's/);
    expect(existsSync(join(out, 'p-own', 'predictions.png'))).toBe(true);
  });

  it("sizetrain continues on the checkpoint's data and records what both phases trained on", () => {
    const r = sizeseg(
      'sizetrain',
      '--checkpoint',
      pretrained,
      '--epochs',
      '1',
      '--batch',
      '8',
      '--out',
      out,
      '--name',
      'size',
      '--quiet',
    );
    expect(r.stderr).toBe('');
    expect(JSON.parse(readFileSync(join(out, 'size', 'config.json'), 'utf8'))).toMatchObject({
      data: 'synthetic',
      count: 200,
      seed: 0,
    });
    // refused on 400 images: their test split holds training images of the pre-training or of the size training
    expect(sizeseg('evaluate', '--checkpoint', join(out, 'size', 'best.ckpt'), '--count', '400', '--quiet').code).toBe(
      2,
    );
    // a sizetrain whose validation or test images trained its checkpoint is refused before it starts
    const leak = sizeseg(
      'sizetrain',
      '--checkpoint',
      best,
      '--count',
      '400',
      '--epochs',
      '1',
      '--out',
      out,
      '--name',
      'leak',
      '--quiet',
    );
    expect(leak.code).toBe(2);
    expect(leak.stderr).toMatch(
      /of the \d+ (val|test) images of --data synthetic --count 400 --seed 0 are images .*best\.ckpt was trained on/,
    );
  });

  it('a checkpoint without a record (an older sizeseg) loads with the flags, and the output says so', () => {
    const loaded = readCheckpoint(best);
    const { format: _f, version: _v, tensors, payloadBytes: _p, sha256: _s, data: _d, ...info } = loaded.header;
    const old = join(out, 'old.ckpt');
    writeCheckpointFile(
      old,
      info,
      tensors.map((t) => ({
        group: 'model',
        name: t.name,
        shape: t.shape,
        values: loaded.state.get(t.name)!.values(),
      })),
    );
    const r = sizeseg('evaluate', '--checkpoint', old, '--count', '200');
    expect(r.code).toBe(0);
    expect(lastJson(r.stdout).data).toEqual({ spec: 'synthetic', seed: 0, count: 200, from: 'flags' });
    expect(r.stderr).toMatch(
      /data: --data synthetic --count 200 --seed 0, as the flags say: .*old\.ckpt does not record the data it was trained on .*pass that data with --data, --count and --seed/,
    );
    expect(metricsOf(lastJson(r.stdout))).toEqual(metricsOf(demo.after as never)); // the same data, given by hand
  });

  it('recorded data that no longer loads as it was (an edited split) is refused, naming both', () => {
    // a prepared folder (the format of images.f32, masks.u8, meta.json) made from generated images
    const ds = generateSynthetic({ count: 60, seed: 5 });
    const dir = join(out, 'prepared');
    mkdirSync(dir);
    writeFileSync(join(dir, 'images.f32'), Buffer.from(ds.images.buffer));
    writeFileSync(join(dir, 'masks.u8'), Buffer.from(ds.masks.buffer));
    const meta = { N: 60, H: ds.height, W: ds.width, split_by_volume: [...ds.split] };
    writeFileSync(join(dir, 'meta.json'), JSON.stringify(meta));
    const pre = sizeseg(
      'pretrain',
      '--data',
      `prepared:${dir}`,
      '--m',
      '4',
      '--widths',
      '2,4',
      '--epochs',
      '1',
      '--out',
      out,
      '--name',
      'pre-prepared',
      '--quiet',
    );
    expect(pre.stderr).toBe('');
    const ckpt = join(out, 'pre-prepared', 'best.ckpt');
    expect(sizeseg('evaluate', '--checkpoint', ckpt, '--quiet').code).toBe(0);
    meta.split_by_volume = meta.split_by_volume.map((c) => (c === 2 ? 1 : c === 1 ? 2 : c)); // val and test swapped
    writeFileSync(join(dir, 'meta.json'), JSON.stringify(meta));
    const r = sizeseg('evaluate', '--checkpoint', ckpt, '--quiet');
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(
      /--data prepared:.* no longer loads the images and split .*best\.ckpt was trained on .*pass it with --data/,
    );
  });
});
