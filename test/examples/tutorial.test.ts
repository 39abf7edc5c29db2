/**
 * docs/tutorial.md and its examples (examples/0*.ts): every example runs and exits 0, its key printed values agree
 * with independent computations here (a brute-force O(V²) distance transform and a brute-force 2^V enumeration,
 * written without the library), and the tutorial shows each example verbatim followed by its output — exactly for
 * the deterministic steps 1–5, up to the numbers themselves for steps 6–8 (timings, training results).
 */
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';

const EXAMPLES = readdirSync('examples')
  .filter((f) => /^0\d.*\.ts$/.test(f))
  .sort();
const EXACT_OUTPUT = new Set(['01', '02', '03', '04', '05']);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}
const runs = new Map<string, Run>();

function runExample(file: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', `examples/${file}`],
      { encoding: 'utf8', timeout: 90_000, maxBuffer: 1 << 24 },
      (error, stdout, stderr) =>
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

beforeAll(async () => {
  // two at a time (the machine has 2 cores), the long training examples first
  const long = (f: string) => Number(f.startsWith('07') || f.startsWith('09'));
  const queue = [...EXAMPLES].sort((a, b) => long(b) - long(a));
  const lane = async () => {
    for (let f = queue.shift(); f !== undefined; f = queue.shift()) runs.set(f, await runExample(f));
  };
  await Promise.all([lane(), lane()]);
}, 180_000);

function output(prefix: string): string {
  const file = EXAMPLES.find((f) => f.startsWith(prefix));
  expect(file, `examples/${prefix}-*.ts exists`).toBeDefined();
  const run = runs.get(file!)!;
  expect(run.code, `${file} exit code; stderr:\n${run.stderr}`).toBe(0);
  return run.stdout;
}

/** All numbers in a line (ASCII or Unicode minus). */
const numbers = (line: string) =>
  [...line.matchAll(/[-−]?\d+(?:\.\d+)?(?:e[-+]?\d+)?/g)].map((m) => Number(m[0].replace('−', '-')));
const lineWith = (out: string, text: string) => {
  const line = out.split('\n').find((l) => l.includes(text));
  expect(line, `a line containing ${JSON.stringify(text)}`).toBeDefined();
  return line!;
};
/** The rows of numbers printed after the line containing `title` (as many rows as asked). */
const gridAfter = (out: string, title: string, rows: number) => {
  const lines = out.split('\n');
  const at = lines.findIndex((l) => l.includes(title));
  expect(at, title).toBeGreaterThanOrEqual(0);
  return lines.slice(at + 1, at + 1 + rows).flatMap(numbers);
};

// ---- independent references (no library code) ----
/** Chebyshev distance to the nearest background pixel inside the image (outside is not background). */
function bruteDT(mask: ArrayLike<number>, H: number, W: number): number[] {
  const d: number[] = [];
  for (let i = 0; i < H * W; i++) {
    let best = Infinity;
    for (let j = 0; j < H * W; j++) {
      if (mask[j] === 0)
        best = Math.min(best, Math.max(Math.abs(Math.floor(i / W) - Math.floor(j / W)), Math.abs((i % W) - (j % W))));
    }
    d.push(mask[i] === 0 ? 0 : best);
  }
  return d;
}
/** ĝ: 2·max d, with the documented cap 2·max(H, W) for an all-foreground mask. */
const bruteSize = (mask: ArrayLike<number>, H: number, W: number) => {
  const g = 2 * Math.max(...bruteDT(mask, H, W));
  return g === Infinity ? 2 * Math.max(H, W) : g;
};
/** L = Σ_y Pr(y) l(s, ĝ(y)) and ∂L/∂p_i = Σ_y Pr(y)/Pr(y_i) · l · y_i (paper eqs. 10 and 13), by enumeration. */
function bruteExact(p: readonly number[], H: number, W: number, s: number): { L: number; grad: number[] } {
  const V = H * W;
  let L = 0;
  const grad = new Array<number>(V).fill(0);
  const mask = new Array<number>(V).fill(0);
  for (let m = 0; m < 2 ** V; m++) {
    let pr = 1;
    for (let i = 0; i < V; i++) {
      mask[i] = (m >> i) & 1;
      pr *= mask[i] ? p[i]! : 1 - p[i]!;
    }
    const loss = (s - bruteSize(mask, H, W)) ** 2;
    L += pr * loss;
    for (let i = 0; i < V; i++) grad[i]! += mask[i] ? (pr / p[i]!) * loss : -(pr / (1 - p[i]!)) * loss;
  }
  return { L, grad };
}
const sigma = (x: number) => 1 / (1 + Math.exp(-x));
/** `printed` is `value` printed with `digits` decimals (rounding error at most half a unit in the last digit). */
const expectPrinted = (printed: number, value: number, digits: number) =>
  expect(Math.abs(printed - value)).toBeLessThanOrEqual(0.5 * 10 ** -digits + 1e-9);

describe('tutorial examples run and print what the method says', () => {
  it('01: distance transform, border convention, the 7×7 example has max d = 3 and g = 6', () => {
    const out = output('01');
    expect(out).toContain('7×7, 5×5 square inside: max d = 3, g = 6');
    expect(out).toContain('3×3 square in the middle: max d = 2, g = 4');
    expect(out).toContain('3×3 square in the corner: max d = 3, g = 6');
    expect(out).toContain('all background: g = 0; all foreground: g = Infinity');
    // every printed DT grid against the brute-force DT of the printed mask
    const lines = out.split('\n');
    let grids = 0;
    lines.forEach((title, at) => {
      if (!title.includes('max d =')) return;
      const rows = lines.slice(at + 1, at + 8).map((l) => l.trim().split(/\s+/));
      const mask = rows.flatMap((r) => [...r[0]!].map((ch) => (ch === '#' ? 1 : 0)));
      const d = rows.flatMap((r) => r.slice(1).map(Number));
      const ref = bruteDT(mask, 7, 7);
      expect(d).toEqual(ref);
      expect(title).toContain(`max d = ${Math.max(...ref)}, g = ${2 * Math.max(...ref)}`);
      grids++;
    });
    expect(grids).toBe(3);
  });

  it('02: the thresholded loss is piecewise constant, its finite-difference gradient is 0', () => {
    const out = output('02');
    const rows = lineWith(out, 'ŷ = [a > 0]').split(': ')[1]!.split(' / ');
    const mask = rows.join('').split('').map(Number);
    expect(bruteSize(mask, 4, 4)).toBe(2);
    expect(out).toContain('g(ŷ) = 2, target s = 6, loss l = (s − g)² = 16');
    const sweep = out.split('\n').filter((l) => l.includes('a(1,1) ='));
    expect(sweep).toHaveLength(7);
    for (const line of sweep) {
      const [v, g, l] = numbers(line.replace('a(1,1)', 'a')) as [number, number, number, number];
      const m = mask.slice();
      m[5] = v > 0 ? 1 : 0;
      expect(g).toBe(bruteSize(m, 4, 4));
      expect(l).toBe((6 - g) ** 2);
    }
    expect(lineWith(out, 'finite differences').trim()).toMatch(/: 0$/);
  });

  it('03: Pr(a − Z > 0) = σ(a); the expected loss is smooth and agrees with brute-force enumeration', () => {
    const out = output('03');
    const coins = out.split('\n').filter((l) => l.includes('fraction of a − Z > 0'));
    expect(coins).toHaveLength(4);
    for (const line of coins) {
      const a = numbers(line)[0]!;
      const fraction = Number(/= (\d\.\d+), σ/.exec(line)![1]);
      expect(Math.abs(fraction - sigma(a))).toBeLessThan(0.01); // 100 000 draws: SE ≤ 0.0016
    }
    const logits = [2.0, 1.5, 1.0, -2.0, 1.5, -0.3, 1.2, -1.5, 1.0, 1.2, 0.8, -2.5, -2.0, -1.5, -2.5, -3.0];
    const sweep = out.split('\n').filter((l) => l.includes('a(1,1) =') && l.includes('L ='));
    expect(sweep).toHaveLength(7);
    let previous = Infinity;
    for (const line of sweep) {
      const [v, L, dLda, fd] = numbers(line.replace('a(1,1)', 'a')) as [number, number, number, number, number];
      const a = logits.slice();
      a[5] = v;
      const ref = bruteExact(a.map(sigma), 4, 4, 6);
      expectPrinted(L, ref.L, 4);
      expectPrinted(dLda, ref.grad[5]! * sigma(v) * (1 - sigma(v)), 4);
      expect(Math.abs(fd - dLda)).toBeLessThanOrEqual(2e-4);
      expect(dLda).toBeLessThan(0);
      expect(L).toBeLessThan(previous);
      previous = L;
    }
  });

  it('04: the Lemma-1 estimate of the 3×3 worked example, flip by flip', () => {
    const out = output('04');
    const p = [0.2, 0.5, 0.3, 0.6, 0.9, 0.7, 0.3, 0.6, 0.4];
    const y = gridAfter(out, 'sample y =', 3);
    expect(y).toEqual([0, 1, 0, 1, 1, 1, 0, 1, 0]);
    const l = (m: number[]) => (4 - bruteSize(m, 3, 3)) ** 2;
    const expected = y.map((yi, i) => {
      const f = y.slice();
      f[i] = 1 - yi;
      return (yi === 1 ? 1 : -1) * (l(y) - l(f));
    });
    expect(gridAfter(out, 'Lemma-1 estimate of ∂L/∂p =', 3)).toEqual(expected);
    expect(expected).toEqual([-4, 0, -4, 0, 0, 0, -4, 0, -4]);
    expect(out).toContain('g(y) = 2, l(s = 4, g(y)) = 4');
    expect(out).toContain('lemma1Gradient gives the same: true');
    const dLda = gridAfter(out, 'estimate of ∂L/∂a =', 3);
    dLda.forEach((v, i) => expectPrinted(v, expected[i]! * p[i]! * (1 - p[i]!), 2));
  });

  it('05: exactSizeLoss matches the brute-force eq. 13, and the mean of K estimates converges to it', () => {
    const out = output('05');
    const ref = bruteExact([0.2, 0.5, 0.3, 0.6, 0.9, 0.7, 0.3, 0.6, 0.4], 3, 3, 4);
    expectPrinted(numbers(lineWith(out, 'exact L ='))[0]!, ref.L, 6);
    const exact = gridAfter(out, 'exact ∂L/∂p', 3);
    exact.forEach((v, i) => expectPrinted(v, ref.grad[i]!, 4));
    const errors = out
      .split('\n')
      .filter((l) => l.startsWith('K ='))
      .map((l) => numbers(l)[1]!);
    expect(errors).toHaveLength(4);
    for (let k = 1; k < errors.length; k++) expect(errors[k]!).toBeLessThan(errors[k - 1]!);
    expect(errors[3]!).toBeLessThan(0.1);
    const mean = gridAfter(out, 'mean of 10000 estimates', 3);
    mean.forEach((v, i) => expect(Math.abs(v - ref.grad[i]!)).toBeLessThan(0.1));
  });

  it('06: fast === naive bit for bit at 48×32, and fast is much faster', () => {
    const out = output('06');
    expect(lineWith(out, '48×32')).toMatch(/fast and naive identical bit for bit: true$/);
    const [naiveMs, fastMs, ratio] = numbers(lineWith(out, 'one sample:')) as [number, number, number];
    expect(fastMs).toBeLessThan(naiveMs);
    expect(ratio).toBeGreaterThan(20); // ≈ 150–350× unloaded; generous for a shared machine
  });

  it('07: both training phases run; pre-training beats the untrained network', () => {
    const out = output('07');
    const metric = (when: string) => {
      const [iou, e] = numbers(lineWith(out, when)).slice(-2) as [number, number];
      expect(Number.isFinite(iou) && Number.isFinite(e)).toBe(true);
      expect(iou).toBeGreaterThanOrEqual(0);
      expect(iou).toBeLessThanOrEqual(100);
      return { iou, e };
    };
    const untrained = metric('untrained:');
    const phase1 = metric('after phase 1 (BCE):');
    metric('after phase 2 (sizes):');
    expect(phase1.iou).toBeGreaterThan(untrained.iou);
    expect(out).toMatch(/^time: phase 1 [\d.]+ s, phase 2 [\d.]+ s$/m);
  });

  it('09: both objectives train from the pre-trained network of step 7; the joint size term is on the images without masks', () => {
    const out = output('09');
    const line = (when: string) => {
      const [iou, e, fg, truth] = numbers(lineWith(out, when)).slice(-4) as [number, number, number, number];
      for (const v of [iou, fg, truth]) expect(v >= 0 && v <= 100).toBe(true);
      expect(Number.isFinite(e)).toBe(true);
      return { iou, e, fg, truth };
    };
    const pre = line('after phase 1 (BCE):');
    const sizeOnly = line('size loss alone:');
    const joint = line('joint objective:');
    expect(new Set([pre.truth, sizeOnly.truth, joint.truth]).size).toBe(1);
    // the same data, seed and pre-training as step 7: the same network after phase 1
    const step7 = numbers(lineWith(output('07'), 'after phase 1 (BCE):')).slice(-2);
    expect([pre.iou, pre.e]).toEqual(step7);
    // BCE on m = 20 images, λ = 1e-3, the size term on the other training images (step 7 prints how many)
    const trainImages = numbers(lineWith(output('07'), 'synthetic'))[3]!;
    expect(numbers(lineWith(out, 'joint: BCE on the'))).toEqual([20, 0.001, trainImages - 20]);
  });

  it("08: a loop of trainStep gives the plain loop's losses bit for bit, and they fall", () => {
    const out = output('08');
    expect(lineWith(out, 'same losses bit for bit:')).toMatch(/true$/);
    const losses = (name: string) => numbers(lineWith(out, name).split('losses')[1]!);
    const plain = losses('plain loop:');
    expect(plain).toHaveLength(5);
    expect(losses('trainStep (one scope a step):')).toEqual(plain);
    expect(plain[4]!).toBeLessThan(plain[0]!);
  });
});

describe('docs/tutorial.md', () => {
  const doc = readFileSync('docs/tutorial.md', 'utf8');
  const blocks = [...doc.matchAll(/```(\w*)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1]!, body: m[2]!, at: m.index }));
  const named = blocks.flatMap((b, k) => {
    const name = /^\/\/ (examples\/\S+\.ts)/.exec(b.body)?.[1];
    return b.lang === 'ts' && name ? [{ name, block: b, next: blocks[k + 1] }] : [];
  });

  it('shows every examples/0*.ts file exactly once, verbatim, in a ```ts block that starts with its path', () => {
    expect(named.map((n) => n.name).sort()).toEqual(EXAMPLES.map((f) => `examples/${f}`));
    for (const { name, block } of named) expect(block.body.trim(), name).toBe(readFileSync(name, 'utf8').trim());
    // any other ts block that mentions an example file would be an unchecked copy
    for (const b of blocks)
      if (b.lang === 'ts' && b.body.includes('examples/')) expect(named.some((n) => n.block === b)).toBe(true);
  });

  it('follows each example with the output it prints (exact for steps 1–5, same text up to numbers for 6–8)', () => {
    const shape = (s: string) =>
      s
        .replace(/[-−]?\d+(?:\.\d+)?/g, '#')
        .replace(/\s+/g, ' ')
        .trim();
    for (const { name, next } of named) {
      expect(next?.lang, `${name} is followed by a \`\`\`text block`).toBe('text');
      const printed = output(name.slice('examples/'.length, 'examples/'.length + 2)).trim();
      const shown = next!.body.trim();
      if (EXACT_OUTPUT.has(name.slice(9, 11))) expect(shown, name).toBe(printed);
      else expect(shape(shown), name).toBe(shape(printed));
    }
  });
});
