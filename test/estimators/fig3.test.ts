import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fig3 } from '../../src/cli/figures/fig3.js';

/** Minimal XML well-formedness check: every start tag is closed in order (no parser dependency). */
function wellFormed(xml: string): boolean {
  const body = xml.replace(/<\?xml[^>]*\?>/, '');
  const stack: string[] = [];
  const re = /<(\/?)([A-Za-z][\w:-]*)([^>]*?)(\/?)>/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(body)) !== null) {
    const [, close, name, , selfClose] = m;
    if (selfClose === '/') continue;
    if (close === '/') {
      if (stack.pop() !== name) return false;
    } else stack.push(name as string);
  }
  return stack.length === 0 && !/<(?![?/A-Za-z])/.test(body) && !/&(?!amp;|lt;|gt;|quot;|apos;|#)/.test(body);
}

describe('fig3', () => {
  it('writes a valid SVG with 5 heatmap panels of 6×6 and the data JSON', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fig3-'));
    try {
      const paths = await fig3(dir, { seed: 3 });
      expect(paths).toEqual([join(dir, 'fig3.svg'), join(dir, 'fig3.json')]);
      const svg = await readFile(join(dir, 'fig3.svg'), 'utf8');
      expect(svg.startsWith('<?xml')).toBe(true);
      expect(svg).toMatch(/<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
      expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
      expect(wellFormed(svg)).toBe(true);
      const panels = svg
        .split('<g class="panel"')
        .slice(1)
        .map((p) => p.slice(0, p.indexOf('</g>')));
      expect(panels.length).toBe(5);
      for (const p of panels) expect((p.match(/<rect [^>]*fill="#[0-9a-f]{6}"/g) ?? []).length).toBe(36);
      expect(svg).toContain('n = 1000');
      const data = JSON.parse(await readFile(join(dir, 'fig3.json'), 'utf8')) as {
        exact: number[];
        sampled: Array<{ n: number; mean: number[] }>;
      };
      expect(data.exact.length).toBe(36);
      expect(data.sampled.map((s) => s.n)).toEqual([1, 10, 100, 1000]);
      // With n = 1000 the sampled mean should be close to the exact derivatives overall.
      const err = (xs: number[]): number => Math.hypot(...xs.map((v, i) => v - (data.exact[i] as number)));
      const last = data.sampled[3]?.mean as number[];
      expect(err(last)).toBeLessThan(0.25 * Math.hypot(...data.exact));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
