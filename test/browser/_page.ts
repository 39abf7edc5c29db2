/**
 * What every browser test starts from: the page built into a temporary folder, served on 127.0.0.1 (with the
 * cross-origin isolation headers, as `npm run web` serves it) and opened in Chromium, with the page's console
 * errors collected. `close()` undoes all of it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContextOptions, Page } from 'playwright-core';
import { buildWeb, type WebBuild } from '../../web/build.js';
import { serveStatic } from '../../web/serve.js';
import { launchChromium } from './_chromium.js';

export interface OpenedPage {
  browser: Browser;
  page: Page;
  server: Server;
  url: string;
  outDir: string;
  built: WebBuild;
  /** Console errors and uncaught exceptions of the page, in order. */
  errors: string[];
  close(): Promise<void>;
}

export async function openBuiltPage(
  executable: string,
  name: string,
  context: BrowserContextOptions = {},
): Promise<OpenedPage> {
  const outDir = mkdtempSync(join(tmpdir(), `sizeseg-web-${name}-`));
  const built = await buildWeb(outDir);
  const { server, url } = await serveStatic(outDir, 0);
  const browser = await launchChromium(executable);
  const page = await browser.newPage(context);
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(url);
  await page.waitForSelector('[data-testid="panel-train"]');
  return {
    browser,
    page,
    server,
    url,
    outDir,
    built,
    errors,
    close: async () => {
      await browser.close();
      await new Promise((r) => server.close(r));
      rmSync(outDir, { recursive: true, force: true });
    },
  };
}
