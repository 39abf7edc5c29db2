/**
 * Panel 4's "download ONNX" in a real Chromium: after a short training run the button saves the network as
 * an .onnx file, which onnxruntime-web (in Node) loads and runs at the training images' size, with the
 * page's settings in its metadata; its predictions score the IoU and E the page printed for the same images. (That exportOnnx's logits are sizeseg's is test/export/onnx.test.ts.)
 */
import { readFileSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSynthetic } from '../../src/data/synthetic.js';
import { indicesOf } from '../../src/data/dataset.js';
import { MetricAccumulator, thresholdLogits } from '../../src/train/metrics.js';
import { decodeOnnx, runOnnx } from '../export/_onnx.js';
import { chromiumOrSkip } from './_chromium.js';
import { openBuiltPage, type OpenedPage } from './_page.js';
import { skipNote } from '../_helpers/skipNote.js';

const executable = chromiumOrSkip();

describe.skipIf(executable === null)(
  "the web page's download ONNX button",
  skipNote('no Chromium found', 'apt-get install -y chromium, or set CHROMIUM_PATH'),
  () => {
    let opened: OpenedPage;
    let page: Page;
    let errors: string[];

    beforeAll(async () => {
      opened = await openBuiltPage(executable!, 'onnx', { acceptDownloads: true });
      ({ page, errors } = opened);
    });

    afterAll(() => opened?.close());

    it('is disabled until a run ends, then saves the trained network as an .onnx file onnxruntime-web runs', async () => {
      const button = page.getByTestId('tr-onnx');
      expect(await button.isDisabled()).toBe(true);
      await page.evaluate(() =>
        (globalThis as any).sizeseg.training.start({
          count: 64,
          m: 16,
          pretrainEpochs: 1,
          pretrainImagesPerEpoch: 16,
          batch: 4,
          sizeEpochs: 1,
          seed: 3,
          threads: 1,
        }),
      );
      await page.waitForFunction(
        () => ['done', 'error'].includes((globalThis as any).sizeseg.training.log.state),
        undefined,
        { timeout: 120_000 },
      );
      expect(await page.evaluate(() => (globalThis as any).sizeseg.training.log.error)).toBe('');
      expect(await button.isEnabled()).toBe(true);
      const [download] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), button.click()]);
      expect(download.suggestedFilename()).toBe('sizeseg-resunet-8-16-32-synthetic-seed3.onnx');
      const bytes = new Uint8Array(readFileSync((await download.path())!));

      const meta = Object.fromEntries(decodeOnnx(bytes).metadataProps.map((p) => [p.key, p.value]));
      expect(JSON.parse(meta['sizeseg.model']!)).toMatchObject({ widths: [8, 16, 32] });
      expect(JSON.parse(meta['sizeseg.training']!)).toMatchObject({
        data: 'synthetic',
        count: 64,
        m: 16,
        seed: 3,
        sizeEpochs: 1,
      });
      // the file's predictions on the validation images the page showed score what the page printed for them
      const label = await page.locator('[data-stage="after phase 2"] .overlay-label').innerText();
      const ds = generateSynthetic({ count: 64, seed: 3 });
      const shown = indicesOf(ds, 'val').slice(0, 6);
      const V = ds.height * ds.width;
      const images = new Float32Array(shown.length * V),
        truth = new Uint8Array(shown.length * V);
      shown.forEach((n, k) => {
        images.set(ds.images.subarray(n * V, (n + 1) * V), k * V);
        truth.set(ds.masks.subarray(n * V, (n + 1) * V), k * V);
      });
      const out = await runOnnx(bytes, images, [shown.length, 1, 48, 32]);
      expect(out.dims).toEqual([shown.length, 1, 48, 32]);
      const acc = new MetricAccumulator();
      acc.add(
        truth,
        thresholdLogits(out.values),
        shown.map((n) => ds.sizes[n]!),
        48,
        32,
      );
      const m = acc.result();
      expect(label.replace(/\s+/g, ' ')).toBe(
        `after phase 2 these ${shown.length}: IoU ${(100 * m.iou).toFixed(1)} % E ${m.sizeError.toFixed(2)}`,
      );
      expect(await button.isEnabled()).toBe(true);
      expect(errors).toEqual([]);
    });
  },
);
