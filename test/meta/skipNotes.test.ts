/**
 * Every skip in the test suites says why and how to run the test: `.skipIf(…)`/`.runIf(…)`/`.skip(…)` carry a
 * skipNote (test/_helpers/skipNote.ts) that the skip reporter prints, and `ctx.skip(…)` a note string.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const testRoot = resolve(import.meta.dirname, '..');

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? testFiles(join(dir, e.name)) : e.name.endsWith('.test.ts') ? [join(dir, e.name)] : [],
  );
}

/** Each static skip call with the text up to its callback's arrow, and each ctx.skip call with its arguments. */
function unexplainedSkips(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  // notes made once per file: const noSimd = skipNote(…)
  const named = [...text.matchAll(/const (\w+) = (?:skipNote|sharedDataNote)\(/g)].map((m) => m[1]!);
  const noted = (head: string): boolean =>
    /Note\(/.test(head) || named.some((n) => new RegExp(`\\b${n}\\b`).test(head));
  for (const m of text.matchAll(/\b(?:describe|it|test)\.(?:skipIf|runIf|skip)\(/g)) {
    const head = text.slice(m.index, text.indexOf('=>', m.index));
    if (!noted(head))
      out.push(`${relative(testRoot, file)}:${text.slice(0, m.index).split('\n').length}: ${head.split('\n')[0]}`);
  }
  for (const m of text.matchAll(/\bctx\.skip\(([^)]*)\)/g)) {
    if (!/['"`]/.test(m[1] ?? ''))
      out.push(`${relative(testRoot, file)}:${text.slice(0, m.index).split('\n').length}: ${m[0]}`);
  }
  return out;
}

describe('skipped tests', () => {
  it('every skip in test/ records its reason and how to run it', () => {
    const files = testFiles(testRoot).filter((f) => !f.endsWith('skipNotes.test.ts'));
    expect(files.length).toBeGreaterThan(20);
    expect(files.flatMap(unexplainedSkips)).toEqual([]);
  });
});
