/**
 * `npm run lint` catches what it is there for: each planted file below sits alone in a temporary folder with a copy
 * of the project's biome.jsonc, and Biome runs there with the lint script's own arguments (from package.json). A
 * floating promise, an unused import and a formatting slip each fail it with exactly their diagnostic; a clean file
 * passes.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const biome = createRequire(import.meta.url).resolve('@biomejs/biome/bin/biome');
const lintScript: string = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts.lint;
const work = mkdtempSync(join(tmpdir(), 'sizeseg-lint-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Runs the lint script's Biome command in a folder holding only `file` (the folder is no git repository). */
function lint(name: string, text: string): { status: number | null; categories: string[]; output: string } {
  const dir = join(work, name);
  mkdirSync(join(dir, 'src'), { recursive: true });
  copyFileSync(join(root, 'biome.jsonc'), join(dir, 'biome.jsonc'));
  writeFileSync(join(dir, 'src', `${name}.ts`), text);
  const [command, ...args] = lintScript.split(' ');
  expect(command).toBe('biome');
  const run = spawnSync(process.execPath, [biome, ...(args as string[]), '--vcs-enabled=false', '--colors=off'], {
    cwd: dir,
    encoding: 'utf8',
  });
  const output = `${run.stdout}${run.stderr}`;
  // Each diagnostic's header: "src/name.ts:8:3 lint/nursery/noFloatingPromises ━━━…" or "src/name.ts format ━━━…"
  const categories = [...output.matchAll(/^src\/\S+ (\S+)/gm)].map((m) => m[1] as string);
  return { status: run.status, categories, output };
}

describe('npm run lint (Biome with the project configuration)', () => {
  it('fails on a floating promise, naming only noFloatingPromises', () => {
    const r = lint(
      'floating',
      [
        "import { writeFile } from './files.js';",
        '',
        'async function save(path: string): Promise<void> {',
        "  await writeFile(path, 'x');",
        '}',
        '',
        'export function run(path: string): void {',
        '  save(path);',
        '}',
        '',
      ].join('\n'),
    );
    expect(r.status, r.output).toBe(1);
    expect(r.categories).toEqual(['lint/nursery/noFloatingPromises']);
  });

  it('fails on an unused import, naming only noUnusedImports', () => {
    const r = lint('unused', ["import { join } from 'node:path';", '', 'export const answer = 42;', ''].join('\n'));
    expect(r.status, r.output).toBe(1);
    expect(r.categories).toEqual(['lint/correctness/noUnusedImports']);
  });

  it('fails on a file the formatter would change (double quotes), naming only format', () => {
    const r = lint('quotes', ['export const greeting = "hello";', ''].join('\n'));
    expect(r.status, r.output).toBe(1);
    expect(r.categories).toEqual(['format']);
  });

  it('passes a clean file: the promise awaited, every import used, formatted', () => {
    const r = lint(
      'clean',
      [
        "import { join } from 'node:path';",
        '',
        'export async function save(dir: string, write: (path: string) => Promise<void>): Promise<string> {',
        "  const path = join(dir, 'out.json');",
        '  await write(path);',
        '  return path;',
        '}',
        '',
      ].join('\n'),
    );
    expect(r.categories).toEqual([]);
    expect(r.status, r.output).toBe(0);
  });
});
