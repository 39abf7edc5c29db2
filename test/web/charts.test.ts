/** The page's chart helpers that need no DOM (web/src/numbers.ts): log-axis ticks and number formatting. */
import { describe, expect, it } from 'vitest';
import { fixed, logTicks } from '../../web/src/numbers.js';

describe('chart helpers', () => {
  it('a log axis gets at least three tick values inside its range, however narrow the range', () => {
    for (const [lo, hi] of [
      [1, 1000],
      [2.2, 48],
      [11.3, 19.6],
      [0.31, 0.9],
      [120, 3000],
      [7.9, 8.4],
      [3.1e-4, 2.2e-3],
    ] as const) {
      const ticks = logTicks(lo, hi);
      expect(ticks.length, `${lo}..${hi}: ${ticks.join(', ')}`).toBeGreaterThanOrEqual(3);
      expect(ticks.length, `${lo}..${hi}: ${ticks.join(', ')}`).toBeLessThanOrEqual(9);
      for (const t of ticks) {
        expect(t).toBeGreaterThanOrEqual(lo * 0.999);
        expect(t).toBeLessThanOrEqual(hi * 1.001);
      }
      expect([...ticks].sort((a, b) => a - b)).toEqual(ticks);
    }
    expect(logTicks(1, 1000)).toEqual([1, 10, 100, 1000]);
    expect(logTicks(2.2, 48)).toEqual([5, 10, 20]);
    expect(logTicks(16, 70)).toEqual([20, 30, 50]);
  });

  it('numbers that round to zero print without a minus sign', () => {
    expect(fixed(-0.004, 2)).toBe('0.00');
    expect(fixed(-0.04, 1)).toBe('0.0');
    expect(fixed(-0.4, 0)).toBe('0');
    expect(fixed(-0.006, 2)).toBe('-0.01');
    expect(fixed(0.004, 2)).toBe('0.00');
    expect((-0.004).toFixed(2)).toBe('-0.00'); // what the page showed before
  });
});
