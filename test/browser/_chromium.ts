/**
 * Finding and starting a real Chromium for the browser tests (Debian's `chromium` package, driven by
 * playwright-core, which never downloads a browser). CHROMIUM_PATH overrides the search.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

const CANDIDATES = [
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
  '/usr/bin/google-chrome-stable',
];

export function findChromium(): string | null {
  const env = process.env['CHROMIUM_PATH'];
  if (env) return existsSync(env) ? env : null;
  return CANDIDATES.find((p) => existsSync(p)) ?? null;
}

/** Flags measured to work as root on these machines (../shared/browser/README.md). */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-dev-shm-usage',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-default-apps',
  '--mute-audio',
];

export function launchChromium(executablePath: string): Promise<Browser> {
  return chromium.launch({ executablePath, args: CHROMIUM_ARGS, headless: true });
}

/**
 * Whether the browser tests run: yes when a Chromium is found; in CI (CI=true) a missing Chromium is an error,
 * elsewhere the tests are skipped with one line saying how to get one.
 */
export function chromiumOrSkip(): string | null {
  const path = findChromium();
  if (path) return path;
  if (process.env['CI'] === 'true') {
    throw new Error(
      'browser tests: no Chromium found (CI=true makes this a failure). Install it with `apt-get install -y chromium` or set CHROMIUM_PATH.',
    );
  }
  console.log('browser tests skipped: no Chromium found (apt-get install -y chromium, or set CHROMIUM_PATH)');
  return null;
}
