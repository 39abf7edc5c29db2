/**
 * Which code `sizeseg` (bin/sizeseg.js) runs: in a clone the TypeScript sources, even where an older
 * `npm run build` left a dist/ (an edit to src/ must count at once); in an installed package, which has no
 * src/, the compiled dist/. Checked on copies of bin/sizeseg.js next to stand-in entry points that say
 * which one ran.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const repo = resolve(import.meta.dirname, '../..');
// inside the checkout, so that the copy finds tsx in its node_modules as the real one does
const base = join(repo, 'test-artifacts', 'bin-choice');

function layout(name: string, files: Record<string, string>): string {
  const root = join(base, name);
  rmSync(root, { recursive: true, force: true });
  mkdirSync(join(root, 'bin'), { recursive: true });
  copyFileSync(join(repo, 'bin/sizeseg.js'), join(root, 'bin/sizeseg.js'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

const entry = (who: string): string =>
  `export async function main(args${who === 'sources' ? ': string[]' : ''}) { console.log('${who} ' + args.join(' ')); return 3; }\n`;

const run = (root: string) =>
  spawnSync(process.execPath, [join(root, 'bin/sizeseg.js'), 'info', '--x'], { encoding: 'utf8' });

afterAll(() => rmSync(base, { recursive: true, force: true }));

describe('bin/sizeseg.js', () => {
  it('in a clone runs src/ through tsx, not a dist/ built before the last edit', () => {
    const root = layout('clone', { 'src/cli/main.ts': entry('sources'), 'dist/cli/main.js': entry('dist') });
    const old = new Date(Date.now() - 3600_000);
    utimesSync(join(root, 'dist/cli/main.js'), old, old); // the build is older than the sources
    const r = run(root);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('sources info --x\n');
    expect(r.status).toBe(3); // main's return value is the exit status
  });

  it('in an installed package (no src/) runs dist/', () => {
    const r = run(layout('installed', { 'dist/cli/main.js': entry('dist') }));
    expect(r.stdout).toBe('dist info --x\n');
    expect(r.status).toBe(3);
  });

  it('without either says so in one line', () => {
    const r = run(layout('empty', {}));
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/dist\/cli\/main\.js is missing/);
  });
});
