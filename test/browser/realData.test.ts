/**
 * Panel 4's "Train on real MRI slices" in Chromium, as a user meets it (issue: the page with real MRI files):
 * the real imagesTr/ with its unlabelled image, 1, 3 and 4 volumes, a truncated volume, a failed load followed by
 * start, swapped inputs, and a drop on the section, all on a plain static host (no isolation headers) under a
 * sub-path. Small synthetic NIfTI files are made here; the real folder comes from
 * ../shared/data/msd-task04-hippocampus when it is there.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWeb } from '../../web/build.js';
import { serveStatic } from '../../web/serve.js';
import { chromiumOrSkip, launchChromium } from './_chromium.js';
import { syntheticCase, truncated } from './_volumes.js';
import { sharedDataNote, skipNote } from '../_helpers/skipNote.js';

const executable = chromiumOrSkip();
const REAL = join(process.cwd(), '..', 'shared', 'data', 'msd-task04-hippocampus');
if (executable && !existsSync(REAL))
  console.log(`real-data page test skipped: the real Task04 folder ${REAL} is absent (CI has it beside the clone)`);

interface Payload {
  name: string;
  mimeType: string;
  buffer: Buffer;
}
const payload = (name: string, bytes: Uint8Array): Payload => ({
  name,
  mimeType: 'application/gzip',
  buffer: Buffer.from(bytes),
});
const images = (ns: number[]): Payload[] => ns.map(syntheticCase).map((c) => payload(c.name, c.image));
const labels = (ns: number[]): Payload[] => ns.map(syntheticCase).map((c) => payload(c.name, c.label));
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

interface Load {
  ok: boolean | null;
  text: string;
  note: string;
  state: string;
  details: string[];
}

async function loadsSoFar(page: Page): Promise<number> {
  return page.evaluate(() => (globalThis as any).sizeseg.training.log.volumeLoads as number);
}

async function lastLoad(page: Page, after: number): Promise<Load> {
  await page.waitForFunction((n) => (globalThis as any).sizeseg.training.log.volumeLoads > n, after, {
    timeout: 180_000,
  });
  return page.evaluate(() => {
    const { document, sizeseg } = globalThis as any; // the page's globals (this file is type-checked without the DOM lib)
    const log = sizeseg.training.log;
    const note = document.querySelector('[data-testid="tr-volumes"]');
    const details = [...document.querySelectorAll('[data-testid="tr-volume-notes"] li')].map(
      (li: any) => li.textContent ?? '',
    );
    return {
      ok: log.volumesOk as boolean,
      text: log.volumes as string,
      note: note.textContent ?? '',
      state: note.dataset['state'] ?? '',
      details,
    };
  });
}

/** Choose images, then labels, as a user does with the two inputs. */
async function choose(
  page: Page,
  imageFiles: Array<Payload | string>,
  labelFiles: Array<Payload | string>,
): Promise<Load> {
  await page.getByTestId('tr-labels').setInputFiles([]);
  await page.getByTestId('tr-images').setInputFiles(imageFiles as Payload[]);
  const before = await loadsSoFar(page);
  await page.getByTestId('tr-labels').setInputFiles(labelFiles as Payload[]);
  return lastLoad(page, before);
}

async function train(page: Page, overrides: Record<string, unknown> = {}) {
  await page.evaluate((o) => (globalThis as any).sizeseg.training.start(o), {
    count: 64,
    m: 8,
    pretrainEpochs: 1,
    pretrainImagesPerEpoch: 8,
    batch: 4,
    sizeEpochs: 1,
    seed: 0,
    ...overrides,
  });
  await page.waitForFunction(
    () => ['done', 'error', 'stopped'].includes((globalThis as any).sizeseg.training.log.state),
    undefined,
    { timeout: 300_000 },
  );
  return page.evaluate(() => {
    const l = (globalThis as any).sizeseg.training.log;
    return {
      state: l.state as string,
      error: l.error as string,
      dataset: l.info?.dataset as string,
      train: l.info?.train as number,
      val: l.info?.val as number,
      epochs: l.epochs as Array<{ phase: string; iou: number; sizeError: number }>,
    };
  });
}

describe.skipIf(executable === null)(
  'the page with MRI files in Chromium',
  skipNote('no Chromium found', 'apt-get install -y chromium, or set CHROMIUM_PATH'),
  () => {
    let browser: Browser;
    let server: Server;
    let page: Page;
    const consoleErrors: string[] = [];
    const outDir = mkdtempSync(join(tmpdir(), 'sizeseg-web-real-'));

    beforeAll(async () => {
      mkdirSync(join(process.cwd(), 'test-artifacts', 'browser'), { recursive: true });
      // a plain static host (no COOP/COEP, as GitHub Pages serves it), with the page under a sub-path
      await buildWeb(join(outDir, 'sizeseg'));
      ({ server } = await serveStatic(outDir, 0, { isolate: false }));
      browser = await launchChromium(executable!);
      page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      page.on('console', (m) => {
        if (m.type() === 'error') consoleErrors.push(m.text());
      });
      page.on('pageerror', (e) => consoleErrors.push(String(e)));
      const address = server.address() as { port: number };
      await page.goto(`http://127.0.0.1:${address.port}/sizeseg/`);
      await page.waitForSelector('[data-testid="panel-train"]');
      await page.locator('[data-testid="tr-drop"] summary').click();
    });

    afterAll(async () => {
      await browser?.close();
      await new Promise((r) => server?.close(r));
      rmSync(outDir, { recursive: true, force: true });
    });

    it.skipIf(!existsSync(REAL))(
      'takes the real imagesTr/ with its unlabelled image: skips it with a note, as the command line does, and trains on the slices',
      sharedDataNote('../shared/data/msd-task04-hippocampus'),
      async () => {
        const list = (dir: string) =>
          readdirSync(join(REAL, dir))
            .filter((f) => f.endsWith('.nii.gz'))
            .sort()
            .map((f) => join(REAL, dir, f));
        const imageFiles = list('imagesTr');
        const labelFiles = list('labelsTr');
        expect([imageFiles.length, labelFiles.length]).toEqual([261, 260]);
        const load = await choose(page, imageFiles, labelFiles);
        expect(load.ok).toBe(true);
        // 6103: the slices of ../shared/data/hippocampus, which the command line's msd:DIR reproduces
        expect(load.text).toMatch(
          /^260 volumes → 6,103 slices: [\d,]+ for training, \d+ for validation \(split 70\/10\/20 by volume, seed 0\)$/,
        );
        expect(load.details).toEqual([
          'skipped 1 image without a label file of the same name (as the command line does): hippocampus_118.nii.gz',
        ]);
        await page
          .getByTestId('panel-train')
          .screenshot({ path: join(process.cwd(), 'test-artifacts', 'browser', 'panel4-real-folder.png') });
        const run = await train(page, { pretrainImagesPerEpoch: 16, batch: 8, sizeEpochs: 0 });
        expect(run.error).toBe('');
        expect(run.state).toBe('done');
        expect(run.dataset.startsWith('your MRI volumes: 260 volumes → 6,103 slices')).toBe(true);
        expect(run.train + run.val).toBeLessThan(6103);
        expect(run.val).toBeGreaterThan(0);
      },
    );

    it('1, 3 and 4 volumes: each accepted set trains (fewer than 5 volumes are split by slice, with a validation slice)', async () => {
      expect(await page.evaluate(() => (globalThis as any).crossOriginIsolated)).toBe(false);
      const one = await choose(page, images([1]), labels([1]));
      expect(
        one.text.startsWith(
          '1 volume → 4 slices: 3 for training, 1 for validation (split by slice: 1 volume is too few',
        ),
      ).toBe(true);
      expect(one.state).toBe('ok');
      for (const n of [3, 4]) {
        const load = await choose(page, images(range(n)), labels(range(n)));
        expect(load.ok).toBe(true);
        expect(load.text.startsWith(`${n} volumes → ${4 * n} slices`)).toBe(true);
        expect(load.text).toContain('split by slice');
        const run = await train(page);
        expect(run.error).toBe('');
        expect(run.state).toBe('done');
        expect(run.dataset.startsWith(`your MRI volumes: ${n} volumes`)).toBe(true);
        expect(run.val).toBeGreaterThan(0);
        expect(run.epochs.map((e) => e.phase)).toEqual(['pretrain', 'sizetrain']);
        for (const e of run.epochs) expect(Number.isFinite(e.iou) && Number.isFinite(e.sizeError)).toBe(true);
        expect(await page.locator('[data-testid="tr-overlays"] canvas').count()).toBeGreaterThan(0);
      }
    });

    it('a truncated image or label is named and called truncated; the note stands out as an error', async () => {
      const ok = await choose(page, images([1, 2, 3]), labels([1, 2, 3]));
      const okColour = await page
        .getByTestId('tr-volumes')
        .evaluate((e) => (globalThis as any).getComputedStyle(e).color as string);
      expect(ok.state).toBe('ok');
      const c = syntheticCase(2);
      const cutImage = await choose(page, [...images([1, 3]), payload(c.name, truncated(c.image))], labels([1, 2, 3]));
      expect(cutImage.ok).toBe(false);
      expect(cutImage.note).toMatch(
        /^Could not use these files: hippocampus_002\.nii\.gz is truncated or damaged: its gzip stream ends early or is corrupt\./,
      );
      expect(cutImage.note).not.toContain('Failed to fetch');
      expect(cutImage.state).toBe('error');
      const style = await page.getByTestId('tr-volumes').evaluate((e) => {
        const style = (globalThis as any).getComputedStyle(e);
        return {
          colour: style.color as string,
          weight: style.fontWeight as string,
          border: style.borderLeftWidth as string,
        };
      });
      expect(style.colour).not.toBe(okColour);
      expect(style).toMatchObject({ weight: '700', border: '3px' });
      const cutLabel = await choose(page, images([1, 2, 3]), [...labels([1, 3]), payload(c.name, truncated(c.label))]);
      expect(cutLabel.note).toMatch(/hippocampus_002\.nii\.gz is truncated or damaged/);
    });

    it('after a failed load the note says what the next run uses, start uses it, and the synthetic images are one click away', async () => {
      const good = await choose(page, images([1, 2, 3]), labels([1, 2, 3]));
      expect(good.ok).toBe(true);
      const c = syntheticCase(4);
      const bad = await choose(page, [...images([1, 2, 3]), payload(c.name, truncated(c.image))], labels([1, 2, 3, 4]));
      expect(bad.ok).toBe(false);
      expect(bad.note).toMatch(
        /The next run trains on the 3 volumes loaded before \(12 slices\) \(or choose “synthetic images” above\)\.$/,
      );
      await page
        .getByTestId('panel-train')
        .screenshot({ path: join(process.cwd(), 'test-artifacts', 'browser', 'panel4-load-error.png') });
      const again = await train(page);
      expect(again.dataset.startsWith('your MRI volumes: 3 volumes → 12 slices')).toBe(true);
      await page.getByTestId('tr-data-synthetic').check();
      const synthetic = await train(page);
      expect(synthetic.error).toBe('');
      expect(synthetic.dataset.startsWith('synthetic')).toBe(true);
      // a later failed load, with synthetic chosen, says so
      const bad2 = await choose(page, images([1]), images([1]));
      expect(bad2.note).toMatch(/The next run trains on synthetic images\.$/);
    });

    it('swapped inputs, or one image given as a label, are called that (not "damaged")', async () => {
      const swapped = await choose(page, labels([1, 2, 3]), images([1, 2, 3]));
      expect(swapped.note).toMatch(
        /^Could not use these files: the images and labels look swapped: the 3 files given as labels hold images/,
      );
      const c = syntheticCase(2);
      const one = await choose(page, images([1, 2, 3]), [...labels([1, 3]), payload(c.name, c.image)]);
      expect(one.note).toMatch(
        /^Could not use these files: hippocampus_002\.nii\.gz was given as a label but looks like an image, not a label map: it has \d+ different values/,
      );
      for (const l of [swapped, one]) expect(l.note).not.toMatch(/damaged/);
    });

    it('takes a drop on the section (images and labels together, told apart by contents); a drop beside it does not leave the page', async () => {
      const cases = [5, 6, 7].map(syntheticCase);
      const files = cases.flatMap((c) => [
        { name: c.name, b64: Buffer.from(c.label).toString('base64') },
        { name: c.name, b64: Buffer.from(c.image).toString('base64') },
      ]);
      const before = await loadsSoFar(page);
      const events = await page.evaluate((list) => {
        const { DataTransfer, DragEvent, File, document } = globalThis as any;
        const dt = new DataTransfer();
        for (const f of list)
          dt.items.add(
            new File([Uint8Array.from(atob(f.b64), (ch) => ch.charCodeAt(0))], f.name, { type: 'application/gzip' }),
          );
        const fire = (target: any, type: string): boolean => {
          const ev = new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true });
          target.dispatchEvent(ev);
          return ev.defaultPrevented;
        };
        const zone = document.querySelector('[data-testid="tr-drop"] p'); // anywhere inside the section
        const header = document.querySelector('header');
        return {
          strayOver: fire(header, 'dragover'),
          strayDrop: fire(header, 'drop'),
          over: fire(zone, 'dragover'),
          drop: fire(zone, 'drop'),
        };
      }, files);
      // cancelled dragover makes the section a drop target; cancelled stray events keep the browser from opening the file
      expect(events).toEqual({ strayOver: true, strayDrop: true, over: true, drop: true });
      const load = await lastLoad(page, before);
      expect(load.ok).toBe(true);
      expect(load.text.startsWith('3 volumes → 12 slices')).toBe(true);
      expect(await page.evaluate(() => (globalThis as any).location.pathname)).toBe('/sizeseg/');
    });

    it('logs no console errors', () => {
      expect(consoleErrors).toEqual([]);
    });
  },
);
