/**
 * Reductions over axes (sum, mean, max), with keepdim. The reduced axes are moved to the end so that each
 * output element reduces one contiguous block; backward broadcasts the gradient back over those axes.
 */
import { allocate } from '../dtype.js';
import { record } from '../engine.js';
import { normalizeAxes, sizeOf } from '../shape.js';
import { Tensor } from '../tensor.js';
import { div, mul } from './elementwise.js';
import { expand, permute, reshape } from './shape.js';

interface Plan {
  axes: number[];
  outShape: number[];
  keepShape: number[]; // output shape with reduced axes kept as size 1
  blocks: number; // number of output elements
  block: number; // elements reduced into each
}

function plan(op: string, t: Tensor, axesArg: number | readonly number[] | undefined, keepdim: boolean): Plan {
  if (t.device)
    throw new Error(
      `${op}: ${t} lives on the '${t.device.backend}' backend, which has no reduction kernels; reduce on the host (await toHost(t)).`,
    );
  const axes = normalizeAxes(op, axesArg, t.rank);
  const keepShape = t.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const outShape = keepdim ? keepShape : t.shape.filter((_, i) => !axes.includes(i));
  const block = sizeOf(axes.map((a) => t.shape[a] as number));
  return { axes, outShape, keepShape, blocks: sizeOf(outShape), block };
}

/** Values with reduced axes last, as one contiguous array of blocks. */
function blocksOf(t: Tensor, axes: number[]) {
  const kept = t.shape.map((_, i) => i).filter((i) => !axes.includes(i));
  return permute(t.detach(), [...kept, ...axes]).values();
}

export function sum(t: Tensor, axesArg?: number | readonly number[], keepdim = false): Tensor {
  const p = plan('sum', t, axesArg, keepdim);
  const v = blocksOf(t, p.axes);
  const out = allocate(t.dtype, p.blocks);
  for (let o = 0, k = 0; o < p.blocks; o++) {
    let s = 0;
    for (let j = 0; j < p.block; j++, k++) s += v[k] as number;
    out[o] = s;
  }
  const result = new Tensor(out, p.outShape);
  return record(result, 'sum', [t], (g) => [expand(reshape(g, p.keepShape), t.shape).contiguous()]);
}

export function mean(t: Tensor, axesArg?: number | readonly number[], keepdim = false): Tensor {
  const p = plan('mean', t, axesArg, keepdim);
  if (p.block === 0)
    throw new Error(`mean: reducing over an empty axis of shape [${t.shape.join(', ')}] is undefined.`);
  return div(sum(t, axesArg, keepdim), p.block);
}

/** Maximum; ties share the gradient equally (the subgradient that keeps gradcheck symmetric). */
export function max(t: Tensor, axesArg?: number | readonly number[], keepdim = false): Tensor {
  const p = plan('max', t, axesArg, keepdim);
  if (p.block === 0) throw new Error(`max: reducing over an empty axis of shape [${t.shape.join(', ')}] is undefined.`);
  const v = blocksOf(t, p.axes);
  const out = allocate(t.dtype, p.blocks);
  for (let o = 0, k = 0; o < p.blocks; o++) {
    let m = -Infinity;
    for (let j = 0; j < p.block; j++, k++) if ((v[k] as number) > m || Number.isNaN(v[k] as number)) m = v[k] as number;
    out[o] = m;
  }
  const result = new Tensor(out, p.outShape);
  return record(result, 'max', [t], (g) => {
    const best = expand(reshape(result.detach(), p.keepShape), t.shape).values();
    const x = t.values();
    const hit = allocate(t.dtype, x.length);
    for (let i = 0; i < x.length; i++) hit[i] = x[i] === best[i] ? 1 : 0;
    const hits = new Tensor(hit, t.shape);
    const counts = expand(sum(hits, p.axes, true), t.shape);
    return [div(mul(expand(reshape(g, p.keepShape), t.shape), hits), counts)];
  });
}
