import { describe, expect, it } from 'vitest';
import {
  WORKER_LOOP,
  buildWorkerSource,
  defaultThreadCount,
  getNumThreads,
  setNumThreads,
  threadingDisabledReason,
} from '../../../src/kernels/wasm/threads.js';
import { nodeThreadPlatform } from '../../../src/kernels/wasm/nodeThreads.js';

describe("the WebAssembly kernels' thread pool", () => {
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

  it("gives workers one small fixed plain-JavaScript program: the platform's prologue, the job runner, the job loop", () => {
    const src = buildWorkerSource(nodeThreadPlatform);
    // parses as a plain script (compiling does not run it)
    expect(() => new Function(src)).not.toThrow();
    expect(src).not.toMatch(/\bimport\s*[{*\w]/);
    expect(src).toContain('function runWasmJob(job)');
    expect(src).toContain(WORKER_LOOP);
    expect(src.length).toBeLessThan(4000); // no kernel code travels as text: the kernels are WebAssembly modules
    // a platform without a synchronous receive brings its own loop
    expect(buildWorkerSource({ prologue: '', jobLoop: '/* event loop */' })).not.toContain(WORKER_LOOP);
    expect(threadingDisabledReason()).toBe('');
  });
});
