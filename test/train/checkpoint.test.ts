import { mkdtempSync, readFileSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Rng, noGrad, randn } from '../../src/autograd/index.js';
import { ResUNet } from '../../src/models/resunet.js';
import { loadCheckpointInto, readCheckpoint, saveCheckpoint } from '../../src/train/checkpoint.js';

const dir = mkdtempSync(join(tmpdir(), 'sizeseg-ckpt-'));
const info = { config: { widths: [2, 4] }, epoch: 3, phase: 'pretrain', metrics: { iou: 0.5 } };

describe('checkpoints', () => {
  it('round trip: same outputs, header kept, no temp file left', () => {
    const a = new ResUNet({ widths: [2, 4], rng: new Rng(1) });
    // make the BN running statistics non-trivial so buffers are tested too
    a.forward(randn([2, 1, 4, 4], new Rng(9)));
    const path = join(dir, 'a.ckpt');
    saveCheckpoint(path, a, info);
    const b = new ResUNet({ widths: [2, 4], rng: new Rng(2) });
    const header = loadCheckpointInto(path, b);
    expect(header.epoch).toBe(3);
    expect(header.config).toEqual({ widths: [2, 4] });
    const x = randn([1, 1, 4, 4], new Rng(3));
    expect(Array.from(noGrad(() => b.eval().forward(x)).dataSync())).toEqual(
      Array.from(noGrad(() => a.eval().forward(x)).dataSync()),
    );
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('refuses corrupt, truncated, foreign and mismatched files with a clear message', () => {
    const a = new ResUNet({ widths: [2, 4], rng: new Rng(1) });
    const path = join(dir, 'c.ckpt');
    saveCheckpoint(path, a, info);
    const good = readFileSync(path);
    const flipped = Buffer.from(good);
    flipped[flipped.length - 3]! ^= 0xff;
    writeFileSync(join(dir, 'flipped.ckpt'), flipped);
    expect(() => readCheckpoint(join(dir, 'flipped.ckpt'))).toThrow(/sha256.*corrupt/);
    writeFileSync(join(dir, 'short.ckpt'), good.subarray(0, good.length - 100));
    expect(() => readCheckpoint(join(dir, 'short.ckpt'))).toThrow(/truncated/);
    writeFileSync(join(dir, 'foreign.ckpt'), 'hello world, not a checkpoint');
    expect(() => readCheckpoint(join(dir, 'foreign.ckpt'))).toThrow(/magic/);
    expect(() => readCheckpoint(join(dir, 'missing.ckpt'))).toThrow(/does not exist/);
    expect(() => loadCheckpointInto(path, new ResUNet({ widths: [3, 4] }))).toThrow(/has shape .* in the checkpoint/);
  });

  it('an interrupted write leaves the previous checkpoint intact', () => {
    const a = new ResUNet({ widths: [2, 4], rng: new Rng(1) });
    const path = join(dir, 'keep.ckpt');
    saveCheckpoint(path, a, info);
    const before = readFileSync(path);
    // a state tensor whose values() throws mid-way simulates a crash during the write
    const broken = new ResUNet({ widths: [2, 4], rng: new Rng(5) });
    const first = [...broken.stateDict().values()][3]!;
    Object.defineProperty(first, 'values', {
      value: () => {
        throw new Error('simulated crash');
      },
    });
    expect(() => saveCheckpoint(path, broken, info)).toThrow(/simulated crash/);
    expect(readFileSync(path).equals(before)).toBe(true);
    expect(existsSync(path)).toBe(true);
  });
});
