/**
 * Registers the gpu backend's kernels (backendName 'gpu') in the kernel registry. Each kernel finds its
 * GPU context through its inputs (a gpu tensor's `device` is a GpuData that knows its context), so the
 * webgpu backend and the cpu-emulation backend used by tests can coexist.
 *
 * Kernel names, inputs, attrs and outputs: the table in src/kernels/kernelNames.ts.
 */
import { kernelBackend, registerKernelBackend } from '../engine.js';
import { getKernel, registerKernel } from '../registry.js';
import { onDevice, type KernelFunc, type KernelInput } from '../types.js';
import type { GpuContext } from './context.js';
import { beginScope, endScope, GpuData } from './deviceData.js';
import * as ops from './ops.js';
import * as src from './sources.js';

function dev(t: KernelInput | undefined, kernel: string, what: string): GpuData {
  if (!t) throw new Error(`${kernel}: missing input '${what}'.`);
  const d = t.device;
  if (!(d instanceof GpuData)) {
    throw new Error(
      `${kernel}: input '${what}' ${t} is not on the gpu backend; upload it with the gpu backend's upload(t) first.`,
    );
  }
  return d;
}

function ctxOf(d: GpuData): GpuContext {
  return d.owner as GpuContext;
}

function num(attrs: Readonly<Record<string, unknown>>, name: string, kernel: string, fallback?: number): number {
  const v = attrs[name] ?? fallback;
  if (typeof v !== 'number') throw new Error(`${kernel}: attribute '${name}' must be a number (got ${String(v)}).`);
  return v;
}

function shapeAttr(attrs: Readonly<Record<string, unknown>>, name: string, kernel: string): readonly number[] {
  const v = attrs[name];
  if (!Array.isArray(v) || v.some((d) => typeof d !== 'number'))
    throw new Error(`${kernel}: attribute '${name}' must be a shape (number[]).`);
  return v as number[];
}

function convAttrs(attrs: Readonly<Record<string, unknown>>, kernel: string): ops.ConvAttrs {
  return { stride: num(attrs, 'stride', kernel, 1), padding: num(attrs, 'padding', kernel, 0) };
}

const out = (d: GpuData, shape: readonly number[]) => onDevice(d, shape);

function bool(attrs: Readonly<Record<string, unknown>>, name: string, kernel: string): boolean {
  const v = attrs[name] ?? false;
  if (typeof v !== 'boolean') throw new Error(`${kernel}: attribute '${name}' must be a boolean (got ${String(v)}).`);
  return v;
}

/**
 * The optimisers' hyper-parameters as a device array. Every parameter of one step uses the same values,
 * so the last upload per context is reused: one small upload per optimiser step, not one per parameter.
 */
const lastHyperParams = new WeakMap<GpuContext, { key: string; data: GpuData }>();
function hyperParams(ctx: GpuContext, values: readonly number[]): GpuData {
  const key = values.join(',');
  const cached = lastHyperParams.get(ctx);
  if (cached?.key === key) return cached.data;
  // Adam's bias corrections change every step: the old values go (kernels queued with them keep them until
  // submitted); the cache outlives the scope (training step) that fills it.
  cached?.data.dispose();
  const data = ctx.upload(Float32Array.from(values)).persist();
  lastHyperParams.set(ctx, { key, data });
  return data;
}

/** Batch-norm backward in the forward's mode ('train': batch statistics; 'eval': running statistics). */
function batchNormBackward(mode: 'train' | 'eval'): KernelFunc {
  const k = mode === 'train' ? 'BatchNorm2DBackward' : 'BatchNorm2DEvalBackward';
  return (inputs) => {
    const [dy, x, gamma, mean, invStd] = inputs;
    const dyd = dev(dy, k, 'dy');
    const r = ops.batchNorm2dBackward(
      ctxOf(dyd),
      dyd,
      dev(x, k, 'x'),
      x!.shape,
      dev(gamma, k, 'gamma'),
      dev(mean, k, 'mean'),
      dev(invStd, k, 'invStd'),
      mode,
    );
    const C = x!.shape[1] as number;
    return [out(r.dx, x!.shape), out(r.dgamma, [C]), out(r.dbeta, [C])];
  };
}

const kernels: Record<string, KernelFunc> = {
  Conv2D: (inputs, attrs) => {
    const [x, w, b] = inputs;
    const xd = dev(x, 'Conv2D', 'x'),
      wd = dev(w, 'Conv2D', 'weight');
    const bd = b ? dev(b, 'Conv2D', 'bias') : null;
    const r = ops.conv2d(ctxOf(xd), xd, x!.shape, wd, w!.shape, bd, convAttrs(attrs, 'Conv2D'));
    return [out(r.out, r.shape)];
  },
  Conv2DBackpropInput: (inputs, attrs) => {
    const [dy, w] = inputs;
    const dyd = dev(dy, 'Conv2DBackpropInput', 'dy'),
      wd = dev(w, 'Conv2DBackpropInput', 'weight');
    const xShape = shapeAttr(attrs, 'xShape', 'Conv2DBackpropInput');
    return [
      out(
        ops.conv2dBackpropInput(
          ctxOf(dyd),
          dyd,
          dy!.shape,
          wd,
          w!.shape,
          xShape,
          convAttrs(attrs, 'Conv2DBackpropInput'),
        ),
        xShape,
      ),
    ];
  },
  Conv2DBackpropFilter: (inputs, attrs) => {
    const [dy, x] = inputs;
    const dyd = dev(dy, 'Conv2DBackpropFilter', 'dy'),
      xd = dev(x, 'Conv2DBackpropFilter', 'x');
    const wShape = shapeAttr(attrs, 'wShape', 'Conv2DBackpropFilter');
    return [
      out(
        ops.conv2dBackpropFilter(
          ctxOf(dyd),
          dyd,
          dy!.shape,
          xd,
          x!.shape,
          wShape,
          convAttrs(attrs, 'Conv2DBackpropFilter'),
        ),
        wShape,
      ),
    ];
  },
  Conv2DBackpropBias: (inputs) => {
    const [dy] = inputs;
    const dyd = dev(dy, 'Conv2DBackpropBias', 'dy');
    return [out(ops.conv2dBackpropBias(ctxOf(dyd), dyd, dy!.shape), [dy!.shape[1] as number])];
  },
  BatchNorm2D: (inputs, attrs) => {
    const [x, gamma, beta, rm, rv] = inputs;
    const k = 'BatchNorm2D';
    const xd = dev(x, k, 'x');
    const rmd = dev(rm, k, 'runningMean'),
      rvd = dev(rv, k, 'runningVar');
    const training = attrs.training;
    if (typeof training !== 'boolean') throw new Error(`${k}: attribute 'training' must be a boolean.`);
    const r = ops.batchNorm2d(ctxOf(xd), xd, x!.shape, dev(gamma, k, 'gamma'), dev(beta, k, 'beta'), rmd, rvd, {
      training,
      momentum: num(attrs, 'momentum', k, 0.1),
      eps: num(attrs, 'eps', k, 1e-5),
    });
    // in-place update of the running statistics (the running tensors' device values get a new version)
    if (r.runningMean) rmd.assign(r.runningMean);
    if (r.runningVar) rvd.assign(r.runningVar);
    const C = x!.shape[1] as number;
    return [out(r.out, x!.shape), out(r.mean, [C]), out(r.invStd, [C])];
  },
  BatchNorm2DBackward: batchNormBackward('train'),
  UpsampleNearest2x: (inputs) => {
    const [x] = inputs;
    const xd = dev(x, 'UpsampleNearest2x', 'x');
    const r = ops.upsampleNearest2x(ctxOf(xd), xd, x!.shape);
    return [out(r.out, r.shape)];
  },
  UpsampleNearest2xBackward: (inputs) => {
    const [dy] = inputs;
    const dyd = dev(dy, 'UpsampleNearest2xBackward', 'dy');
    const r = ops.upsampleNearest2xBackward(ctxOf(dyd), dyd, dy!.shape);
    return [out(r.out, r.shape)];
  },
  Relu: (inputs) => {
    const [x] = inputs;
    const xd = dev(x, 'Relu', 'x');
    return [out(ops.unary(ctxOf(xd), 'Relu', src.reluSource, xd, x!.shape), x!.shape)];
  },
  ReluBackward: (inputs) => {
    const [dy, x] = inputs;
    const dyd = dev(dy, 'ReluBackward', 'dy'),
      xd = dev(x, 'ReluBackward', 'x');
    return [
      out(ops.binary(ctxOf(dyd), 'ReluBackward', src.reluBackwardSource, dyd, dy!.shape, xd, x!.shape), dy!.shape),
    ];
  },
  Add: (inputs) => {
    const [a, b] = inputs;
    const ad = dev(a, 'Add', 'a'),
      bd = dev(b, 'Add', 'b');
    return [out(ops.binary(ctxOf(ad), 'Add', src.addSource, ad, a!.shape, bd, b!.shape), a!.shape)];
  },
  Mul: (inputs) => {
    const [a, b] = inputs;
    const ad = dev(a, 'Mul', 'a'),
      bd = dev(b, 'Mul', 'b');
    return [out(ops.binary(ctxOf(ad), 'Mul', src.mulSource, ad, a!.shape, bd, b!.shape), a!.shape)];
  },
  ConcatChannels: (inputs) => {
    const parts = inputs.map((t, j) => ({ data: dev(t, 'ConcatChannels', `x${j}`), shape: t.shape }));
    if (parts.length === 0) throw new Error('ConcatChannels: needs at least one input.');
    const r = ops.concatChannels(ctxOf(parts[0]!.data), parts);
    return [out(r.out, r.shape)];
  },
  SliceChannels: (inputs, attrs) => {
    const [x] = inputs;
    const xd = dev(x, 'SliceChannels', 'x');
    const r = ops.sliceChannels(
      ctxOf(xd),
      xd,
      x!.shape,
      num(attrs, 'start', 'SliceChannels'),
      num(attrs, 'channels', 'SliceChannels'),
    );
    return [out(r.out, r.shape)];
  },
  BatchNorm2DEvalBackward: batchNormBackward('eval'),
  AdamUpdate: (inputs, attrs) => {
    // groups of [w, grad, m, v]
    const k = 'AdamUpdate';
    for (let j = 0; j + 3 < inputs.length; j += 4) {
      const [w, g, m, v] = [inputs[j], inputs[j + 1], inputs[j + 2], inputs[j + 3]];
      const wd = dev(w, k, 'w'),
        md = dev(m, k, 'm'),
        vd = dev(v, k, 'v');
      const ctx = ctxOf(wd);
      const given = { ...attrs, oneMinusBeta1: 1 - num(attrs, 'beta1', k), oneMinusBeta2: 1 - num(attrs, 'beta2', k) };
      const hp = hyperParams(
        ctx,
        src.ADAM_HP.map((name) => num(given, name, k)),
      );
      const r = ops.adamUpdate(ctx, wd, dev(g, k, 'grad'), md, vd, hp, bool(attrs, 'decoupled', k));
      // in place, like batch norm's running statistics: the tensors get new device versions
      wd.assign(r.w);
      md.assign(r.m);
      vd.assign(r.v);
    }
    return [];
  },
  SgdUpdate: (inputs, attrs) => {
    const [w, g, v] = inputs;
    const k = 'SgdUpdate';
    const wd = dev(w, k, 'w');
    const vd = v ? dev(v, k, 'velocity') : null;
    const ctx = ctxOf(wd);
    const given = { momentum: 0, weightDecay: 0, ...attrs };
    const hp = hyperParams(
      ctx,
      src.SGD_HP.map((name) => num(given, name, k)),
    );
    const r = ops.sgdUpdate(ctx, wd, dev(g, k, 'grad'), vd, hp, bool(attrs, 'nesterov', k));
    wd.assign(r.w);
    if (vd && r.v) vd.assign(r.v);
    return [];
  },
};

export const GPU_KERNEL_NAMES = Object.freeze(Object.keys(kernels));

/** Register the gpu kernel backend and every gpu kernel (idempotent). */
export function registerGpuKernels(): void {
  if (!kernelBackend('gpu')) {
    registerKernelBackend({
      name: 'gpu',
      device: 'gpu',
      dtypes: ['float32'],
      fallback: null,
      priority: 0,
      unavailableReason: () => null,
      // scopes dispose the device values they made (src/kernels/gpu/deviceData.ts)
      beginScope,
      endScope,
      info: () => ({ kernels: 'gpu', what: 'GPU.js kernels on WebGPU (src/kernels/gpu), float32' }),
    });
  }
  for (const [kernelName, kernelFunc] of Object.entries(kernels)) {
    if (!getKernel(kernelName, 'gpu')) registerKernel({ kernelName, backendName: 'gpu', kernelFunc });
  }
}
