import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Node's worker threads for the CPU kernels, as every Node entry point installs them
    setupFiles: ['test/_helpers/nodeThreads.ts'],
    // the default output, then one line per skipped suite saying why and how to run it
    reporters: ['default', './test/_helpers/skipReporter.ts'],
  },
});
