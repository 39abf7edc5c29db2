/**
 * Gradient check: compares the tape's gradients with central finite differences in float64.
 * The output is reduced to a scalar with fixed random weights, so every output element is tested.
 */
import { noGrad } from './engine.js';
import { Rng } from './rng.js';
import { Tensor } from './tensor.js';

export interface GradcheckOptions {
  eps?: number;
  atol?: number;
  rtol?: number;
  seed?: number;
  /** Throw with the worst element instead of returning a failed report. Default true. */
  raise?: boolean;
}

export interface GradcheckReport {
  ok: boolean;
  /** max over elements of |analytic − numeric| − (atol + rtol·|numeric|); ≤ 0 means within tolerance */
  worstExcess: number;
  worst: { input: number; index: number; analytic: number; numeric: number } | null;
  checked: number;
}

export function gradcheck(
  fn: (...inputs: Tensor[]) => Tensor,
  inputs: readonly Tensor[],
  options: GradcheckOptions = {},
): GradcheckReport {
  const { eps = 1e-6, atol = 1e-5, rtol = 1e-4, seed = 0, raise = true } = options;
  inputs.forEach((t, i) => {
    if (t.dtype !== 'float64') {
      throw new Error(
        `gradcheck: input ${i} is ${t.dtype}; finite differences need float64 inputs, pass t.to('float64').`,
      );
    }
  });
  // Fresh float64 leaves so that the caller's tensors and their .grad stay untouched.
  const leaves = inputs.map((t) => new Tensor(t.dataSync(), t.shape).requiresGrad_(true));
  const probe = fn(...leaves);
  const rng = new Rng(seed);
  const weights = new Tensor(
    Float64Array.from({ length: probe.size }, () => rng.uniform() * 2 - 1),
    probe.shape,
  );
  const scalarOf = (out: Tensor): number => {
    const v = out.values();
    const w = weights.storage;
    let s = 0;
    for (let i = 0; i < v.length; i++) s += (v[i] as number) * (w[i] as number);
    return s;
  };
  probe.backward(weights);
  const report: GradcheckReport = { ok: true, worstExcess: -Infinity, worst: null, checked: 0 };
  noGrad(() => {
    leaves.forEach((leaf, li) => {
      const analytic = leaf.grad ? leaf.grad.values() : new Float64Array(leaf.size);
      const x = leaf.storage;
      for (let k = 0; k < x.length; k++) {
        const orig = x[k] as number;
        x[k] = orig + eps;
        const plus = scalarOf(fn(...leaves));
        x[k] = orig - eps;
        const minus = scalarOf(fn(...leaves));
        x[k] = orig;
        const numeric = (plus - minus) / (2 * eps);
        const a = analytic[k] as number;
        const excess = Math.abs(a - numeric) - (atol + rtol * Math.abs(numeric));
        report.checked++;
        if (excess > report.worstExcess || Number.isNaN(excess)) {
          report.worstExcess = Number.isNaN(excess) ? Infinity : excess;
          report.worst = { input: li, index: k, analytic: a, numeric };
        }
      }
    });
  });
  report.ok = report.worstExcess <= 0;
  if (!report.ok && raise) {
    const w = report.worst!;
    throw new Error(
      `gradcheck failed: input ${w.input}, element ${w.index}: analytic ${w.analytic}, numeric ${w.numeric} ` +
        `(|diff| exceeds atol ${atol} + rtol ${rtol}·|numeric| by ${report.worstExcess.toExponential(3)}).`,
    );
  }
  return report;
}
