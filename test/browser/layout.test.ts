/**
 * What the page says and how it is laid out, in Chromium: E defined as the code computes it, no placeholder link,
 * no "-0.00", charts whose legends sit outside the data, log axes with several tick labels, dots inside the plot,
 * picture rows labelled as being about their 6 images, a status line that says "paused", and no horizontal
 * overflow on a 420 px wide screen (screenshots in test-artifacts/browser/).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumOrSkip } from './_chromium.js';
import { openBuiltPage, type OpenedPage } from './_page.js';
import { skipNote } from '../_helpers/skipNote.js';

const ARTIFACTS = join(process.cwd(), 'test-artifacts', 'browser');
const executable = chromiumOrSkip();

/** Per chart: legend boxes that overlap a data mark, dots not strictly inside the plot, y tick labels. */
async function chartGeometry(page: Page, testid: string) {
  return page.$eval(`[data-testid="${testid}"]`, (svg) => {
    const boxes = (sel: string) => [...svg.querySelectorAll(sel)].map((e) => e.getBoundingClientRect());
    const legends = boxes('.legend');
    const marks = boxes('.plot > *');
    const overlaps = legends.filter((l) =>
      marks.some((m) => l.left < m.right && m.left < l.right && l.top < m.bottom && m.top < l.bottom),
    ).length;
    const xAxis = [...svg.querySelectorAll('line.axis')].find(
      (l) =>
        l.getAttribute('y1') === l.getAttribute('y2') &&
        Number(l.getAttribute('x2')) - Number(l.getAttribute('x1')) > 50,
    )!;
    const [left, right] = [Number(xAxis.getAttribute('x1')), Number(xAxis.getAttribute('x2'))];
    const dotsOutside = [...svg.querySelectorAll('.plot circle')].filter((c) => {
      const [cx, r] = [Number(c.getAttribute('cx')), Number(c.getAttribute('r'))];
      return !(cx - r > left && cx + r < right);
    }).length;
    return {
      legends: legends.length,
      marks: marks.length,
      overlaps,
      dots: svg.querySelectorAll('.plot circle').length,
      dotsOutside,
      yTicks: [...svg.querySelectorAll('.y-tick')].map((t) => t.textContent ?? ''),
    };
  });
}

describe.skipIf(executable === null)(
  'the page text and layout in Chromium',
  skipNote('no Chromium found', 'apt-get install -y chromium, or set CHROMIUM_PATH'),
  () => {
    let opened: OpenedPage;
    let page: Page;

    beforeAll(async () => {
      mkdirSync(ARTIFACTS, { recursive: true });
      opened = await openBuiltPage(executable!, 'layout', { viewport: { width: 1280, height: 900 } });
      ({ page } = opened);
    });

    afterAll(() => opened?.close());

    it('defines E as src/train/metrics.ts computes it (the squared size error) and links nowhere fake', async () => {
      const lead = await page.locator('#panel-train .lead').innerText();
      expect(lead).toContain('E = mean over the images of (s − g(ŷ))²');
      expect(await page.locator('body').innerText()).not.toContain('|s − g(ŷ)|');
      const hrefs = await page.$$eval('a[href]', (as) => as.map((a) => a.getAttribute('href') ?? ''));
      // a bare host ("https://github.com/") is a placeholder, not a link to the project
      expect(hrefs.filter((h) => /^https?:\/\/[^/]+\/?$/.test(h))).toEqual([]);
    });

    it('panel 3 prints no "-0.00"', async () => {
      for (const preset of ['grid4', 'fig3', 'example3']) {
        await page.getByTestId(`l1-preset-${preset}`).click();
        await page.waitForSelector('[data-testid="panel-lemma1"]:not([data-busy])');
        const texts = await page.$$eval('[data-testid="panel-lemma1"] .cell, [data-testid="panel-lemma1"] b', (es) =>
          es.map((e) => e.textContent ?? ''),
        );
        expect(
          texts.filter((t) => /^-0(\.0+)?$/.test(t)),
          preset,
        ).toEqual([]);
        expect(texts.length).toBeGreaterThan(9);
      }
    });

    it('panel 4: "paused" while paused; legends off the data, several log ticks, dots inside the plot; picture rows say they are about their 6 images', async () => {
      await page.evaluate(() =>
        (globalThis as any).sizeseg.training.start({
          count: 64,
          m: 16,
          pretrainEpochs: 2,
          pretrainImagesPerEpoch: 16,
          batch: 4,
          sizeEpochs: 2,
          seed: 0,
        }),
      );
      await page.getByTestId('tr-pause').click();
      await page.waitForFunction(() => (globalThis as any).sizeseg.training.log.state === 'paused', undefined, {
        timeout: 60_000,
      });
      expect(await page.getByTestId('tr-status').innerText()).toMatch(
        /^paused (after step \d+ of epoch \d+, phase [12]|before the first step).*; press continue\.$/,
      );
      await page.getByTestId('tr-pause').click();
      await page.waitForFunction(
        () => ['done', 'error'].includes((globalThis as any).sizeseg.training.log.state),
        undefined,
        { timeout: 120_000 },
      );
      expect(await page.evaluate(() => (globalThis as any).sizeseg.training.log.error)).toBe('');

      const charts = ['tr-loss1', 'tr-loss2', 'tr-iou', 'tr-E', 'nz-shift-svg', 'nz-hist-svg', 'l1-chart'];
      for (const id of charts) {
        const g = await chartGeometry(page, id);
        expect(g.legends, id).toBeGreaterThan(0);
        expect(g.marks, id).toBeGreaterThan(0);
        expect(g.overlaps, `${id}: legend entries over the data`).toBe(0);
        expect(g.dotsOutside, `${id}: dots on or beyond the axes`).toBe(0);
      }
      expect((await chartGeometry(page, 'tr-iou')).dots).toBe(4);
      // the phase-2 loss is drawn on a log axis: at least three labelled ticks, increasing upwards
      const loss2 = await chartGeometry(page, 'tr-loss2');
      expect(loss2.yTicks.length).toBeGreaterThanOrEqual(3);
      const values = loss2.yTicks.map(Number);
      expect(values.every(Number.isFinite)).toBe(true);
      expect([...values].sort((a, b) => a - b)).toEqual(values);

      const labels = await page.$$eval('.overlay-label', (ls) =>
        ls.map((l) => ((l as any).innerText as string).replace(/\s+/g, ' ')),
      );
      expect(labels.length).toBe(3);
      for (const l of labels)
        expect(l).toMatch(/^(before|after phase 1|after phase 2) these 6: IoU \d+\.\d % E \d+\.\d\d$/);
      expect(await page.locator('#panel-train .note.wide').innerText()).toMatch(
        /the charts' are over all \d+ validation images\.$/,
      );
      await page.getByTestId('panel-train').screenshot({ path: join(ARTIFACTS, 'panel4-layout.png') });
    });

    it('fits a 420 px wide screen: no horizontal overflow, with every panel drawn and the file section open', async () => {
      await page.locator('[data-testid="tr-drop"] summary').click();
      await page.setViewportSize({ width: 420, height: 900 });
      await page.waitForTimeout(100);
      const widths = await page.evaluate(() => {
        const { document, innerWidth } = globalThis as any;
        return {
          page: document.documentElement.scrollWidth as number,
          body: document.body.scrollWidth as number,
          viewport: innerWidth as number,
        };
      });
      await page.screenshot({ path: join(ARTIFACTS, 'page-420px.png'), fullPage: true });
      expect(widths).toEqual({ page: 420, body: 420, viewport: 420 });
      // the grids shrink rather than scroll: panel 1's 12 columns still fit
      const grid = await page.getByTestId('os-mask').boundingBox();
      expect(grid!.x + grid!.width).toBeLessThanOrEqual(420);
      await page.setViewportSize({ width: 1280, height: 900 });
    });
  },
);
