/** Scalar functions written to be exact and finite over the whole float range; shared by ops and kernels. */

/** Logistic function σ(x): never evaluates exp of a large positive number. */
export function stableSigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/** log(1 + e^x), written as max(x, 0) + log1p(e^−|x|) so it neither overflows nor loses small values. */
export function stableSoftplus(x: number): number {
  return (x > 0 ? x : 0) + Math.log1p(Math.exp(-Math.abs(x)));
}
