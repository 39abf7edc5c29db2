/**
 * Every op: values against an independent reference (hand-computed numbers or naive loops written here),
 * and gradients against float64 central finite differences (gradcheck), including broadcasting and
 * non-contiguous (transposed, sliced) inputs.
 */
import { describe, expect, it } from 'vitest';
import {
  Rng,
  type Tensor,
  abs,
  defineOp,
  bceWithLogits,
  clamp,
  concat,
  div,
  exp,
  gradcheck,
  log,
  matmul,
  max,
  maximum,
  mean,
  mse,
  mul,
  noGrad,
  pad,
  pow,
  randn,
  relu,
  sigmoid,
  softplus,
  sqrt,
  sub,
  sum,
  tanh,
  tensor,
  where,
  add,
  neg,
} from '../../src/autograd/index.js';

const f64 = { dtype: 'float64' as const };
const rng = new Rng(1234);
const r64 = (shape: number[]) => randn(shape, rng, f64);
const pos64 = (shape: number[]) => r64(shape).abs().add(0.5);

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-12) {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i] as number;
    expect(Math.abs((actual[i] as number) - e)).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(e)));
  }
}

describe('elementwise values', () => {
  it('binary ops broadcast by NumPy rules (reference: explicit index loops)', () => {
    const a = r64([2, 3, 1]);
    const b = r64([4]);
    const av = a.dataSync(),
      bv = b.dataSync();
    const ops: [string, (x: Tensor, y: Tensor) => Tensor, (p: number, q: number) => number][] = [
      ['add', add, (p, q) => p + q],
      ['sub', sub, (p, q) => p - q],
      ['mul', mul, (p, q) => p * q],
      ['div', div, (p, q) => p / q],
      ['maximum', maximum, (p, q) => Math.max(p, q)],
    ];
    for (const [, op, ref] of ops) {
      const out = op(a, b);
      expect(out.shape).toEqual([2, 3, 4]);
      const expected: number[] = [];
      for (let i = 0; i < 2; i++)
        for (let j = 0; j < 3; j++) for (let k = 0; k < 4; k++) expected.push(ref(av[i * 3 + j]!, bv[k]!));
      close(out.dataSync(), expected);
    }
  });

  it('unary ops match Math on hand-picked points', () => {
    const x = tensor([-2, -0.5, 0, 0.5, 3], undefined, f64);
    close(exp(x).dataSync(), [-2, -0.5, 0, 0.5, 3].map(Math.exp));
    close(tanh(x).dataSync(), [-2, -0.5, 0, 0.5, 3].map(Math.tanh));
    close(relu(x).dataSync(), [0, 0, 0, 0.5, 3]);
    close(abs(x).dataSync(), [2, 0.5, 0, 0.5, 3]);
    close(neg(x).dataSync(), [2, 0.5, -0, -0.5, -3]);
    close(clamp(x, -1, 1).dataSync(), [-1, -0.5, 0, 0.5, 1]);
    close(
      sigmoid(x).dataSync(),
      [-2, -0.5, 0, 0.5, 3].map((v) => 1 / (1 + Math.exp(-v))),
    );
    close(
      softplus(x).dataSync(),
      [-2, -0.5, 0, 0.5, 3].map((v) => Math.log(1 + Math.exp(v))),
    );
    const p = tensor([0.25, 1, 4], undefined, f64);
    close(sqrt(p).dataSync(), [0.5, 1, 2]);
    close(log(p).dataSync(), [Math.log(0.25), 0, Math.log(4)]);
    close(pow(p, 1.5).dataSync(), [0.125, 1, 8]);
  });

  it('sigmoid and softplus stay finite and exact at extreme logits', () => {
    const x = tensor([-1e4, -800, 800, 1e4], undefined, f64);
    expect(Array.from(sigmoid(x).dataSync())).toEqual([0, 0, 1, 1]);
    const sp = softplus(x).dataSync();
    expect(sp[0]).toBe(0);
    expect(sp[3]).toBe(1e4);
    expect(sp.every(Number.isFinite)).toBe(true);
  });

  it('where selects by condition and broadcasts', () => {
    const c = tensor([1, 0, 1], undefined, f64);
    const out = where(
      c,
      tensor(
        [
          [1, 2, 3],
          [4, 5, 6],
        ],
        undefined,
        f64,
      ),
      -1,
    );
    close(out.dataSync(), [1, -1, 3, 4, -1, 6]);
  });
});

describe('gradients (float64 finite differences)', () => {
  const cases: [string, () => Tensor[], (...t: Tensor[]) => Tensor][] = [
    ['add broadcast', () => [r64([2, 3, 4]), r64([3, 1])], (a, b) => a!.add(b!)],
    ['sub broadcast', () => [r64([3, 1]), r64([2, 3, 4])], (a, b) => a!.sub(b!)],
    ['mul broadcast', () => [r64([2, 3, 4]), r64([4])], (a, b) => a!.mul(b!)],
    ['div broadcast', () => [r64([2, 3]), pos64([1, 3])], (a, b) => a!.div(b!)],
    ['pow tensor exponent', () => [pos64([2, 3]), r64([2, 3])], (a, b) => a!.pow(b!)],
    ['pow scalar', () => [pos64([5])], (a) => a!.pow(2.5)],
    ['maximum', () => [r64([3, 4]), r64([4])], (a, b) => maximum(a!, b!)],
    ['neg/exp/log/sqrt', () => [pos64([6])], (a) => a!.neg().exp().add(a!.log()).add(a!.sqrt())],
    ['abs', () => [r64([7])], (a) => a!.abs()],
    ['sigmoid/tanh/softplus', () => [r64([2, 5])], (a) => a!.sigmoid().add(a!.tanh()).mul(a!.softplus())],
    ['relu', () => [r64([9])], (a) => a!.relu()],
    ['clamp', () => [r64([9])], (a) => a!.clamp(-0.5, 0.7)],
    ['where', () => [r64([2, 3]), r64([3])], (a, b) => where(tensor([1, 0, 1, 0, 0, 1], [2, 3], f64), a!, b!)],
    ['sum axes keepdim', () => [r64([2, 3, 4])], (a) => a!.sum([0, 2], true).mul(a!.sum(1, true))],
    ['mean', () => [r64([3, 5])], (a) => a!.mean(1).add(a!.mean())],
    ['max', () => [r64([4, 5])], (a) => a!.max(1).add(a!.max(0).sum())],
    ['matmul 2d', () => [r64([3, 4]), r64([4, 5])], (a, b) => matmul(a!, b!)],
    ['matmul batched broadcast', () => [r64([2, 1, 3, 4]), r64([3, 4, 2])], (a, b) => matmul(a!, b!)],
    ['matmul vectors', () => [r64([4]), r64([4, 3]), r64([3])], (v, m, w) => matmul(matmul(v!, m!), w!)],
    ['reshape/permute/transpose', () => [r64([2, 3, 4])], (a) => a!.permute(2, 0, 1).reshape(4, 6).transpose().mul(2)],
    ['slice with step (non-contiguous)', () => [r64([5, 6])], (a) => a!.slice(1, 1, 6, 2).slice(0, -3).exp()],
    [
      'concat',
      () => [r64([2, 3]), r64([2, 1]), r64([2, 2])],
      (a, b, c) => concat([a!, b!, c!], 1).mul(concat([c!, b!, a!], 1)),
    ],
    [
      'pad',
      () => [r64([2, 3])],
      (a) =>
        pad(
          a!,
          [
            [1, 0],
            [2, 1],
          ],
          0.5,
        ).mul(
          pad(a!, [
            [0, 1],
            [1, 2],
          ]),
        ),
    ],
    ['expand/squeeze/unsqueeze', () => [r64([3, 1])], (a) => a!.expand([2, 3, 4]).sum(0).unsqueeze(0).squeeze(0)],
    [
      'transposed input to binary ops',
      () => [r64([4, 3]), r64([3, 4])],
      (a, b) =>
        a!
          .transpose()
          .mul(b!)
          .add(b!.div(a!.T.abs().add(1))),
    ],
    ['bceWithLogits', () => [r64([2, 5]), r64([2, 5]).sigmoid()], (a, t) => bceWithLogits(a!, t!)],
    [
      'bceWithLogits none',
      () => [r64([6])],
      (a) => bceWithLogits(a!, tensor([0, 1, 0.3, 1, 0, 0.5], undefined, f64), { reduction: 'none' }),
    ],
    ['mse', () => [r64([2, 3]), r64([2, 3])], (a, b) => mse(a!, b!)],
  ];
  for (const [name, make, fn] of cases) {
    it(name, () => {
      const report = gradcheck(fn, make(), { eps: 1e-6, atol: 1e-7, rtol: 1e-5 });
      expect(report.ok).toBe(true);
      expect(report.checked).toBeGreaterThan(0);
    });
  }

  it('gradcheck catches a wrong gradient (so the checks above can fail)', () => {
    const x = r64([3]);
    // a custom op whose backward misses the factor 2 of d(x²)/dx
    const square = defineOp<null>({
      name: 'badSquare',
      forward: (ctx, [a]) => {
        ctx.save(a);
        return a!.mul(a!);
      },
      backward: (ctx, g) => [g.mul(ctx.saved[0] as Tensor)],
    });
    const wrong = (a: Tensor) => square([a], null);
    expect(gradcheck(wrong, [x], { raise: false }).ok).toBe(false);
    expect(() => gradcheck(wrong, [x])).toThrow(/gradcheck failed/);
  });
});

describe('reductions and matmul values', () => {
  it('sum/mean/max over axes with keepdim (reference: loops)', () => {
    const a = r64([2, 3, 4]);
    const v = a.dataSync();
    const s = sum(a, [0, 2]);
    const m = max(a, 1, true);
    expect(s.shape).toEqual([3]);
    expect(m.shape).toEqual([2, 1, 4]);
    const es: number[] = [0, 0, 0];
    const em: number[] = [];
    for (let i = 0; i < 2; i++)
      for (let j = 0; j < 3; j++) for (let k = 0; k < 4; k++) es[j]! += v[i * 12 + j * 4 + k]!;
    for (let i = 0; i < 2; i++)
      for (let k = 0; k < 4; k++) em.push(Math.max(v[i * 12 + k]!, v[i * 12 + 4 + k]!, v[i * 12 + 8 + k]!));
    close(s.dataSync(), es);
    close(m.dataSync(), em);
    close(mean(a).dataSync(), [Array.from(v).reduce((p, q) => p + q, 0) / 24]);
  });

  it('matmul equals the triple loop, batched with broadcasting', () => {
    const a = r64([2, 3, 4]);
    const b = r64([4, 5]);
    const out = matmul(a, b);
    expect(out.shape).toEqual([2, 3, 5]);
    const av = a.dataSync(),
      bv = b.dataSync();
    const ref: number[] = [];
    for (let n = 0; n < 2; n++)
      for (let i = 0; i < 3; i++)
        for (let j = 0; j < 5; j++) {
          let s = 0;
          for (let k = 0; k < 4; k++) s += av[n * 12 + i * 4 + k]! * bv[k * 5 + j]!;
          ref.push(s);
        }
    close(out.dataSync(), ref);
  });

  it('bceWithLogits is exact and finite for |a| up to 1e4', () => {
    const a = tensor([-1e4, -30, 0, 30, 1e4], undefined, f64).requiresGrad_();
    const t = tensor([1, 0, 1, 1, 0], undefined, f64);
    const loss = bceWithLogits(a, t, { reduction: 'none' });
    // reference: for a = ±1e4 the loss is the margin |a| when the label disagrees, 0 when it agrees
    close(loss.dataSync(), [1e4, Math.log1p(Math.exp(-30)), Math.LN2, Math.log1p(Math.exp(-30)), 1e4]);
    loss.sum().backward();
    close(a.grad!.dataSync(), [-1, 1 / (1 + Math.exp(30)), -0.5, -1 / (1 + Math.exp(30)), 1]);
  });
  it('bceWithLogits: loss softplus(a) − a·t and gradient σ(a) − t, bit for bit the scalar functions', async () => {
    // the op computes e^−|a| once for both; the scalar functions are the definitions it must match exactly
    const { stableSigmoid, stableSoftplus } = await import('../../src/autograd/scalarMath.js');
    const av = [-1e4, -88.7, -30, -3.3, -1, -1e-9, -0, 0, 1e-9, 0.5, 2, 17.1, 40, 1e4];
    const tv = av.map((_, i) => [0, 1, 0.3][i % 3]!);
    const a = tensor(av, undefined, f64).requiresGrad_();
    const loss = bceWithLogits(a, tensor(tv, undefined, f64), { reduction: 'none' });
    expect([...loss.dataSync()]).toEqual(av.map((x, i) => stableSoftplus(x) - x * tv[i]!));
    loss.backward(
      tensor(
        av.map(() => 1),
        undefined,
        f64,
      ),
    );
    expect([...a.grad!.dataSync()]).toEqual(av.map((x, i) => stableSigmoid(x) - tv[i]!));
  });
});

describe('autograd engine', () => {
  it('accumulates gradients of a reused tensor and across backward calls', () => {
    const x = tensor([2, 3], undefined, { ...f64, requiresGrad: true });
    x.mul(x).add(x).sum().backward(); // d/dx (x² + x) = 2x + 1
    close(x.grad!.dataSync(), [5, 7]);
    x.mul(3).sum().backward();
    close(x.grad!.dataSync(), [8, 10]);
    x.zeroGrad();
    expect(x.grad).toBeNull();
  });

  it('frees the graph after backward unless retained', () => {
    const x = tensor([1, 2], undefined, { requiresGrad: true });
    const y = x.exp().sum();
    y.backward(undefined, { retainGraph: true });
    y.backward();
    expect(() => y.backward()).toThrow(/already freed.*retainGraph/);
  });

  it('non-scalar backward needs an upstream gradient of the same shape', () => {
    const x = tensor([1, 2, 3], undefined, { requiresGrad: true });
    const y = x.mul(2);
    expect(() => y.backward()).toThrow(/not a scalar.*upstream gradient/);
    expect(() => y.backward(tensor([1, 1]))).toThrow(/shape \[2\].*\[3\]/);
    y.backward(tensor([1, 0, 2]));
    close(x.grad!.dataSync(), [2, 0, 4]);
  });

  it('detach and noGrad stop recording; intermediates keep grad only when retained', () => {
    const x = tensor([1, 2], undefined, { requiresGrad: true });
    expect(x.detach().mul(2).requiresGrad).toBe(false);
    expect(noGrad(() => x.mul(2)).requiresGrad).toBe(false);
    const h = x.mul(3).retainGrad();
    const k = x.mul(4);
    h.add(k).sum().backward();
    close(h.grad!.dataSync(), [1, 1]);
    expect(k.grad).toBeNull();
    expect(() => tensor([1]).sum().backward()).toThrow(/does not require grad/);
  });

  it('a deep chain does not overflow the stack', () => {
    const x = tensor([1], undefined, { ...f64, requiresGrad: true });
    let y = x;
    for (let i = 0; i < 20_000; i++) y = y.add(1e-4);
    y.sum().backward();
    close(x.grad!.dataSync(), [1]);
  });
});

describe('bad input names the op, the shapes and the fix', () => {
  it('shape, dtype and value errors', () => {
    expect(() => add(tensor([1, 2, 3]), tensor([1, 2]))).toThrow(/add: shapes \[3\] and \[2\] cannot be broadcast/);
    expect(() => mul(tensor([1]), tensor([1], undefined, f64))).toThrow(/mul: dtype mismatch.*\.to\(/);
    expect(() => matmul(tensor([[1, 2]]), tensor([[1, 2]]))).toThrow(
      /matmul: inner dimensions differ.*\[1, 2\] @ \[1, 2\]/,
    );
    expect(() => tensor([1, 2, 3]).reshape(2, 2)).toThrow(/reshape: cannot reshape \[3\]/);
    expect(() => tensor([1, 2, 3]).sum(1)).toThrow(/sum: axis 1 is out of range/);
    expect(() => tensor([[1, 2], [3]])).toThrow(/ragged/);
    expect(() => bceWithLogits(tensor([Number.NaN]), tensor([1]))).toThrow(/bceWithLogits: logit 0 is NaN/);
    expect(() => bceWithLogits(tensor([0]), tensor([2]))).toThrow(/targets must be probabilities/);
    expect(() => concat([tensor([[1, 2]]), tensor([[1, 2, 3]])], 0)).toThrow(/concat: shapes/);
    expect(() => gradcheck((a) => a, [tensor([1])])).toThrow(/float64/);
  });
});

describe('custom ops (defineOp)', () => {
  it('a custom op with a correct backward passes gradcheck and runs arbitrary CPU code', () => {
    // cube via a plain loop in the forward, 3x² in the backward
    const cube = defineOp<{ scale: number }>({
      name: 'cube',
      forward: (ctx, [a], { scale }) => {
        ctx.save(a);
        const v = a!.dataSync().map((x) => scale * x * x * x);
        return tensor(v, a!.shape, { dtype: a!.dtype });
      },
      backward: (ctx, g, { scale }) => [g.mul((ctx.saved[0] as Tensor).pow(2).mul(3 * scale))],
    });
    expect(gradcheck((a) => cube([a], { scale: 0.5 }).exp(), [r64([2, 3])]).ok).toBe(true);
  });

  it('a backward that returns the wrong number or shape of gradients is an error', () => {
    const bad = defineOp<null>({ name: 'bad', forward: (_c, [a]) => a!.mul(1), backward: (_c, g) => [g, g] });
    expect(() =>
      bad([tensor([1], undefined, { requiresGrad: true })], null)
        .sum()
        .backward(),
    ).toThrow(/bad: backward returned 2 gradients for 1 inputs/);
    const badShape = defineOp<null>({ name: 'badShape', forward: (_c, [a]) => a!.sum(), backward: (_c, g) => [g] });
    expect(() => badShape([tensor([1, 2], undefined, { requiresGrad: true })], null).backward()).toThrow(
      /badShape: backward gradient 0 has shape \[\]/,
    );
  });
});
