/**
 * The web page's numbers (`npm run bench -- browser`, needs a Chromium; see test/browser/_chromium.ts):
 *  - bundle sizes of the CPU-only page (minified and gzipped);
 *  - one training step (phase 1, BCE) of the same model and batch in Chromium (the page's Web Worker) and in
 *    Node (the same `pretrain`), on one kernel thread and on two (Node worker_threads / the page's Web Worker
 *    pool): ResUNet widths [8, 16, 32], batch 8, 48×32;
 *  - the same one-thread step from a plain static host (no COOP/COEP, as GitHub Pages serves it), and its ratio to
 *    the cross-origin isolated page (`plainOverIsolated`, the median over alternated rounds; the aim is at most
 *    1.15: both run their steps in scoped WebAssembly memory, see src/kernels/wasm/arena.ts).
 * Step times are medians over the steps after the first two (JIT warm-up); both runs see the same images.
 */
import '../src/kernels/wasm/nodeThreads.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../src/autograd/rng.js';
import { indicesOf, selectAnnotated } from '../src/data/dataset.js';
import { generateSynthetic } from '../src/data/synthetic.js';
import { setNumThreads } from '../src/kernels/wasm/threads.js';
import { ResUNet } from '../src/models/resunet.js';
import { foregroundPriorLogit } from '../src/train/metrics.js';
import { pretrain } from '../src/train/trainer.js';
import type { Page } from 'playwright-core';
import { findChromium, launchChromium } from '../test/browser/_chromium.js';
import { buildWeb } from '../web/build.js';
import { serveStatic } from '../web/serve.js';
import { isMain } from './_util.js';

/** The same run in both places: 16 annotated images seen 6 times = 12 steps of 8, then validation. */
export const STEP_CONFIG = {
  count: 64,
  m: 16,
  widths: [8, 16, 32],
  batch: 8,
  pretrainEpochs: 1,
  pretrainImagesPerEpoch: 96,
  pretrainLr: 3e-3,
  sizeEpochs: 0,
  seed: 0,
  threads: 1,
};

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const r1 = (x: number): number => Math.round(x * 10) / 10;
/** Rounds of the plain-host/isolated comparison (each: 12 steps on each page). */
const ROUNDS = 5;

async function nodeStepTimes(threads: number): Promise<number[]> {
  setNumThreads(threads);
  const c = STEP_CONFIG;
  const ds = generateSynthetic({ count: c.count, seed: c.seed });
  const annotated = selectAnnotated(ds, c.m, new Rng(c.seed));
  const model = new ResUNet({
    widths: c.widths,
    rng: new Rng(c.seed),
    headBias: foregroundPriorLogit(ds.masks, annotated, ds.height * ds.width),
  });
  const times: number[] = [];
  let last = performance.now();
  await pretrain(model, ds, {
    annotated,
    minImagesPerEpoch: c.pretrainImagesPerEpoch,
    valIndices: indicesOf(ds, 'val'),
    epochs: 1,
    patience: 1,
    batch: c.batch,
    lr: c.pretrainLr,
    seed: c.seed,
    observer: {
      onStep() {
        const now = performance.now();
        times.push(now - last);
        last = now;
      },
    },
  });
  return times;
}

export async function run(): Promise<Record<string, unknown>> {
  const out = mkdtempSync(join(tmpdir(), 'sizeseg-web-bench-'));
  try {
    const built = await buildWeb(out);
    const bundle = Object.fromEntries(
      built.files.map((f) => [f.file, { kib: r1(f.bytes / 1024), gzipKiB: r1(f.gzipBytes / 1024) }]),
    );
    const jsGzipKiB = r1(built.files.filter((f) => f.file.endsWith('.js')).reduce((s, f) => s + f.gzipBytes, 0) / 1024);
    const node = await nodeStepTimes(1);
    const node2 = await nodeStepTimes(2);
    const result: Record<string, unknown> = {
      bundle,
      jsGzipKiB,
      config: STEP_CONFIG,
      nodeStepMs: r1(median(node.slice(2))),
      nodeStepsMs: node.map(r1),
      node2ThreadsStepMs: r1(median(node2.slice(2))),
      // other processes' load distorts these timings: the 1-minute load average after the Node runs
      loadAverage1min: r1(loadavg()[0] ?? 0),
    };
    const executable = findChromium();
    if (!executable) {
      console.log('browser bench: no Chromium found; only the bundle size and the Node step were measured');
      return { ...result, chromium: null };
    }
    const { server, url } = await serveStatic(out, 0);
    const plain = await serveStatic(out, 0, { isolate: false });
    const browser = await launchChromium(executable);
    try {
      const steps = async (page: Page, threads: number): Promise<{ ms: number[]; threads: number }> => {
        await page.evaluate((config) => (globalThis as any).sizeseg.training.start(config), {
          ...STEP_CONFIG,
          threads,
        });
        await page.waitForFunction(
          () => ['done', 'error'].includes((globalThis as any).sizeseg.training.log.state),
          undefined,
          { timeout: 300_000 },
        );
        const log = await page.evaluate(() => {
          const l = (globalThis as any).sizeseg.training.log;
          return {
            ms: l.steps.map((s: { ms: number }) => s.ms) as number[],
            error: l.error as string,
            threads: l.info?.threads as number,
          };
        });
        if (log.error) throw new Error(`browser bench: training failed in the page: ${log.error}`);
        return log;
      };
      const open = async (address: string): Promise<Page> => {
        const page = await browser.newPage();
        await page.goto(address);
        await page.waitForSelector('[data-testid="panel-train"]');
        return page;
      };
      const isolated = await open(url);
      const unisolated = await open(plain.url);
      const two = await steps(isolated, 2);
      // the plain host against the isolated page on one thread, alternated over rounds so that other load on
      // the machine falls on both alike; each round's ratio of medians, and their median
      const rounds: { isolatedMs: number; plainMs: number; ratio: number }[] = [];
      let one: { ms: number[] } = { ms: [] };
      let plainOne: { ms: number[] } = { ms: [] };
      for (let r = 0; r < ROUNDS; r++) {
        one = await steps(isolated, 1);
        plainOne = await steps(unisolated, 1);
        const isolatedMs = median(one.ms.slice(2));
        const plainMs = median(plainOne.ms.slice(2));
        rounds.push({
          isolatedMs: r1(isolatedMs),
          plainMs: r1(plainMs),
          ratio: Math.round((plainMs / isolatedMs) * 100) / 100,
        });
      }
      const chromiumStepMs = median(rounds.map((x) => x.isolatedMs));
      const plainStepMs = median(rounds.map((x) => x.plainMs));
      Object.assign(result, {
        chromium: browser.version(),
        chromiumStepMs: r1(chromiumStepMs),
        chromiumStepsMs: one.ms.map(r1),
        chromiumOverNode: Math.round((chromiumStepMs / median(node.slice(2))) * 100) / 100,
        chromium2ThreadsStepMs: r1(median(two.ms.slice(2))),
        chromium2Threads: two.threads,
        chromiumPlainHostStepMs: r1(plainStepMs),
        chromiumPlainHostStepsMs: plainOne.ms.map(r1),
        plainOverIsolatedRounds: rounds,
        plainOverIsolated: median(rounds.map((x) => x.ratio)),
        loadAverage1minAfterChromium: r1(loadavg()[0] ?? 0),
      });
    } finally {
      await browser.close();
      server.close();
      plain.server.close();
    }
    console.log(
      `bundle ${jsGzipKiB} KiB gzipped (JS); step (widths [8, 16, 32], batch 8): 1 thread ${result['chromiumStepMs']} ms in Chromium vs ${result['nodeStepMs']} ms in Node; 2 threads ${result['chromium2ThreadsStepMs']} ms vs ${result['node2ThreadsStepMs']} ms; plain static host, 1 thread: ${result['chromiumPlainHostStepMs']} ms (${result['plainOverIsolated']}× the isolated page)`,
    );
    return result;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

if (isMain(import.meta.url)) await run();
