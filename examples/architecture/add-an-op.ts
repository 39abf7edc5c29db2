// examples/architecture/add-an-op.ts — adding an op end to end: a kernel per backend, registered by name, and a
// differentiable op that reaches it only through the engine, its backward beside its forward.
import { defineOp, gradcheck, registerKernel, runKernel, tensor, type KernelInput, type Tensor } from '../../src/index.js';

// 1. The kernels. 'js' is the reference every host backend falls back to: a plain loop a student can hold next
//    to the maths. (A faster backend would register its own 'LeakyRelu' the same way, for its backendName.)
const leak = (x: KernelInput) => (x.dtype === 'float64' ? new Float64Array(x.values().length) : new Float32Array(x.values().length));
registerKernel({
  kernelName: 'LeakyRelu', backendName: 'js',
  kernelFunc: ([x], attrs) => {
    const v = x!.values(), y = leak(x!), slope = attrs.slope as number;
    for (let i = 0; i < v.length; i++) y[i] = v[i]! > 0 ? v[i]! : slope * v[i]!;
    return [{ values: y, shape: x!.shape }];
  },
});
registerKernel({
  kernelName: 'LeakyReluBackward', backendName: 'js',
  kernelFunc: ([dy, x], attrs) => {
    const g = dy!.values(), v = x!.values(), dx = leak(dy!), slope = attrs.slope as number;
    for (let i = 0; i < g.length; i++) dx[i] = v[i]! > 0 ? g[i]! : slope * g[i]!;
    return [{ values: dx, shape: dy!.shape }];
  },
});

// 2. The op: forward and backward side by side, each one kernel call through the engine.
const leakyReluOp = defineOp<{ slope: number }>({
  name: 'leakyRelu',
  forward: (ctx, [x], attrs) => {
    ctx.save(x);
    return runKernel('LeakyRelu', [x!], attrs)[0]!;
  },
  backward: (ctx, grad, attrs) => [runKernel('LeakyReluBackward', [grad, ctx.saved[0] as Tensor], attrs)[0]!],
});
export const leakyRelu = (x: Tensor, slope = 0.01) => leakyReluOp([x], { slope });

// 3. Check it: values by hand, and the gradient against float64 central finite differences.
const x = tensor([-2, -0.5, 0.5, 3], [4], { dtype: 'float64', requiresGrad: true });
console.log('leakyRelu([-2, -0.5, 0.5, 3], 0.1) =', Array.from(leakyRelu(x, 0.1).values()).join(', '));
const report = gradcheck((a) => leakyRelu(a!, 0.1).mul(a!).sum(), [x]);
console.log('gradcheck in float64:', report.ok);
