/**
 * The web page (web/) in a real Chromium, checked against the Node library on the same inputs:
 * the distance transform and g of a drawn mask, the exact gradient and the Lemma-1 mean of panel 3, a short
 * training run in the worker (pause/continue included), MSD volumes dropped as files, no console errors,
 * and the bundle size. Screenshots of each panel go to test-artifacts/browser/.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src/autograd/rng.js';
import { fig3Data, fig3Probabilities } from '../../src/cli/figures/fig3.js';
import { NIFTI_DT, encodeNifti } from '../../src/data/nifti.js';
import { slicesFromVolumes } from '../../src/data/msdSlices.js';
import { decodeNifti } from '../../src/data/nifti.js';
import {
  chebyshevDistanceTransform,
  exactSizeLoss,
  lemma1Gradient,
  objectSize,
  sampleBernoulliMasks,
} from '../../src/estimators/index.js';
import { DEFAULT_JOINT_LAMBDA } from '../../src/train/joint.js';
import type { WebBuild } from '../../web/build.js';
import { serveStatic } from '../../web/serve.js';
import { chromiumOrSkip } from './_chromium.js';
import { openBuiltPage, type OpenedPage } from './_page.js';
import { skipNote } from '../_helpers/skipNote.js';

const ARTIFACTS = join(process.cwd(), 'test-artifacts', 'browser');
const executable = chromiumOrSkip();

/** Numbers the page stores in data-v / data-d attributes, read back exactly (String(number) round-trips). */
/** Starts a training run in the page's worker with `config` and waits until it is done or has failed. */
async function trainToEnd(p: Page, config: Record<string, unknown>): Promise<void> {
  await p.evaluate((c) => (globalThis as any).sizeseg.training.start(c), config);
  await p.waitForFunction(() => ['done', 'error'].includes((globalThis as any).sizeseg.training.log.state), undefined, {
    timeout: 120_000,
  });
}

async function cellValues(page: Page, testid: string, attr = 'v'): Promise<number[]> {
  return page.$$eval(
    `[data-testid="${testid}"] .cell`,
    (cells, a) => cells.map((c) => Number((c as any).dataset[a])),
    attr,
  );
}

function meanOfLemma1(
  probs: Float64Array,
  H: number,
  W: number,
  target: number,
  n: number,
  seed: number,
): Float64Array {
  const V = H * W;
  const ys = sampleBernoulliMasks(probs, n, H, W, new Rng(seed));
  const sum = new Float64Array(V);
  for (let k = 0; k < n; k++) {
    const e = lemma1Gradient(ys.subarray(k * V, (k + 1) * V), H, W, target);
    for (let i = 0; i < V; i++) sum[i] = (sum[i] as number) + (e[i] as number);
  }
  return sum.map((s) => s / n);
}

describe.skipIf(executable === null)(
  'the web page in Chromium',
  skipNote('no Chromium found', 'apt-get install -y chromium, or set CHROMIUM_PATH'),
  () => {
    let opened: OpenedPage;
    let browser: Browser;
    let built: WebBuild;
    let page: Page;
    let outDir: string;
    let consoleErrors: string[];
    let twoThreadLosses: number[] = [];

    beforeAll(async () => {
      mkdirSync(ARTIFACTS, { recursive: true });
      opened = await openBuiltPage(executable!, 'page', { viewport: { width: 1280, height: 900 } });
      ({ browser, built, page, outDir, errors: consoleErrors } = opened);
    });

    afterAll(() => opened?.close());

    it('bundles the CPU-only page under 200 KiB gzipped, without gpu.js', () => {
      const js = built.files.filter((f) => f.file.endsWith('.js'));
      const gz = js.reduce((s, f) => s + f.gzipBytes, 0);
      writeFileSync(join(ARTIFACTS, 'bundle.json'), JSON.stringify(built.files, null, 2));
      expect(gz).toBeLessThanOrEqual(200 * 1024);
    });

    it('is cross-origin isolated behind the dev server', async () => {
      expect(await page.evaluate(() => (globalThis as any).crossOriginIsolated)).toBe(true);
    });

    it('panel 1: the distance transform and g of a drawn mask are those of the library', async () => {
      const panel = page.getByTestId('panel-size');
      await panel.getByRole('button', { name: 'clear' }).click();
      // draw a 4×6 rectangle by dragging, then a stray pixel by a click
      const cell = (r: number, c: number) =>
        page.locator(`[data-testid="os-mask"] .cell[data-r="${r}"][data-c="${c}"]`);
      const box = async (r: number, c: number) => (await cell(r, c).boundingBox())!;
      const a = await box(2, 3);
      const b = await box(5, 8);
      await page.mouse.move(a.x + a.width / 2, a.y + a.height / 2);
      await page.mouse.down();
      for (let r = 2; r <= 5; r++) {
        for (let c = 3; c <= 8; c++) {
          const q = await box(r, c);
          await page.mouse.move(q.x + q.width / 2, q.y + q.height / 2);
        }
      }
      await page.mouse.move(b.x + b.width / 2, b.y + b.height / 2);
      await page.mouse.up();
      await cell(0, 11).click();
      const H = 8;
      const W = 12;
      const expected = new Uint8Array(H * W);
      for (let r = 2; r <= 5; r++) for (let c = 3; c <= 8; c++) expected[r * W + c] = 1;
      expected[11] = 1;
      const drawn = Uint8Array.from(await cellValues(page, 'os-mask'));
      expect([...drawn]).toEqual([...expected]);
      const d = await cellValues(page, 'os-dt', 'd');
      expect(d).toEqual([...chebyshevDistanceTransform(expected, H, W)]);
      const g = Number(await page.getByTestId('os-readout').getAttribute('data-g'));
      expect(g).toBe(objectSize(expected, H, W));
      expect(g).toBe(4);
      await panel.screenshot({ path: join(ARTIFACTS, 'panel1-object-size.png') });
    });

    it('panel 2: samples, their sizes and the histogram are drawn', async () => {
      const panel = page.getByTestId('panel-noise');
      await expect.poll(() => page.locator('[data-testid="nz-hist-svg"] rect').count()).toBeGreaterThanOrEqual(2);
      const mean = Number(await page.getByTestId('nz-hist').getAttribute('data-mean'));
      expect(Number.isFinite(mean) && mean > 0).toBe(true);
      await panel.screenshot({ path: join(ARTIFACTS, 'panel2-noise.png') });
    });

    it('panel 3: the exact gradient is exactSizeLoss and the Lemma-1 mean for a fixed seed is lemma1Gradient averaged', async () => {
      const panel = page.getByTestId('panel-lemma1');
      await page.getByTestId('l1-preset-grid4').click();
      const state = await page.evaluate(() => {
        const s = (globalThis as any).sizeseg.lemma1.state();
        return { probs: [...s.probs], H: s.height, W: s.width, target: s.target, seed: s.seed, n: s.n };
      });
      const probs = Float64Array.from(state.probs);
      const exact = exactSizeLoss(probs, state.H, state.W, state.target);
      expect(await cellValues(page, 'l1-exact')).toEqual([...exact.gradProbs]);
      expect(Number(await page.getByTestId('l1-readout').getAttribute('data-expected-loss'))).toBe(exact.expectedLoss);
      // n = 100 with the preset's seed, then n = 1000 with another seed
      expect(await cellValues(page, 'l1-mean')).toEqual([
        ...meanOfLemma1(probs, state.H, state.W, state.target, state.n, state.seed),
      ]);
      await page.evaluate(() => {
        const l = (globalThis as any).sizeseg.lemma1;
        l.setSeed(5);
        l.setN(1000);
      });
      expect(await cellValues(page, 'l1-mean')).toEqual([
        ...meanOfLemma1(probs, state.H, state.W, state.target, 1000, 5),
      ]);
      await panel.screenshot({ path: join(ARTIFACTS, 'panel3-lemma1-4x4.png') });
    });

    it("panel 3: the paper's Fig. 3 map and the 3×3 worked example are one click away", async () => {
      const panel = page.getByTestId('panel-lemma1');
      await page.getByTestId('l1-preset-fig3').click();
      await page.waitForSelector('[data-testid="panel-lemma1"]:not([data-busy])');
      const probs = await cellValues(page, 'l1-probs');
      expect(probs).toEqual([...fig3Probabilities()]);
      const fig3 = fig3Data(3);
      expect(await cellValues(page, 'l1-exact')).toEqual(fig3.exact);
      await page.evaluate(() => (globalThis as any).sizeseg.lemma1.setN(1000));
      // the page averages the first n samples of one Rng(3) stream (fig3Data draws each n from where the last stopped)
      expect(await cellValues(page, 'l1-mean')).toEqual([...meanOfLemma1(fig3Probabilities(), 6, 6, 4, 1000, 3)]);
      await panel.screenshot({ path: join(ARTIFACTS, 'panel3-fig3.png') });

      await page.getByTestId('l1-preset-example3').click();
      // docs/estimators.md: the first sample of Rng(7) is a cross, its Lemma-1 estimate −4 at the corners
      expect(await page.$$eval('[data-testid="l1-sample"] .cell', (cs) => cs.map((c) => c.textContent))).toEqual([
        '0',
        '1',
        '0',
        '1',
        '1',
        '1',
        '0',
        '1',
        '0',
      ]);
      expect(await cellValues(page, 'l1-single')).toEqual([-4, 0, -4, 0, 0, 0, -4, 0, -4].map((v) => v));
      const ex = exactSizeLoss(Float64Array.from([0.2, 0.5, 0.3, 0.6, 0.9, 0.7, 0.3, 0.6, 0.4]), 3, 3, 4);
      expect(Number(await page.getByTestId('l1-readout').getAttribute('data-expected-loss'))).toBe(ex.expectedLoss);
      expect(ex.expectedLoss.toFixed(6)).toBe('2.740374');
      await panel.screenshot({ path: join(ARTIFACTS, 'panel3-example3x3.png') });
    });

    it('panel 4: twelve training steps in the worker lower the loss; pause holds the run, continue resumes it', async () => {
      const panel = page.getByTestId('panel-train');
      await page.evaluate(() =>
        (globalThis as any).sizeseg.training.start({
          count: 64,
          m: 16,
          pretrainEpochs: 1,
          pretrainImagesPerEpoch: 48,
          batch: 4,
          sizeEpochs: 0,
          seed: 0,
        }),
      );
      const log = () =>
        page.evaluate(() => {
          const l = (globalThis as any).sizeseg.training.log;
          return {
            steps: l.steps.map((s: { loss: number; ms: number }) => [s.loss, s.ms]) as [number, number][],
            state: l.state as string,
            error: l.error as string,
            overlays: [...l.overlays] as string[],
            info: l.info,
            parallelRuns: l.parallelRuns as number,
          };
        });
      // pause at once: the worker takes the request between two steps, so the run is held part-way
      // (waiting for a few steps first raced with the run, which can finish its 12 steps in under a second)
      await page.getByTestId('tr-pause').click();
      await expect.poll(async () => (await log()).state, { timeout: 60_000 }).toBe('paused');
      const heldAt = (await log()).steps.length;
      expect(heldAt).toBeLessThan(12);
      await page.waitForTimeout(1500);
      expect((await log()).steps.length).toBe(heldAt);
      await page.getByTestId('tr-pause').click();
      await expect.poll(async () => (await log()).state, { timeout: 120_000 }).toBe('done');
      const done = await log();
      expect(done.error).toBe('');
      expect(done.steps.length).toBe(12);
      const losses = done.steps.map(([l]) => l);
      const first = (losses[0]! + losses[1]! + losses[2]!) / 3;
      const last = (losses[9]! + losses[10]! + losses[11]!) / 3;
      expect(last).toBeLessThan(first);
      expect(done.overlays).toEqual(['before', 'after phase 1']);
      expect(done.info.backend).toBe('cpu');
      // the fastest CPU kernels the library has: WebAssembly SIMD, which needs the shared memory isolation gives
      expect(done.info.kernels).toBe('wasm');
      // the page is cross-origin isolated, so with ≥ 2 cores the kernels ran on two threads (a Web Worker pool)
      const cores = await page.evaluate(() => (globalThis as any).navigator.hardwareConcurrency as number);
      if (cores >= 2) {
        expect(done.info.threads).toBe(2);
        expect(done.parallelRuns).toBeGreaterThan(0);
      }
      writeFileSync(
        join(ARTIFACTS, 'training.json'),
        JSON.stringify(
          { losses, msPerStep: done.steps.map(([, ms]) => ms), info: done.info, parallelRuns: done.parallelRuns },
          null,
          2,
        ),
      );
      await panel.screenshot({ path: join(ARTIFACTS, 'panel4-training.png') });
      twoThreadLosses = losses;
    });

    it('panel 4: one thread gives the losses of two threads (the pool changes only the order of float64 partial sums)', async () => {
      await trainToEnd(page, {
        count: 64,
        m: 16,
        pretrainEpochs: 1,
        pretrainImagesPerEpoch: 48,
        batch: 4,
        sizeEpochs: 0,
        seed: 0,
        threads: 1,
      });
      const one = await page.evaluate(() => {
        const l = (globalThis as any).sizeseg.training.log;
        return {
          losses: l.steps.map((s: { loss: number }) => s.loss) as number[],
          threads: l.info.threads as number,
          parallelRuns: l.parallelRuns as number,
          error: l.error as string,
        };
      });
      expect(one.error).toBe('');
      expect(one.threads).toBe(1);
      expect(one.parallelRuns).toBe(0);
      expect(one.losses).toHaveLength(12);
      one.losses.forEach((l, i) => expect(Math.abs(l - twoThreadLosses[i]!)).toBeLessThan(1e-5 * Math.max(1, l)));
    });

    it('panel 4: the joint-objective box trains phase 2 on BCE of the m masks + λ·size over the other images, and lowers its loss', async () => {
      const panel = page.getByTestId('panel-train');
      // the λ the page states is the library's default, which the worker uses
      expect(await panel.textContent()).toContain(`+ ${DEFAULT_JOINT_LAMBDA}·size`);
      await page.getByTestId('tr-joint').check();
      try {
        await trainToEnd(page, { count: 64, m: 16, pretrainEpochs: 0, batch: 4, sizeEpochs: 2, seed: 0, threads: 1 });
        const run = await page.evaluate(() => {
          const l = (globalThis as any).sizeseg.training.log;
          return {
            steps: l.steps.map((s: { phase: string; epoch: number; loss: number }) => [s.phase, s.epoch, s.loss]) as [
              string,
              number,
              number,
            ][],
            info: l.info,
            error: l.error as string,
          };
        });
        expect(run.error).toBe('');
        // the size term runs over the training images without masks: ⌈(train − m)/4⌉ steps an epoch (a last
        // batch of one image is dropped)
        const rest = run.info.train - run.info.annotated;
        expect(run.info.annotated).toBe(16);
        const perEpoch = Math.ceil(rest / 4) - (rest % 4 === 1 ? 1 : 0);
        expect(run.steps.filter(([, e]) => e === 1)).toHaveLength(perEpoch);
        expect(run.steps).toHaveLength(2 * perEpoch);
        expect(run.steps.every(([p]) => p === 'sizetrain')).toBe(true);
        const losses = run.steps.map(([, , l]) => l);
        // a BCE-scale loss (the plain size loss of an untrained network is tens of pixels²), and it falls
        expect(losses[0]!).toBeGreaterThan(0.1);
        expect(losses[0]!).toBeLessThan(2);
        const first = (losses[0]! + losses[1]! + losses[2]!) / 3;
        const last = losses.slice(-3).reduce((a, b) => a + b, 0) / 3;
        expect(last).toBeLessThan(first);
        expect(await panel.getByTestId('tr-loss2').textContent()).toContain('joint loss per step');
        await panel.screenshot({ path: join(ARTIFACTS, 'panel4-joint.png') });
      } finally {
        await page.getByTestId('tr-joint').uncheck();
      }
    });

    it('panel 4: dropped MSD .nii.gz files are gunzipped in the page and sliced like loadMsd does', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'sizeseg-msd-'));
      try {
        // three small volumes 40×52×5 (I×J×K), int16 images, uint8 labels with an ellipse on some slices
        const files: { image: string; label: string }[] = [];
        for (let v = 1; v <= 3; v++) {
          const [I, J, K] = [40, 52, 5];
          const img = new Int16Array(I * J * K);
          const lab = new Uint8Array(I * J * K);
          for (let k = 0; k < K; k++) {
            for (let j = 0; j < J; j++) {
              for (let i = 0; i < I; i++) {
                const n = i + I * (j + J * k);
                const inside = k > 0 && ((i - 20) / (6 + v)) ** 2 + ((j - 26) / 9) ** 2 < 1;
                lab[n] = inside ? 1 + (i % 2) : 0;
                img[n] = 100 + (inside ? 300 : 0) + ((i * 7 + j * 13 + k * 29 + v) % 50);
              }
            }
          }
          const image = join(dir, `hippocampus_00${v}.nii.gz`);
          const label = join(dir, 'labels', `hippocampus_00${v}.nii.gz`);
          mkdirSync(join(dir, 'labels'), { recursive: true });
          writeFileSync(image, gzipSync(encodeNifti(img, [I, J, K], { datatype: NIFTI_DT.INT16 })));
          writeFileSync(label, gzipSync(encodeNifti(lab, [I, J, K], { datatype: NIFTI_DT.UINT8 })));
          files.push({ image, label });
        }
        const { readFileSync } = await import('node:fs');
        const node = slicesFromVolumes(
          files.map((f, i) => ({
            id: `hippocampus_00${i + 1}`,
            image: decodeNifti(readFileSync(f.image)),
            label: decodeNifti(readFileSync(f.label)),
          })),
        );
        await page.getByTestId('tr-images').setInputFiles(files.map((f) => f.image));
        await page.getByTestId('tr-labels').setInputFiles(files.map((f) => f.label));
        await expect
          .poll(() => page.evaluate(() => (globalThis as any).sizeseg.training.log.volumes as string), {
            timeout: 30_000,
          })
          .toContain('slices');
        const text = await page.evaluate(() => (globalThis as any).sizeseg.training.log.volumes as string);
        expect(text).toBe(
          `3 volumes → ${node.count} slices: 9 for training, 1 for validation (split by slice: 3 volumes are too few for a split by volume with a validation volume)`,
        );
        expect(node.count).toBe(12);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('works from a plain static host too (not cross-origin isolated): WebAssembly kernels on one thread', async () => {
      const plain = await serveStatic(outDir, 0, { isolate: false });
      const other = await browser.newPage();
      const errors: string[] = [];
      other.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      other.on('pageerror', (e) => errors.push(String(e)));
      try {
        await other.goto(plain.url);
        await other.waitForSelector('[data-testid="panel-train"]');
        expect(await other.evaluate(() => (globalThis as any).crossOriginIsolated)).toBe(false);
        // 8 steps: from the second on, the unshared memory holds the steps' tensors (reserved after the first)
        const config = { count: 64, m: 16, pretrainEpochs: 1, pretrainImagesPerEpoch: 32, batch: 4, sizeEpochs: 0 };
        const train = async (p: Page) => {
          await trainToEnd(p, { ...config, threads: 1 });
          return p.evaluate(() => {
            const l = (globalThis as any).sizeseg.training.log;
            return {
              state: l.state as string,
              kernels: l.info.kernels as string,
              threads: l.info.threads as number,
              losses: l.steps.map((s: { loss: number }) => s.loss) as number[],
            };
          });
        };
        const log = await train(other);
        // without isolation there is no SharedArrayBuffer: the WebAssembly kernels run over ordinary memory, one thread
        expect({ ...log, losses: log.losses.length }).toEqual({
          state: 'done',
          kernels: 'wasm',
          threads: 1,
          losses: 8,
        });
        // the same kernels and sums as the isolated page on one thread: the same bits, wherever the tensors lived
        // a fresh isolated page: the shared one trains on the MSD files dropped on it above
        const fresh = await browser.newPage();
        await fresh.goto(page.url());
        await fresh.waitForSelector('[data-testid="panel-train"]');
        const isolated = await train(fresh);
        await fresh.close();
        expect(isolated.state).toBe('done');
        expect(log.losses).toEqual(isolated.losses);
        expect(errors).toEqual([]);
      } finally {
        await other.close();
        await new Promise((r) => plain.server.close(r));
      }
    });

    it('logs no console errors', async () => {
      await page.screenshot({ path: join(ARTIFACTS, 'page.png'), fullPage: true });
      expect(consoleErrors).toEqual([]);
    });
  },
);
