/**
 * The browser entry without a browser: src/browser.ts bundles for the browser platform with no Node built-in,
 * and the bundle loads in a bare JavaScript context (no process, Buffer, setImmediate, require) and trains.
 * The NIfTI byte decoder asks for gunzipped bytes. (The page itself is tested in Chromium: page.test.ts.)
 */
import { build } from 'esbuild';
import { runInNewContext } from 'node:vm';
import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { NIFTI_DT, decodeNifti, decodeNiftiBytes, encodeNifti } from '../../src/data/nifti.js';

describe('src/browser.ts', () => {
  it('bundles for the browser without Node built-ins, loads without Node globals, and runs a training step', async () => {
    const result = await build({
      stdin: {
        contents: `
          import { ResUNet, Rng, generateSynthetic, pretrain, indicesOf } from './src/browser.ts';
          const ds = generateSynthetic({ count: 24, seed: 1 });
          const model = new ResUNet({ widths: [4, 8], rng: new Rng(0) });
          globalThis.done = pretrain(model, ds, { annotated: indicesOf(ds, 'train').slice(0, 4), valIndices: indicesOf(ds, 'val'),
            epochs: 1, patience: 1, batch: 2, lr: 1e-3, seed: 0 }).then((r) => r.history[0].trainLoss);`,
        resolveDir: process.cwd(),
        loader: 'ts',
      },
      bundle: true,
      format: 'iife',
      platform: 'browser',
      write: false,
      logLevel: 'silent',
    });
    const code = result.outputFiles[0]!.text;
    expect(code).not.toMatch(/require\(["']node:|from ["']node:/);
    // a context with the language's globals only, plus what a browser (worker) has and the trainer uses
    const context: Record<string, unknown> = { MessageChannel, performance, console };
    runInNewContext(code, context);
    const loss = await (context['done'] as Promise<number>);
    expect(Number.isFinite(loss)).toBe(true);
    expect(context['process']).toBeUndefined();
  });

  it('decodeNiftiBytes reads uncompressed bytes and asks for gunzipped ones', () => {
    const raw = encodeNifti([1, 2, 3, 4, 5, 6], [3, 2, 1], { datatype: NIFTI_DT.INT16 });
    const gz = gzipSync(raw);
    expect([...decodeNiftiBytes(gunzipSync(gz)).data]).toEqual([...decodeNifti(gz).data]);
    expect(() => decodeNiftiBytes(gz, 'x.nii.gz')).toThrow(/gunzip it first/);
  });
});
