/**
 * 2-D convolution, NCHW (cross-correlation, as in every deep-learning library): forward and its three
 * gradients, each a registered kernel ('Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter',
 * 'Conv2DBackpropBias') so that each backend brings its own implementation.
 */
import { isGradEnabled, record } from '../engine.js';
import { relu } from './elementwise.js';
import { formatShape } from '../shape.js';
import { Tensor } from '../tensor.js';
import { hasKernel, runKernel } from '../kernel.js';
import { sameBackend } from './transfer.js';

export interface Conv2dOptions {
  stride?: number;
  padding?: number;
  /**
   * Apply a ReLU to the result. While no gradient is recorded (inference), a backend with the fused
   * 'Conv2DRelu' kernel does it in the convolution's own pass; otherwise it is relu(conv2d(…)).
   */
  relu?: boolean;
}

export function conv2dOutputSize(size: number, kernel: number, stride: number, padding: number): number {
  return Math.floor((size + 2 * padding - kernel) / stride) + 1;
}

export function conv2d(x: Tensor, weight: Tensor, bias?: Tensor | null, options: Conv2dOptions = {}): Tensor {
  if (bias != null && !(bias instanceof Tensor)) {
    // conv2d(x, w, { padding: 1 }) from a caller used to PyTorch's keywords: say where the options go
    throw new Error(
      'conv2d: the third argument is the bias (a Tensor, or null for none); pass the options fourth, e.g. conv2d(x, weight, null, { padding: 1 }).',
    );
  }
  const stride = options.stride ?? 1;
  const padding = options.padding ?? 0;
  const where = `conv2d(x ${formatShape(x.shape)}, weight ${formatShape(weight.shape)}${bias ? `, bias ${formatShape(bias.shape)}` : ''})`;
  if (x.rank !== 4)
    throw new Error(`${where}: x must be NCHW (rank 4); add batch/channel axes, e.g. x.reshape(1, 1, H, W).`);
  if (weight.rank !== 4) throw new Error(`${where}: weight must be [outChannels, inChannels, kH, kW].`);
  if (weight.shape[1] !== x.shape[1])
    throw new Error(`${where}: x has ${x.shape[1]} channels but the weight expects ${weight.shape[1]}.`);
  if (bias && (bias.rank !== 1 || bias.shape[0] !== weight.shape[0]))
    throw new Error(`${where}: bias must have shape [${weight.shape[0]}].`);
  if (!Number.isInteger(stride) || stride < 1 || !Number.isInteger(padding) || padding < 0) {
    throw new Error(
      `${where}: stride must be a positive integer and padding a non-negative integer (got stride ${stride}, padding ${padding}).`,
    );
  }
  if (x.dtype !== weight.dtype || (bias && bias.dtype !== x.dtype))
    throw new Error(`${where}: dtypes differ; convert with .to('${x.dtype}').`);
  const ho = conv2dOutputSize(x.shape[2] as number, weight.shape[2] as number, stride, padding);
  const wo = conv2dOutputSize(x.shape[3] as number, weight.shape[3] as number, stride, padding);
  if (ho < 1 || wo < 1)
    throw new Error(`${where}: the kernel is larger than the padded image; use more padding or a smaller kernel.`);
  const attrs = { stride, padding };
  const inputs = bias ? [x, weight, bias] : [x, weight];
  sameBackend(where, inputs);
  if (options.relu) {
    if (isGradEnabled() || !hasKernel('Conv2DRelu', inputs, attrs))
      return relu(conv2d(x, weight, bias, { stride, padding }));
    return runKernel('Conv2DRelu', inputs, attrs)[0] as Tensor;
  }
  const [out] = runKernel('Conv2D', inputs, attrs) as [Tensor];
  return record(out, 'conv2d', inputs, (g) => [
    x.requiresGrad ? (runKernel('Conv2DBackpropInput', [g, weight], { ...attrs, xShape: x.shape })[0] as Tensor) : null,
    weight.requiresGrad
      ? (runKernel('Conv2DBackpropFilter', [g, x], { ...attrs, wShape: weight.shape })[0] as Tensor)
      : null,
    ...(bias ? [bias.requiresGrad ? (runKernel('Conv2DBackpropBias', [g])[0] as Tensor) : null] : []),
  ]);
}
