/**
 * User documentation stands alone: README.md and docs/*.md never send a reader to the project's shared folder
 * (../shared), which a clone of the repository does not have, and their relative links point at files that exist.
 * (CONTRIBUTING.md, for people working on sizeseg, may mention ../shared.)
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const repo = resolve(import.meta.dirname, '../..');
const userDocs = [
  'README.md',
  ...readdirSync(join(repo, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

describe('user docs', () => {
  it('are README.md and docs/*.md', () => {
    expect(userDocs).toContain('docs/tutorial.md');
    expect(userDocs).toContain('docs/method.md');
  });

  it.each(userDocs)('%s does not mention ../shared', (doc) => {
    const lines = readFileSync(join(repo, doc), 'utf8').split('\n');
    const hits = lines.flatMap((line, i) =>
      /\.\.\/shared\b|\bshared\/(?:method|paper)\.md/.test(line) ? [`${doc}:${i + 1}: ${line.trim()}`] : [],
    );
    expect(hits).toEqual([]);
  });

  it.each(userDocs)('%s links only to files that exist', (doc) => {
    const text = readFileSync(join(repo, doc), 'utf8');
    const broken = [...text.matchAll(/\]\(([^)\s]+)\)/g)]
      .map((m) => m[1]!)
      .filter((target) => !/^(?:[a-z]+:|#)/.test(target))
      .filter((target) => !existsSync(resolve(dirname(join(repo, doc)), decodeURIComponent(target.split('#')[0]!))));
    expect(broken).toEqual([]);
  });
});
