/** The README's API example is examples/quickstart.ts, verbatim, and it runs. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

describe('README example', () => {
  it('is the same code as examples/quickstart.ts', () => {
    const readme = readFileSync('README.md', 'utf8');
    const block = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBeDefined();
    expect(block!.trim()).toBe(readFileSync('examples/quickstart.ts', 'utf8').trim());
  });

  it('runs as written and prints the documented gradient', () => {
    const out = execFileSync(process.execPath, ['--import', 'tsx', 'examples/quickstart.ts'], { encoding: 'utf8' });
    expect(out).toContain('d/dx sum(x²) = [ [ 2, 4 ], [ 6, 8 ] ]');
    expect(out).toContain('gradcheck: true');
    expect(out.match(/^loss \d+\.\d{3}$/gm)).toHaveLength(2);
  });
});
