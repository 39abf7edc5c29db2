/**
 * sizeseg's own version, from its package.json. The file is found by walking up from this module: two
 * levels from src/cli/ in a clone, and likewise from dist/cli/ in an installed package
 * (node_modules/sizeseg/dist/cli/ → node_modules/sizeseg/package.json); the first package.json named
 * "sizeseg" on the way wins, so a bundler or another layout still finds it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

export function sizesegVersion(): string {
  if (cached !== undefined) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      try {
        const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown; version?: unknown };
        if (pkg.name === 'sizeseg' && typeof pkg.version === 'string') return (cached = pkg.version);
      } catch {
        // not a readable package.json: keep looking above
      }
    }
    const up = dirname(dir);
    if (up === dir) return (cached = 'unknown (no package.json of sizeseg above its files)');
    dir = up;
  }
}
