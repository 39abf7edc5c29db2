/**
 * Convolution benchmark (tinybench): GFLOP/s of the three passes (forward, input gradient, weight gradient)
 * for every distinct convolution shape of ResUNet-lite, batch 32 (bench/_resunet.ts), on the generated
 * WebAssembly SIMD kernels with 1 and 2 threads and on the JavaScript kernels with 2 threads, from medians
 * (the WebAssembly ones: the median of three rounds' medians, the rounds going over all shapes in turn);
 * plus the whole model's convolution time (each shape × its count in the model). The WebAssembly passes
 * run as in a training step: operands in a step arena (read in place), results written into new blocks
 * of it (src/kernels/wasm/arena.ts); the time includes the layout passes (padding, packing, transposes).
 *
 *   npm run bench -- conv          (or: npx tsx bench/conv.bench.ts; SIZESEG_BENCH_QUICK=1 for a smoke run)
 *
 * Targets (issue 10), for the WebAssembly kernels on 2 threads: forward ≥ 60 GFLOP/s for 16→16 3×3 at
 * 48×32; each pass ≥ 40 GFLOP/s for every shape (the stem's input gradient is measured, not judged: training
 * never computes it). 2-thread numbers need the second core free.
 * Each shape's WebAssembly results are also checked once against the JS kernels (max |Δ| / max |ref|).
 *
 * Beside them, the PyTorch CPU peer (bench/peers/torch_kernels.py, /usr/bin/python3 with Debian's
 * python3-torch; skipped with the reason where it cannot run) times the same passes on 2 threads — the aten
 * calls autograd makes in training — with glibc's allocator keeping freed memory (bench/peers/python.ts;
 * with its defaults the same pass varied 10–240 GFLOP/s between runs, page faults).
 */
import { Bench } from 'tinybench';
import {
  gflops,
  isMain,
  median,
  quickRun,
  r2,
  randF32,
  samples,
  startLoadProbe,
  uniformSource,
  runConditions,
} from './_util.js';
import { RESUNET_CONVS, convFlops, outSize, type ConvShape } from './_resunet.js';
import { conv2dBackwardInput, conv2dBackwardWeight, conv2dForward } from '../src/kernels/js/index.js';
import { getNumThreads, setNumThreads } from '../src/kernels/wasm/threads.js';
import type { Shape4 } from '../src/kernels/js/index.js';
import { conv2dBackwardInputWasm, conv2dBackwardWeightWasm, conv2dForwardWasm } from '../src/kernels/wasm/conv2d.js';
import {
  ARGS_BYTE,
  heapOffsetOf,
  kernelModule,
  newKernelModule,
  runItems,
  setArgs,
  wasmMemory,
  wasmSimdAvailable,
} from '../src/kernels/wasm/runtime.js';
import { f32, f32x4, i32, v128, type Expr } from '../src/kernels/wasm/emitter.js';
import { openStepArena, withStepArena, type StepArena } from '../src/kernels/engine.js';
import { relaxedSimdAvailable } from '../src/kernels/wasm/multiplyAdd.js';
import { allocate } from '../src/autograd/dtype.js';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KEEP_FREED_MEMORY, runPythonPeer } from './peers/python.js';

const TORCH_KERNELS = join(dirname(fileURLToPath(import.meta.url)), 'peers', 'torch_kernels.py');

type Pass = 'forward' | 'input grad' | 'weight grad';
const PASSES: Pass[] = ['forward', 'input grad', 'weight grad'];
interface Config {
  kernels: 'wasm' | 'js';
  threads: number;
}
const CONFIGS: Config[] = [
  { kernels: 'wasm', threads: 1 },
  { kernels: 'wasm', threads: 2 },
  { kernels: 'js', threads: 2 },
];
const label = (c: { kernels: string; threads: number }): string => `${c.kernels} ${c.threads}T`;
/** Rounds over all shapes for the WebAssembly passes (see run()). */
const ROUNDS = quickRun ? 1 : 3;

function medianOf(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 === 1 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
}

interface Prepared {
  c: ConvShape;
  xShape: Shape4;
  wShape: Shape4;
  outShape: Shape4;
  x: Float32Array;
  w: Float32Array;
  dy: Float32Array;
  opts: { stride: number; padding: number };
  flops: number;
}

function prepare(c: ConvShape, rng: () => number): Prepared {
  const { HO, WO } = outSize(c);
  return {
    c,
    xShape: [c.N, c.C, c.H, c.W],
    wShape: [c.O, c.C, c.k, c.k],
    outShape: [c.N, c.O, HO, WO],
    x: randF32(rng, c.N * c.C * c.H * c.W),
    w: randF32(rng, c.O * c.C * c.k * c.k),
    dy: randF32(rng, c.N * c.O * HO * WO),
    opts: { stride: c.s, padding: c.p },
    flops: convFlops(c),
  };
}

function passFn(d: Prepared, kernels: 'wasm' | 'js', pass: Pass): () => Float32Array {
  const { x, xShape, w, wShape, dy, outShape, opts } = d;
  if (kernels === 'wasm') {
    if (pass === 'forward') return () => conv2dForwardWasm(x, xShape, w, wShape, null, opts).out;
    if (pass === 'input grad') return () => conv2dBackwardInputWasm(dy, outShape, w, wShape, xShape, opts);
    return () => conv2dBackwardWeightWasm(dy, outShape, x, xShape, wShape, opts);
  }
  if (pass === 'forward') return () => conv2dForward(x, xShape, w, wShape, null, opts).out as Float32Array;
  if (pass === 'input grad') return () => conv2dBackwardInput(dy, outShape, w, wShape, xShape, opts) as Float32Array;
  return () => conv2dBackwardWeight(dy, outShape, x, xShape, wShape, opts) as Float32Array;
}

/**
 * The arithmetic ceiling of one core for the convolution tile, measured now: the micro-kernel's 8 f32x4
 * multiply-adds (16 output channels × 2 positions) from registers only, no loads, no loop-carried address
 * work, as a multiplication and an addition each or (`fused`) as relaxed SIMD's fused multiply-add. GFLOP/s of
 * the best of five 50 M-iteration runs.
 */
export function simdPeakGflops(fused = false): number {
  const m = newKernelModule();
  m.function('peak', [['n', 'i32']], (f, n) => {
    const acc = Array.from({ length: 8 }, (_, k) => f.local('v128', `acc${k}`));
    const w = Array.from({ length: 4 }, (_, k) => f.local('v128', `w${k}`));
    const xs = [f.local('v128', 'x0'), f.local('v128', 'x1')];
    const i = f.local('i32', 'i');
    // normal operands: denormal ones (e.g. read from memory holding small integers) take a slow path
    // in the multiplier and measured less than half the speed
    for (const v of [...w, ...xs]) f.set(v, f32x4.splat(f32.const(0.5)));
    f.forRange(i, 0, n!, 1, () => {
      for (let j = 0; j < 2; j++)
        for (let h = 0; h < 4; h++) {
          const a = acc[4 * j + h]!;
          f.set(a, fused ? f32x4.relaxed_madd(w[h]!, xs[j]!, a) : f32x4.add(a, f32x4.mul(w[h]!, xs[j]!)));
        }
    });
    let sum: Expr = acc[0]!;
    for (let k = 1; k < 8; k++) sum = f32x4.add(sum, acc[k]!);
    f.do(v128.store(i32.const(64), sum)); // keeps the loop alive (bytes 64.. are the argument block)
  });
  const peak = new WebAssembly.Instance(new WebAssembly.Module(m.bytes()), { env: { memory: wasmMemory() } }).exports
    .peak as (n: number) => void;
  const n = 5e7;
  let best = 0;
  for (let r = 0; r < 5; r++) {
    const t = performance.now();
    peak(n);
    best = Math.max(best, (64 * n) / ((performance.now() - t) * 1e6));
  }
  return r2(best);
}

/** Bytes per work item of the bandwidth probes (the head's input per image is 96 KiB). */
const BW_ITEM = 96 << 10;

/**
 * What memory allows a pass that streams a few megabytes, on 2 threads, measured now: GB/s of (a) writing
 * 3 MiB to memory not in cache (a fresh block of a 96 MiB region each time, as a step arena's results are)
 * and (b) reading 3 MiB that is in cache (summing the same block again). The head (16→1 1×1 at 48×32)
 * does 2 FLOPs per 4-byte value: its input gradient writes 3 MiB, its forward and weight gradient read
 * 3 MiB, so these bound it at 0.5 FLOP per byte of the bandwidth.
 */
function memoryBandwidth(): { cold_write_GBps_2T: number; cached_read_GBps_2T: number } {
  const m = newKernelModule();
  m.itemFunction('fill', (f, args, item) => {
    const p = f.local('i32', 'p'),
      end = f.local('i32', 'end'),
      z = f.local('v128', 'z');
    f.set(z, f32x4.splat(f32.const(0.5)));
    f.set(p, i32.add(i32.load(args, 0), i32.mul(item, i32.const(BW_ITEM))));
    f.set(end, i32.add(p, i32.const(BW_ITEM)));
    f.forRange(p, p, end, 64, () => {
      for (let k = 0; k < 4; k++) f.do(v128.store(p, z, 16 * k));
    });
  });
  m.itemFunction('sum', (f, args, item) => {
    const p = f.local('i32', 'p'),
      end = f.local('i32', 'end');
    const a = [0, 1, 2, 3].map((k) => f.local('v128', `a${k}`));
    f.set(p, i32.add(i32.load(args, 0), i32.mul(item, i32.const(BW_ITEM))));
    f.set(end, i32.add(p, i32.const(BW_ITEM)));
    f.forRange(p, p, end, 64, () => {
      for (let k = 0; k < 4; k++) f.set(a[k]!, f32x4.add(a[k]!, v128.load(p, 16 * k)));
    });
    // one store per item keeps the sums alive (into the item's own first bytes)
    f.do(v128.store(i32.sub(end, i32.const(BW_ITEM)), f32x4.add(f32x4.add(a[0]!, a[1]!), f32x4.add(a[2]!, a[3]!))));
  });
  const kernel = kernelModule('bench:bandwidth', () => m);
  const items = 32,
    bytes = items * BW_ITEM,
    blocks = 32;
  const saved = getNumThreads();
  setNumThreads(2);
  const arena = openStepArena();
  try {
    const region = allocate('float32', (blocks * bytes) / 4) as Float32Array;
    region.fill(1);
    const base = heapOffsetOf(region);
    const time = (fn: 'fill' | 'sum', at: (r: number) => number): number => {
      const t: number[] = [];
      for (let r = 0; r < 60; r++) {
        setArgs([at(r)]);
        const t0 = performance.now();
        runItems(kernel, fn, ARGS_BYTE, items, 2);
        t.push(performance.now() - t0);
      }
      return bytes / (medianOf(t) * 1e6);
    };
    return {
      cold_write_GBps_2T: r2(time('fill', (r) => base + ((r * 7) % blocks) * bytes)),
      cached_read_GBps_2T: r2(time('sum', () => base)),
    };
  } finally {
    arena.close();
    setNumThreads(saved);
  }
}

/** A copy of `a` in the open step arena. */
function inArena(a: Float32Array): Float32Array {
  const v = allocate('float32', a.length) as Float32Array;
  v.set(a);
  return v;
}

/** max |a − b| / max |b|. */
function relErr(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let d = 0,
    m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    m = Math.max(m, Math.abs(b[i]!));
  }
  return m === 0 ? d : d / m;
}

interface PassResult {
  name: string;
  shape: string;
  uses: string;
  pass: Pass;
  kernels: 'wasm' | 'js' | 'pytorch';
  threads: number;
  median_ms: number;
  gflops: number;
  target: string | null;
  meets_target: boolean | null;
  /** WebAssembly passes: the median of each round (median_ms is their median) */
  round_medians_ms?: number[];
}

/** The GFLOP/s target, judged on wasm 2T; none for the stem's input gradient, which training never runs (the images need no gradient). */
function targetFor(shape: ConvShape, pass: Pass, cfg: Config): number | null {
  if (cfg.kernels !== 'wasm' || cfg.threads !== 2) return null;
  if (pass === 'input grad' && shape.uses === 'stem') return null;
  return pass === 'forward' && shape.name === '16→16 3×3 48×32' ? 60 : 40;
}

export async function run(): Promise<Record<string, unknown>> {
  const saved = getNumThreads();
  const otherLoad = startLoadProbe();
  const rng = uniformSource(2024);
  const configs = wasmSimdAvailable() ? CONFIGS : CONFIGS.filter((c) => c.kernels === 'js');
  const results: PassResult[] = [];
  // touch the memory the arenas will use once, up front: in training the arena's pages are reused step
  // after step, so a first-touch page fault (the OS zeroing a fresh page) belongs to no measured pass
  if (wasmSimdAvailable()) withStepArena(() => void allocate('float32', 48 << 20));
  const check: Record<string, Record<Pass, number>> = {};
  try {
    const prepared = RESUNET_CONVS.map((shape) => prepare(shape, rng));
    if (wasmSimdAvailable()) {
      setNumThreads(2);
      for (const d of prepared) {
        const e = {} as Record<Pass, number>;
        for (const pass of PASSES)
          e[pass] = Number(relErr(passFn(d, 'wasm', pass)(), passFn(d, 'js', pass)()).toExponential(2));
        check[d.c.name] = e;
      }
    }
    // The WebAssembly passes are timed in ROUNDS rounds over all shapes, 5 samples per task and round, and
    // each is reported as the median of its round medians: a burst of other load on this shared machine
    // then lands on one round of a shape, not on all its samples (sequential runs of 15 samples put one
    // shape's 16→32 1×1 forward at 57 GFLOP/s in one run and 37 in the next).
    const roundMedians = new Map<string, number[]>();
    const jsMedians = new Map<string, number>();
    const key = (shape: string, cfg: Config, pass: Pass) => `${shape} | ${label(cfg)} | ${pass}`;
    for (let round = 0; round < ROUNDS; round++) {
      for (const d of prepared) {
        const shape = d.c;
        const wasmBench = new Bench({
          name: shape.name,
          iterations: samples(5),
          time: 0,
          warmupIterations: 2,
          warmupTime: 0,
          throws: true,
        });
        // JS runs cost 5–10× as much per sample: fewer of them, in the first round only
        const jsBench = new Bench({
          name: shape.name,
          iterations: samples(5),
          time: 0,
          warmupIterations: 1,
          warmupTime: 0,
          throws: true,
        });
        for (const cfg of configs) {
          for (const pass of PASSES) {
            if (cfg.kernels === 'js') {
              if (round > 0) continue;
              const fn = passFn(d, 'js', pass);
              jsBench.add(
                `${label(cfg)} | ${pass}`,
                () => {
                  fn();
                },
                { beforeAll: () => setNumThreads(cfg.threads) },
              );
              continue;
            }
            // as in a training step: x and dy live in a step arena (read in place) and every result is
            // written into a new block of it; the weights are ordinary arrays (parameters live outside)
            let arena: StepArena | null = null;
            let fn: () => Float32Array = () => new Float32Array(0);
            wasmBench.add(
              `${label(cfg)} | ${pass}`,
              () => {
                fn();
              },
              {
                beforeAll: () => {
                  setNumThreads(cfg.threads);
                  arena = openStepArena();
                  fn = passFn({ ...d, x: inArena(d.x), dy: inArena(d.dy) }, 'wasm', pass);
                },
                afterAll: () => arena?.close(),
              },
            );
          }
        }
        await wasmBench.run();
        if (round === 0) await jsBench.run();
        for (const cfg of configs) {
          for (const pass of PASSES) {
            if (cfg.kernels === 'js') {
              if (round === 0)
                jsMedians.set(
                  key(shape.name, cfg, pass),
                  median(jsBench.getTask(`${label(cfg)} | ${pass}`), 'bench/conv.bench.ts'),
                );
              continue;
            }
            const k = key(shape.name, cfg, pass);
            roundMedians.set(k, [
              ...(roundMedians.get(k) ?? []),
              median(wasmBench.getTask(`${label(cfg)} | ${pass}`), 'bench/conv.bench.ts'),
            ]);
          }
        }
      }
    }
    for (const d of prepared) {
      const shape = d.c;
      for (const cfg of configs) {
        for (const pass of PASSES) {
          const k = key(shape.name, cfg, pass);
          const ms = cfg.kernels === 'js' ? jsMedians.get(k)! : medianOf(roundMedians.get(k)!);
          const t = targetFor(shape, pass, cfg);
          const g = gflops(d.flops, ms);
          results.push({
            name: `${shape.name} · ${pass} · ${label(cfg)}`,
            shape: shape.name,
            uses: shape.uses,
            pass,
            kernels: cfg.kernels,
            threads: cfg.threads,
            median_ms: r2(ms),
            gflops: g,
            target: t === null ? null : `≥ ${t} GFLOP/s`,
            meets_target: t === null ? null : g >= t,
            ...(cfg.kernels === 'wasm' ? { round_medians_ms: roundMedians.get(k)!.map(r2) } : {}),
          });
        }
      }
    }

    // the PyTorch peer, all shapes in one process
    const torchRun = runPythonPeer(
      TORCH_KERNELS,
      ['--threads', '2', '--convs', JSON.stringify(RESUNET_CONVS)],
      KEEP_FREED_MEMORY,
    );
    const torchConvs = torchRun.ok ? (torchRun.json['convs'] as Record<string, Record<Pass, number>>) : null;
    const peerCfg = { kernels: 'pytorch', threads: 2 } as const;
    if (torchConvs !== null) {
      for (const shape of RESUNET_CONVS) {
        for (const pass of PASSES) {
          const g = torchConvs[shape.name]?.[pass];
          if (g === undefined) continue;
          results.push({
            name: `${shape.name} · ${pass} · pytorch 2T`,
            shape: shape.name,
            uses: shape.uses,
            pass,
            kernels: 'pytorch',
            threads: 2,
            median_ms: r2(convFlops(shape) / (g * 1e6)),
            gflops: g,
            target: null,
            meets_target: null,
          });
        }
      }
    } else {
      console.log(`PyTorch CPU peer not measured: ${torchRun.ok ? 'no convs in its output' : torchRun.reason}`);
    }
    const shown: { kernels: 'wasm' | 'js' | 'pytorch'; threads: number }[] =
      torchConvs === null ? configs : [...configs, peerCfg];
    const get = (shape: string, pass: Pass, cfg: { kernels: string; threads: number }) =>
      results.find(
        (r) => r.shape === shape && r.pass === pass && r.kernels === cfg.kernels && r.threads === cfg.threads,
      );
    const short: Record<Pass, string> = { forward: 'fwd', 'input grad': 'dx', 'weight grad': 'dw' };
    console.table(
      RESUNET_CONVS.map((s) => {
        const row: Record<string, string | number> = { shape: s.name };
        for (const pass of PASSES)
          for (const cfg of shown) row[`${short[pass]} ${label(cfg)}`] = get(s.name, pass, cfg)?.gflops ?? '';
        const judged = results.filter((r) => r.shape === s.name && r.meets_target !== null);
        row['targets'] =
          judged.length === 0
            ? ''
            : judged.every((r) => r.meets_target === true)
              ? 'ok'
              : `NO (${judged
                  .filter((r) => r.meets_target !== true)
                  .map((r) => short[r.pass])
                  .join(',')})`;
        return row;
      }),
    );
    const worst = Math.max(0, ...Object.values(check).flatMap((e) => Object.values(e)));
    if (wasmSimdAvailable())
      console.log(`wasm vs js, worst max |Δ| / max |ref| over shapes and passes: ${worst.toExponential(2)}`);
    console.log(
      '(GFLOP/s from medians; fwd = forward, dx = input gradient, dw = weight gradient; targets judged on wasm 2T)',
    );

    // the whole model: every shape × its count in one forward pass (training adds dx of all but the stem, and dw)
    const model = shown.map((cfg) => {
      const out: Record<string, string | number> = { kernels: label(cfg) };
      let fl = 0;
      for (const pass of PASSES) {
        let ms = 0,
          f = 0;
        for (const s of RESUNET_CONVS) {
          if (pass === 'input grad' && s.name === RESUNET_CONVS[0]!.name) continue;
          ms += s.count * get(s.name, pass, cfg)!.median_ms;
          f += s.count * convFlops(s);
        }
        out[`${short[pass]} ms`] = r2(ms);
        out[`${short[pass]} GFLOP/s`] = gflops(f, ms);
        fl += f;
      }
      const total = (out['fwd ms'] as number) + (out['dx ms'] as number) + (out['dw ms'] as number);
      out['train step convs ms'] = r2(total);
      out['GFLOP/s'] = gflops(fl, total);
      return out;
    });
    console.table(model);

    const peak = wasmSimdAvailable() ? simdPeakGflops() : null;
    const fmaPeak = wasmSimdAvailable() && relaxedSimdAvailable() ? simdPeakGflops(true) : null;
    if (peak !== null)
      console.log(`one core's ceiling for the tile's arithmetic (f32x4 mul + add from registers): ${peak} GFLOP/s`);
    if (fmaPeak !== null) console.log(`the same with fused multiply-adds (f32x4.relaxed_madd): ${fmaPeak} GFLOP/s`);
    const bandwidth = wasmSimdAvailable() ? memoryBandwidth() : null;
    const head = RESUNET_CONVS.find((c) => c.uses === 'head')!;
    const headBound =
      bandwidth === null
        ? null
        : {
            // 0.5 FLOP per byte: 2 FLOPs per 4-byte value streamed
            forward: r2(bandwidth.cached_read_GBps_2T / 2),
            'input grad': r2(bandwidth.cold_write_GBps_2T / 2),
            'weight grad': r2(bandwidth.cached_read_GBps_2T / 2),
          };
    if (bandwidth !== null && headBound !== null) {
      console.log(
        `memory on 2 threads, measured now: ${bandwidth.cold_write_GBps_2T} GB/s writing 3 MiB not in cache, ${bandwidth.cached_read_GBps_2T} GB/s reading 3 MiB in cache`,
      );
      console.log(
        `so the head (${head.name}, 2 FLOPs per 4-byte value) can do at most: forward ${headBound.forward}, input grad ${headBound['input grad']}, weight grad ${headBound['weight grad']} GFLOP/s; ` +
          `measured ${PASSES.map((p) => get(head.name, p, { kernels: 'wasm', threads: 2 })?.gflops).join(' / ')}`,
      );
    }
    const judged = results.filter((r) => r.meets_target !== null);
    const failing = judged.filter((r) => r.meets_target !== true).map((r) => `${r.shape} · ${r.pass}: ${r.gflops}`);
    const headline = results.find(
      (r) => r.shape === '16→16 3×3 48×32' && r.pass === 'forward' && r.kernels === 'wasm' && r.threads === 2,
    );
    return {
      ...runConditions(otherLoad()),
      batch: 32,
      targets: {
        forward_16x16_48x32_ge_60_on_2T: headline === undefined ? null : headline.meets_target,
        every_pass_every_shape_ge_40_on_2T: judged.length === 0 ? null : failing.length === 0,
        failing,
      },
      simd_peak_gflops_one_core: peak,
      simd_fma_peak_gflops_one_core: fmaPeak,
      memory_bandwidth: bandwidth,
      head_memory_bound_gflops_2T: headBound,
      pytorch_cpu: torchRun.ok
        ? {
            measured: true,
            torch: torchRun.json['torch'],
            threads: torchRun.json['threads'],
            env: KEEP_FREED_MEMORY,
            seconds: torchRun.seconds,
          }
        : { measured: false, reason: torchRun.reason },
      wasm_vs_js_max_rel_error: check,
      model_conv_time: model,
      passes: results,
    };
  } finally {
    setNumThreads(saved);
  }
}

if (isMain(import.meta.url)) await run();
