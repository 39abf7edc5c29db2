/**
 * The import rule of docs/architecture.md, read from the source files themselves:
 *  - the layers above the backends (autograd, models, train, experiments, estimators, data) import no module
 *    of a backend (src/kernels/js, src/kernels/wasm, src/kernels/gpu): they reach kernels through the engine;
 *  - the engine's core (src/kernels/*.ts) imports nothing else of src;
 *  - nothing ships source text by Function.prototype.toString (src/ and the page's web/src/).
 * Only the entry points (src/index.ts, src/browser.ts, src/cli/*) import a backend's registration.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const src = join(root, 'src');

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? filesUnder(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** The modules a source file imports (static, re-exports, side-effect and dynamic), as paths relative to src/. */
function importsOf(file: string, text: string): string[] {
  const specs = [
    ...text.matchAll(
      /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|(?:^|\n)\s*import\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g,
    ),
  ]
    .map((m) => m[1] ?? m[2] ?? m[3]!)
    .filter((s) => s.startsWith('.'));
  return specs.map((s) => relative(src, resolve(dirname(file), s)).replace(/\.js$/, '.ts'));
}

const BACKENDS = ['kernels/js/', 'kernels/wasm/', 'kernels/gpu/'];
const ABOVE = ['autograd/', 'models/', 'train/', 'experiments/', 'estimators/', 'data/'];
const isCore = (p: string) => /^kernels\/[^/]+\.ts$/.test(p);

/** Every violation of the rule in a set of files ({path relative to src: text}). */
function violations(files: Record<string, string>): string[] {
  const out: string[] = [];
  for (const [path, text] of Object.entries(files)) {
    const imports = importsOf(join(src, path), text);
    for (const imp of imports) {
      if (ABOVE.some((a) => path.startsWith(a)) && BACKENDS.some((b) => imp.startsWith(b)))
        out.push(`${path} imports the backend module ${imp}`);
      if (isCore(path) && !isCore(imp)) out.push(`${path} is the engine's core but imports ${imp}`);
    }
    if (/Function\.prototype\.toString|\.toString\.call\(/.test(text))
      out.push(`${path} ships source text by Function.prototype.toString`);
  }
  return out;
}

describe('the import rule (docs/architecture.md)', () => {
  const files = Object.fromEntries(
    [...filesUnder(src), ...filesUnder(join(root, 'web/src'))].map((f) => [relative(src, f), readFileSync(f, 'utf8')]),
  );

  it('holds for src/', () => {
    expect(violations(files)).toEqual([]);
  });

  it('catches a layer that imports a backend, a core module that imports a layer, and a re-export', () => {
    expect(
      violations({
        'models/bad.ts':
          "import { gemmWasm } from '../kernels/wasm/gemm.js';\nexport { x } from '../kernels/js/index.js';\nimport '../kernels/gpu/register.js';",
        'kernels/bad.ts': "import { Tensor } from '../autograd/tensor.js';",
        'train/fine.ts':
          "import { scope } from '../kernels/engine.js';\nimport type { Tensor } from '../autograd/tensor.js';",
        'cli/fine.ts': "import '../kernels/wasm/index.js';",
        'kernels/js/shipped.ts': 'const source = Function.prototype.toString.call(kernel);',
      }),
    ).toEqual([
      'models/bad.ts imports the backend module kernels/wasm/gemm.ts',
      'models/bad.ts imports the backend module kernels/js/index.ts',
      'models/bad.ts imports the backend module kernels/gpu/register.ts',
      "kernels/bad.ts is the engine's core but imports autograd/tensor.ts",
      'kernels/js/shipped.ts ships source text by Function.prototype.toString',
    ]);
  });
});
