/** docs/architecture.md's worked example is examples/architecture/add-an-op.ts, verbatim, and prints what the page shows. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

describe('docs/architecture.md', () => {
  const doc = readFileSync('docs/architecture.md', 'utf8');
  const file = 'examples/architecture/add-an-op.ts';

  it('shows the worked example verbatim, followed by its output', () => {
    const blocks = [...doc.matchAll(/```(\w*)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1]!, body: m[2]! }));
    const at = blocks.findIndex((b) => b.lang === 'ts' && b.body.startsWith(`// ${file}`));
    expect(at).toBeGreaterThanOrEqual(0);
    expect(blocks[at]!.body.trim()).toBe(readFileSync(file, 'utf8').trim());
    const out = execFileSync(process.execPath, ['--import', 'tsx', file], { encoding: 'utf8' });
    expect(blocks[at + 1]!.body.trim()).toBe(out.trim());
    // and what it prints is right: leaky ReLU by hand, and the float64 gradient check passed
    expect(out).toContain('= -0.2, -0.05, 0.5, 3');
    expect(out).toContain('gradcheck in float64: true');
  });
});
