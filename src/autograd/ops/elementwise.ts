/**
 * Elementwise ops. Binary ops broadcast by NumPy rules; each op's derivative sits right under its forward.
 * Gradients of broadcast operands are summed back to the operand's shape (`sumToShape`).
 *
 * The kernels a network needs — relu, add of equal shapes, and on a device mul — go through the engine
 * ('Relu', 'ReluBackward', 'Add', 'AddRelu', 'Mul'), so every backend brings its own. The generic ops
 * (broadcasting, the other functions) are the loops below, on host tensors only, and device tensors say so.
 */
import { allocate, type TypedArray } from '../dtype.js';
import { record } from '../engine.js';
import { broadcastShapes, formatShape, shapesEqual } from '../shape.js';
import { Tensor, type TensorLike } from '../tensor.js';
import { expand, sumToShape } from './shape.js';
import { stableSigmoid, stableSoftplus } from '../scalarMath.js';
import { hasKernel, runKernel } from '../kernel.js';
import { sameBackend } from './transfer.js';

export { stableSigmoid, stableSoftplus };

type Binary = (x: number, y: number) => number;
type Unary = (x: number) => number;

/** Turn a number into a 0-d tensor of the partner's dtype. */
export function lift(value: TensorLike, like: Tensor): Tensor {
  if (value instanceof Tensor) return value;
  if (typeof value !== 'number') throw new Error(`expected a Tensor or a number, got ${typeof value}.`);
  const storage = allocate(like.dtype, 1);
  storage[0] = value;
  return new Tensor(storage, []);
}

function liftPair(op: string, a: TensorLike, b: TensorLike): [Tensor, Tensor] {
  if (!(a instanceof Tensor) && !(b instanceof Tensor))
    throw new Error(`${op}: at least one operand must be a Tensor.`);
  const ta = a instanceof Tensor ? a : lift(a, b as Tensor);
  const tb = b instanceof Tensor ? b : lift(b, ta);
  if (ta.dtype !== tb.dtype) {
    throw new Error(
      `${op}: dtype mismatch, ${ta.dtype} ${formatShape(ta.shape)} and ${tb.dtype} ${formatShape(tb.shape)}. ` +
        `Convert one operand, e.g. b.to('${ta.dtype}').`,
    );
  }
  return [ta, tb];
}

/**
 * A binary op on device operands: the backend's kernel, for equal shapes only (device backends do not
 * broadcast; the U-Net never needs it). `a`/`b` are the caller's arguments, to name a number operand.
 */
function deviceBinary(
  op: string,
  kernel: string,
  a: TensorLike,
  b: TensorLike,
  x: Tensor,
  y: Tensor,
  backward: (g: Tensor) => (Tensor | null)[],
): Tensor {
  // number operands first: they are lifted to host scalars, which would otherwise read as a host/device mix
  const numberOperand = !(a instanceof Tensor) || !(b instanceof Tensor);
  const backend = numberOperand ? (x.device ?? y.device)!.backend : sameBackend(op, [x, y]);
  if (numberOperand || !shapesEqual(x.shape, y.shape)) {
    throw new Error(
      `${op}: ${x} and ${y} on the '${backend}' backend: device kernels need operands of equal shape ` +
        `(no broadcasting, no number operands). Give both operands the full shape before uploading, or compute this on the host (await toHost(t)).`,
    );
  }
  const [out] = runKernel(kernel, [x, y]) as [Tensor];
  return record(out, op, [x, y], backward);
}

/** Ops without a device kernel: a clear error instead of reading a device tensor's (empty) storage. */
export function hostOnly(op: string, ...tensors: Tensor[]): void {
  const backend = sameBackend(op, tensors);
  if (backend !== 'cpu') {
    throw new Error(
      `${op}: the '${backend}' backend has no kernel for ${op} (it runs relu, add, mul, conv2d, batchNorm2d, upsampleNearest2x, concat on channels); bring the tensor to the host with await toHost(t).`,
    );
  }
}

/** Forward of a broadcasting binary op, with fast paths for the common layouts. */
export function binaryValues(op: string, a: Tensor, b: Tensor, f: Binary): Tensor {
  if (a.device || b.device) hostOnly(op, a, b);
  const shape = shapesEqual(a.shape, b.shape) ? a.shape : broadcastShapes(op, a.shape, b.shape);
  const n = shape.reduce((s, d) => s * d, 1);
  const out = allocate(a.dtype, n);
  if (b.size === 1 && a.size === n) {
    const x = a.values();
    const y = b.storage[b.offset] as number;
    for (let i = 0; i < n; i++) out[i] = f(x[i] as number, y);
  } else if (a.size === 1 && b.size === n) {
    const x = a.storage[a.offset] as number;
    const y = b.values();
    for (let i = 0; i < n; i++) out[i] = f(x, y[i] as number);
  } else {
    const x = (a.size === n ? a : expand(a, shape)).values();
    const y = (b.size === n ? b : expand(b, shape)).values();
    if (!arithmetic(op, x, y, out)) for (let i = 0; i < n; i++) out[i] = f(x[i] as number, y[i] as number);
  }
  return new Tensor(out, shape);
}

/**
 * Monomorphic loops for the four arithmetic ops on equal-length arrays: the U-Net's residual additions and
 * its gradients run through here, and a loop per op lets the JIT emit plain vector arithmetic instead of a
 * call through `f` per element.
 */
function arithmetic(op: string, x: TypedArray, y: TypedArray, out: TypedArray): boolean {
  const n = out.length;
  switch (op) {
    case 'add':
      for (let i = 0; i < n; i++) out[i] = (x[i] as number) + (y[i] as number);
      return true;
    case 'sub':
      for (let i = 0; i < n; i++) out[i] = (x[i] as number) - (y[i] as number);
      return true;
    case 'mul':
      for (let i = 0; i < n; i++) out[i] = (x[i] as number) * (y[i] as number);
      return true;
    case 'div':
      for (let i = 0; i < n; i++) out[i] = (x[i] as number) / (y[i] as number);
      return true;
    default:
      return false;
  }
}

export function unaryValues(a: Tensor, f: Unary, op = 'elementwise op'): Tensor {
  if (a.device) hostOnly(op, a);
  const x = a.values();
  const out = allocate(a.dtype, x.length);
  for (let i = 0; i < x.length; i++) out[i] = f(x[i] as number);
  return new Tensor(out, a.shape);
}

// ---- binary ops ----------------------------------------------------------------------------------

export function add(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = liftPair('add', a, b);
  if (x.device || y.device) return deviceBinary('add', 'Add', a, b, x, y, (g) => [g, g]);
  const out = shapesEqual(x.shape, y.shape)
    ? (runKernel('Add', [x, y])[0] as Tensor)
    : binaryValues('add', x, y, (p, q) => p + q);
  return record(out, 'add', [x, y], (g) => [sumToShape(g, x.shape), sumToShape(g, y.shape)]);
}

/**
 * relu(a + b) for tensors of one shape (a residual block's output): one pass where the backend has the
 * fused 'AddRelu' kernel, the composition elsewhere. The backward masks the gradient with the output
 * (a + b > 0 exactly where relu(a + b) > 0) and hands it to both inputs. Same values as relu(add(a, b)).
 */
export function addRelu(a: Tensor, b: Tensor): Tensor {
  if (a.dtype !== b.dtype || !shapesEqual(a.shape, b.shape) || !hasKernel('AddRelu', [a, b])) return relu(add(a, b));
  const [out] = runKernel('AddRelu', [a, b]) as [Tensor];
  return record(out, 'addRelu', [a, b], (g) => {
    const [masked] = runKernel('ReluBackward', [g, out]) as [Tensor];
    return [masked, masked];
  });
}

export function sub(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = liftPair('sub', a, b);
  const out = binaryValues('sub', x, y, (p, q) => p - q);
  return record(out, 'sub', [x, y], (g) => [sumToShape(g, x.shape), sumToShape(neg(g), y.shape)]);
}

export function mul(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = liftPair('mul', a, b);
  if (x.device || y.device) return deviceBinary('mul', 'Mul', a, b, x, y, (g) => [mul(g, y), mul(g, x)]);
  const out = binaryValues('mul', x, y, (p, q) => p * q);
  return record(out, 'mul', [x, y], (g) => [sumToShape(mul(g, y), x.shape), sumToShape(mul(g, x), y.shape)]);
}

export function div(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = liftPair('div', a, b);
  const out = binaryValues('div', x, y, (p, q) => p / q);
  return record(out, 'div', [x, y], (g) => [
    sumToShape(div(g, y), x.shape),
    sumToShape(neg(mul(g, div(out, y))), y.shape), // d(x/y)/dy = −x/y² = −out/y
  ]);
}

/** x^y. With a tensor exponent the gradient w.r.t. y is x^y·log x (defined for x > 0). */
export function pow(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = liftPair('pow', a, b);
  const out = binaryValues('pow', x, y, Math.pow);
  return record(out, 'pow', [x, y], (g) => [
    sumToShape(
      mul(
        g,
        mul(
          y,
          binaryValues('pow', x, y, (p, q) => p ** (q - 1)),
        ),
      ),
      x.shape,
    ),
    y.requiresGrad ? sumToShape(mul(g, mul(out, unaryValues(x, Math.log))), y.shape) : null,
  ]);
}

export function maximum(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = liftPair('maximum', a, b);
  const out = binaryValues('maximum', x, y, (p, q) => (p >= q ? p : q));
  return record(out, 'maximum', [x, y], (g) => {
    const pickX = binaryValues('maximum', x, y, (p, q) => (p >= q ? 1 : 0));
    return [sumToShape(mul(g, pickX), x.shape), sumToShape(mul(g, sub(1, pickX)), y.shape)];
  });
}

/** Select a where cond ≠ 0, else b (cond is not differentiated). */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = liftPair('where', a, b);
  if (cond.device || x.device || y.device) hostOnly('where', cond, x, y);
  const shape = broadcastShapes('where', broadcastShapes('where', cond.shape, x.shape), y.shape);
  const c = expand(cond, shape).values();
  const xv = expand(x, shape).values();
  const yv = expand(y, shape).values();
  const out = allocate(x.dtype, c.length);
  for (let i = 0; i < c.length; i++) out[i] = (c[i] as number) !== 0 ? (xv[i] as number) : (yv[i] as number);
  const result = new Tensor(out, shape);
  return record(result, 'where', [x, y], (g) => {
    const m = new Tensor(maskOf(c, x.dtype === 'float64'), shape);
    return [sumToShape(mul(g, m), x.shape), sumToShape(mul(g, sub(1, m)), y.shape)];
  });
}

function maskOf(c: TypedArray, f64: boolean): TypedArray {
  const m = f64 ? new Float64Array(c.length) : new Float32Array(c.length);
  for (let i = 0; i < c.length; i++) m[i] = (c[i] as number) !== 0 ? 1 : 0;
  return m;
}

// ---- unary ops -----------------------------------------------------------------------------------

export function neg(a: Tensor): Tensor {
  const out = unaryValues(a, (x) => -x, 'neg');
  return record(out, 'neg', [a], (g) => [neg(g)]);
}

export function exp(a: Tensor): Tensor {
  const out = unaryValues(a, Math.exp, 'exp');
  return record(out, 'exp', [a], (g) => [mul(g, out)]);
}

export function log(a: Tensor): Tensor {
  const out = unaryValues(a, Math.log, 'log');
  return record(out, 'log', [a], (g) => [div(g, a)]);
}

export function sqrt(a: Tensor): Tensor {
  const out = unaryValues(a, Math.sqrt, 'sqrt');
  return record(out, 'sqrt', [a], (g) => [div(g, mul(out, 2))]);
}

export function abs(a: Tensor): Tensor {
  const out = unaryValues(a, Math.abs, 'abs');
  return record(out, 'abs', [a], (g) => [mul(g, unaryValues(a, Math.sign))]);
}

export function sigmoid(a: Tensor): Tensor {
  const out = unaryValues(a, stableSigmoid, 'sigmoid');
  return record(out, 'sigmoid', [a], (g) => [
    mul(
      g,
      unaryValues(out, (s) => s * (1 - s)),
    ),
  ]);
}

export function relu(a: Tensor): Tensor {
  const [out] = runKernel('Relu', [a]) as [Tensor];
  // the gradient passes where the input was positive
  return record(out, 'relu', [a], (g) => [runKernel('ReluBackward', [g, a])[0] as Tensor]);
}

export function tanh(a: Tensor): Tensor {
  const out = unaryValues(a, Math.tanh, 'tanh');
  return record(out, 'tanh', [a], (g) => [
    mul(
      g,
      unaryValues(out, (t) => 1 - t * t),
    ),
  ]);
}

export function softplus(a: Tensor): Tensor {
  const out = unaryValues(a, stableSoftplus, 'softplus');
  return record(out, 'softplus', [a], (g) => [mul(g, unaryValues(a, stableSigmoid))]);
}

/** Clip to [min, max]; the gradient passes where the value was not clipped. */
export function clamp(a: Tensor, min = -Infinity, max = Infinity): Tensor {
  if (Number.isNaN(min) || Number.isNaN(max) || min > max) {
    throw new Error(`clamp: bounds must satisfy min ≤ max, got min=${min}, max=${max}.`);
  }
  const out = unaryValues(a, (x) => (x < min ? min : x > max ? max : x), 'clamp');
  return record(out, 'clamp', [a], (g) => [
    mul(
      g,
      unaryValues(a, (x) => (x >= min && x <= max ? 1 : 0)),
    ),
  ]);
}
