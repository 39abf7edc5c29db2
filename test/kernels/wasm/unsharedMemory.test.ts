/**
 * The WebAssembly backend over an unshared memory, as in a browser page without cross-origin isolation (any
 * plain static host): growing such a memory replaces its ArrayBuffer and detaches every view of the old one.
 * Scopes still give tensors scoped memory there (src/kernels/wasm/arena.ts): the first scope counts what it
 * asks for, later ones run in place in a memory grown beforehand, and a growth inside a scope re-points the
 * scope's tensors. References: the weights hash recorded before the redesign (the same kernels, the same sums,
 * so the same bits whatever memory holds the operands; on the kernels of that time, which that test pins)
 * and values computed without any scope (on the default algorithm, so the growth test's 16→16 layer runs on
 * Winograd).
 */
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { onRecordedKernels, RECORDED_WEIGHTS_HASH, weightsHash } from '../../_helpers/sameBits.js';

type Lib = typeof import('../../../src/index.js');
type Engine = typeof import('../../../src/kernels/engine.js');
type Runtime = typeof import('../../../src/kernels/wasm/runtime.js');
type WasmKernels = typeof import('../../../src/kernels/wasm/index.js');

let lib: Lib;
let engine: Engine;
let runtime: Runtime;
let wasmKernels: WasmKernels;

beforeAll(async () => {
  // what a page without cross-origin isolation says; the runtime reads it when it loads, so load a fresh copy
  (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated = false;
  vi.resetModules();
  lib = await import('../../../src/index.js');
  engine = await import('../../../src/kernels/engine.js');
  runtime = await import('../../../src/kernels/wasm/runtime.js');
  wasmKernels = await import('../../../src/kernels/wasm/index.js');
  engine.setCpuKernels('wasm');
});

describe('the wasm backend over an unshared memory (a page without cross-origin isolation)', () => {
  it('really is unshared: the memory is an ordinary ArrayBuffer', () => {
    expect(runtime.SHARED).toBe(false);
    expect(runtime.wasmMemory().buffer).toBeInstanceOf(ArrayBuffer);
  });

  it('a growth inside a scope re-points the scope’s tensors: values and gradients as without scopes', () => {
    const { Rng, Tensor, conv2d, relu, scope } = lib;
    const rng = new Rng(5);
    const small = () => Float32Array.from({ length: 2 * 3 * 8 * 8 }, () => rng.normal());
    const xv = small();
    const wv = Float32Array.from({ length: 4 * 3 * 3 * 3 }, () => rng.normal());
    // a big convolution whose scratch no earlier scope has needed: it must grow the memory mid-scope
    const bigX = Float32Array.from({ length: 8 * 16 * 96 * 96 }, () => rng.normal());
    const bigW = Float32Array.from({ length: 16 * 16 * 3 * 3 }, () => rng.normal());

    const smallConv = () => {
      const w = new Tensor(Float32Array.from(wv), [4, 3, 3, 3]).requiresGrad_(true);
      return { w, y: relu(conv2d(new Tensor(Float32Array.from(xv), [2, 3, 8, 8]), w, null, { padding: 1 })) };
    };
    const run = (scoped: boolean) => {
      const body = () => {
        const { w, y } = smallConv();
        const before = runtime.memoryBytes();
        const big = conv2d(new Tensor(bigX, [8, 16, 96, 96]), new Tensor(bigW, [16, 16, 3, 3]), null, { padding: 1 });
        const grew = runtime.memoryBytes() > before;
        const inPlace = runtime.heapOffsetOf(y.storage as Float32Array) >= 0;
        const loss = y.mul(y).sum();
        loss.backward();
        return { y: y.dataSync(), grad: w.grad!.dataSync(), big: big.sum().item(), grew, inPlace };
      };
      return scoped ? scope(body) : body();
    };
    scope(() => smallConv().y.sum().item()); // a first scope learns what the small part needs
    const scoped = run(true); // before the reference: that run would grow the memory outside any scope
    const reference = run(false);
    expect(scoped.inPlace).toBe(true);
    expect(scoped.grew).toBe(true);
    expect(scoped.y).toEqual(reference.y);
    expect(scoped.grad).toEqual(reference.grad);
    expect(scoped.big).toBe(reference.big);
  });
  it('trains with the same bits as shared memory; from the second step on, tensors live in scoped memory and the memory no longer grows', () => {
    const inPlace: boolean[] = [];
    const bytes: number[] = [];
    // the recorded hash is the kernels' of that time (direct convolutions, separate multiply and add)
    const result = onRecordedKernels(wasmKernels, () =>
      weightsHash(lib, true, (_s, logits) => {
        // the logits are a convolution's result: a view of the WebAssembly memory when scoped memory held them
        inPlace.push(runtime.heapOffsetOf(logits.storage as Float32Array) >= 0);
        bytes.push(runtime.memoryBytes());
      }),
    );
    expect(result.losses.every(Number.isFinite)).toBe(true);
    expect(result.hash).toBe(RECORDED_WEIGHTS_HASH);
    expect(inPlace).toEqual([false, true, true]);
    // the memory grew before step 2 (to what step 1 asked for), and not after
    expect(bytes[1]!).toBeGreaterThan(bytes[0]!);
    expect(bytes[2]).toBe(bytes[1]);
  });
});
