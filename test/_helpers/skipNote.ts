/**
 * Why a suite or test may be skipped and how to make it run, attached as vitest metadata so that the skip
 * reporter (test/_helpers/skipReporter.ts) prints it after the run:
 *
 *   describe.skipIf(!haveData)('name', skipNote('no … found', 'put … at …'), () => { … });
 *
 * A test that decides at run time uses `ctx.skip('reason; how to run it')` instead.
 */
export interface SkipNote {
  /** What is missing, e.g. "no Chromium found". */
  reason: string;
  /** What to do to run it, e.g. "apt-get install -y chromium, or set CHROMIUM_PATH". */
  enable: string;
}

declare module '@vitest/runner' {
  interface TaskMeta {
    skipNote?: SkipNote;
  }
}

/** The note of a suite that compares against the project's shared data folder (../shared), which a clone lacks. */
export function sharedDataNote(...paths: string[]): { meta: { skipNote: SkipNote } } {
  return skipNote(
    `${paths.join(' and ')} not found (the project's shared data folder, which a clone of the repository does not have)`,
    "place the project's shared folder next to the checkout, as ../shared",
  );
}

/** The options argument of describe/it that records the note (the metadata is inherited by the tests inside). */
export function skipNote(reason: string, enable: string): { meta: { skipNote: SkipNote } } {
  return { meta: { skipNote: { reason, enable } } };
}
