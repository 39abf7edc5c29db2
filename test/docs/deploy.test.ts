/**
 * docs/deploy.md: the README links it, examples/onnx-export.ts writes the network and its reference logits as
 * documented, and the onnxruntime-web block runs as written on them and prints the documented check.
 * (The Python block needs Python's onnxruntime, which is not a dependency here; it was run by hand, see the doc.)
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const doc = readFileSync('docs/deploy.md', 'utf8');
const CHECKPOINT = 'docs/figures/results/fig7-paper/runs/m10-s0/pretrained.ckpt';

describe('docs/deploy.md', () => {
  it('is linked from the README, which says why the export writes its own protobuf and folds batch norm', () => {
    const readme = readFileSync('README.md', 'utf8');
    expect(readme).toContain('(docs/deploy.md)');
    expect(readme).toMatch(/## Deploy/);
    expect(readme).toMatch(/protobuf/);
    expect(readme).toMatch(/folded/);
  });

  it("the example writes the network and the check file; the onnxruntime-web block reproduces sizeseg's logits", () => {
    expect(doc).toContain(`npx tsx examples/onnx-export.ts ${CHECKPOINT} hippo-m10.onnx`);
    const dir = mkdtempSync(join(tmpdir(), 'sizeseg-deploy-'));
    const made = execFileSync(
      process.execPath,
      ['--import', 'tsx', 'examples/onnx-export.ts', CHECKPOINT, join(dir, 'hippo-m10.onnx')],
      { encoding: 'utf8' },
    );
    expect(made).toMatch(/wrote .*hippo-m10\.onnx \(\d+ KiB\) and .*hippo-m10\.check\.json/);
    const check = JSON.parse(readFileSync(join(dir, 'hippo-m10.check.json'), 'utf8')) as {
      dims: number[];
      logits: number[];
    };
    expect(check.dims).toEqual([4, 1, 48, 32]);

    // the block runs from inside the repository (so that 'onnxruntime-web' resolves), in the folder of the two files
    const block = /```js\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(block).toBeDefined();
    const script = resolve('test-artifacts', 'deploy', 'check-onnx.mjs');
    mkdirSync(resolve('test-artifacts', 'deploy'), { recursive: true });
    writeFileSync(script, block!);
    const out = execFileSync(process.execPath, [script], { cwd: dir, encoding: 'utf8' });
    const ratio = Number(/max \|difference\| \/ max \|logit\|: (\S+)/.exec(out)?.[1]);
    expect(ratio).toBeLessThan(1e-5);
    const foreground = Number(/foreground pixels: (\d+)/.exec(out)?.[1]);
    expect(foreground).toBe(check.logits.filter((v) => v > 0).length);
    expect(doc).toContain(`foreground pixels: ${foreground}`);
  });
});
