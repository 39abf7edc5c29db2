import { describe, expect, it } from 'vitest';
import { getNumThreads, setNumThreads } from '../../../src/kernels/js/index.js';
import { buildWorkerSource, defaultThreadCount, threadingDisabledReason } from '../../../src/kernels/js/threadPool.js';

describe('thread pool', () => {
  it('defaults to min(2, cores), overridable with SIZESEG_THREADS', () => {
    expect(defaultThreadCount(undefined, 8)).toBe(2);
    expect(defaultThreadCount(undefined, 1)).toBe(1);
    expect(defaultThreadCount('', 4)).toBe(2);
    expect(defaultThreadCount('1', 4)).toBe(1);
    expect(defaultThreadCount(' 3 ', 2)).toBe(3);
    expect(defaultThreadCount('0', 4)).toBe(2);
    expect(defaultThreadCount('abc', 4)).toBe(2);
    expect(defaultThreadCount('2.5', 4)).toBe(2);
    expect(defaultThreadCount('1000', 4)).toBe(64);
  });

  it('setNumThreads / getNumThreads round-trip and validate', () => {
    const saved = getNumThreads();
    try {
      setNumThreads(1);
      expect(getNumThreads()).toBe(1);
      setNumThreads(3.7);
      expect(getNumThreads()).toBe(3);
      expect(() => setNumThreads(0)).toThrow();
      expect(() => setNumThreads(Number.POSITIVE_INFINITY)).toThrow();
    } finally {
      setNumThreads(saved);
    }
  });

  it('builds a self-contained plain-JavaScript worker source (no TS, no imports)', () => {
    const src = buildWorkerSource();
    // parses as a plain script (compiling does not run it)
    expect(() => new Function(src)).not.toThrow();
    expect(src).not.toMatch(/\bimport\s*[{*\w]/);
    expect(src).toContain('function mkConvS1(');
    expect(src).toContain('function runKernelJob(');
    expect(threadingDisabledReason()).toBe('');
  });
});
