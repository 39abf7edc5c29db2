import { describe, expect, it } from 'vitest';
import { Rng, bceWithLogits, gradcheck, randn, tensor, noGrad } from '../../src/autograd/index.js';
import { ResUNet } from '../../src/models/resunet.js';
import { Adam, SGD } from '../../src/models/optim.js';

describe('ResUNet', () => {
  it('default is ResUNet-lite: logits [B,1,48,32], about 0.5 M parameters', () => {
    const model = new ResUNet({ rng: new Rng(1) });
    const count = model.parameterCount();
    // Counted by hand from SPEC.md: stem 144+32; E1 2·2304+4·16; E2 4608+9216+512 + BN; … ≈ 0.49 M.
    expect(count).toBeGreaterThan(450_000);
    expect(count).toBeLessThan(550_000);
    const x = randn([2, 1, 48, 32], new Rng(2));
    const y = noGrad(() => model.eval().forward(x));
    expect(y.shape).toEqual([2, 1, 48, 32]);
    expect(y.dataSync().every(Number.isFinite)).toBe(true);
    const names = [...model.namedParameters()].map(([n]) => n);
    expect(names).toContain('enc4.shortcut_conv.weight');
    expect(names).toContain('dec1.conv2.bn.weight');
    expect(names).toContain('head.bias');
  });

  it('refuses images whose size does not divide by 2^(levels−1)', () => {
    const model = new ResUNet({ widths: [2, 3], rng: new Rng(1) });
    expect(() => model.forward(randn([1, 1, 5, 4], new Rng(0)))).toThrow(/divisible by 2.*\[1, 1, 5, 4\]/);
  });

  it('a tiny ResUNet passes gradcheck in float64 (train mode, w.r.t. input and every parameter)', () => {
    const model = new ResUNet({ widths: [2, 3], rng: new Rng(3), dtype: 'float64' });
    const x = randn([2, 1, 4, 4], new Rng(4), { dtype: 'float64' });
    const params = model.parameters();
    // w.r.t. the input: the generic gradcheck over the whole forward pass
    const report = gradcheck((input) => model.forward(input), [x], { atol: 1e-6, rtol: 1e-5 });
    expect(report.ok).toBe(true);
    // parameters: finite differences of a scalar loss against each parameter's tape gradient
    const rngW = new Rng(5);
    const weights = randn([2, 1, 4, 4], rngW, { dtype: 'float64' });
    const loss = () => model.forward(x).mul(weights).sum();
    model.zeroGrad();
    loss().backward();
    let checked = 0;
    for (const p of params) {
      const analytic = p.grad!.dataSync();
      for (let k = 0; k < p.size; k += Math.max(1, Math.floor(p.size / 3))) {
        const orig = p.storage[k]!;
        p.storage[k] = orig + 1e-6;
        const plus = noGrad(loss).item();
        p.storage[k] = orig - 1e-6;
        const minus = noGrad(loss).item();
        p.storage[k] = orig;
        const numeric = (plus - minus) / 2e-6;
        expect(Math.abs(analytic[k]! - numeric)).toBeLessThan(1e-6 + 1e-5 * Math.abs(numeric));
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(50);
  });

  it('float64 eval inference with batch norm folded into the convolutions equals the taped eval forward to 1e-12', () => {
    // (folding used to round the folded weights to float32: 1e-7 relative off in a float64 network)
    const model = new ResUNet({ widths: [3, 5, 7], rng: new Rng(6), dtype: 'float64' });
    const rng = new Rng(7);
    for (const [name, t] of Object.entries(model.stateDict())) {
      // batch-norm statistics and affine parameters far from their initial 0/1, so the fold does real work
      if (/bn\.(running_mean|bias)$/.test(name)) t.storage.set(randn([t.size], rng, { dtype: 'float64' }).values());
      if (/bn\.(running_var|weight)$/.test(name))
        t.storage.set(randn([t.size], rng, { dtype: 'float64' }).abs().add(0.5).values());
    }
    model.eval();
    const x = randn([2, 1, 8, 8], new Rng(8), { dtype: 'float64' });
    const taped = model.forward(x.detach().requiresGrad_()); // recording: batch norm and convolution apart
    const folded = noGrad(() => model.forward(x)); // inference: the folded convolutions
    expect(folded.dtype).toBe('float64');
    const a = taped.dataSync(),
      b = folded.dataSync();
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(a[i]!)));
    expect(worst).toBeLessThan(1e-12);
    expect(worst).toBeGreaterThan(0); // two different computations: not the same path twice
  });

  it('stateDict round trip and strict loading', () => {
    const a = new ResUNet({ widths: [2, 4], rng: new Rng(1) });
    const b = new ResUNet({ widths: [2, 4], rng: new Rng(2) });
    b.loadStateDict(a.stateDict());
    const x = randn([1, 1, 4, 4], new Rng(3));
    expect(Array.from(noGrad(() => b.eval().forward(x)).dataSync())).toEqual(
      Array.from(noGrad(() => a.eval().forward(x)).dataSync()),
    );
    const c = new ResUNet({ widths: [2, 5], rng: new Rng(1) });
    expect(() => c.loadStateDict(a.stateDict())).toThrow(/'stem.conv.weight' has shape|shape/);
  });
});

describe('optimisers', () => {
  it('SGD with momentum matches the update rule computed by hand', () => {
    const w = tensor([1, -2], undefined, { dtype: 'float64', requiresGrad: true });
    const opt = new SGD([w], { lr: 0.1, momentum: 0.9, weightDecay: 0.01 });
    w.mul(w).sum().backward(); // g = 2w = [2, -4]
    opt.step(); // v = g + 0.01 w = [2.01, -4.02]; w -= 0.1 v
    expect(Array.from(w.dataSync())).toEqual([1 - 0.1 * 2.01, -2 + 0.1 * 4.02]);
  });

  it('Adam first step moves every weight by lr against the gradient sign', () => {
    const w = tensor([1, -2, 3], undefined, { dtype: 'float64', requiresGrad: true });
    const opt = new Adam([w], { lr: 0.01 });
    w.mul(tensor([1, 2, -3], undefined, { dtype: 'float64' }))
      .sum()
      .backward();
    opt.step();
    const v = w.dataSync();
    expect(v[0]).toBeCloseTo(0.99, 8);
    expect(v[1]).toBeCloseTo(-2.01, 8);
    expect(v[2]).toBeCloseTo(3.01, 8);
    expect(() => new Adam([w], { lr: -1 })).toThrow(/learning rate/);
  });

  it('a short supervised run on a toy task lowers the loss', () => {
    const rng = new Rng(7);
    const model = new ResUNet({ widths: [4, 8], rng });
    const opt = new Adam(model.parameters(), { lr: 0.01 });
    // task: foreground where the image is bright
    const x = randn([4, 1, 8, 8], rng);
    const t = tensor(
      x.dataSync().map((v) => (v > 0.3 ? 1 : 0)),
      [4, 1, 8, 8],
    );
    const losses: number[] = [];
    for (let step = 0; step < 30; step++) {
      opt.zeroGrad();
      const loss = bceWithLogits(model.forward(x), t);
      loss.backward();
      opt.step();
      losses.push(loss.item());
    }
    expect(losses[29]!).toBeLessThan(0.5 * losses[0]!);
  });
});
