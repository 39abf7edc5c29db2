/** Numbers as the page shows them: fixed-point text, axis tick values and their labels (no DOM here). */

/**
 * `v.toFixed(digits)` without a minus sign on a number that rounds to zero ("-0.00" reads as a negative value).
 */
export function fixed(v: number, digits: number): string {
  const s = v.toFixed(digits);
  return /^-0(\.0*)?$/.test(s) ? s.slice(1) : s;
}

/** A tick label: three significant digits, or an exponent for very large and very small values. */
export function tickLabel(v: number): string {
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e4 || a < 1e-2)) return v.toExponential(0);
  return Number(v.toPrecision(3)).toString();
}

/** Nice linear tick values in [lo, hi] (steps of 1, 2 or 5 times a power of ten, at most 6 ticks). */
export function linearTicks(lo: number, hi: number): number[] {
  const span = hi - lo;
  const step = 10 ** Math.floor(Math.log10(span / 4));
  const nice = [1, 2, 5, 10].map((k) => k * step).find((s) => span / s <= 6) ?? step * 10;
  const out: number[] = [];
  for (let v = Math.ceil(lo / nice) * nice; v <= hi + 1e-9; v += nice) out.push(Number(v.toPrecision(12)));
  return out;
}

/**
 * Tick values for a log axis over [lo, hi]: powers of ten when the range holds at least three, else 1-2-5, 1-2-3-5,
 * every digit; a range too narrow for any of those (less than a factor of about 1.5) gets linear ticks.
 */
export function logTicks(lo: number, hi: number): number[] {
  for (const digits of [[1], [1, 2, 5], [1, 2, 3, 5], [1, 2, 3, 4, 5, 6, 7, 8, 9]]) {
    const out: number[] = [];
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
      for (const k of digits) {
        const v = Number((k * 10 ** e).toPrecision(12));
        if (v >= lo * 0.999 && v <= hi * 1.001) out.push(v);
      }
    }
    if (out.length >= 3) return out;
  }
  return linearTicks(lo, hi);
}
