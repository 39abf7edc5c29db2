/**
 * Custom ops: the public way to add a differentiable operation by giving its forward and backward.
 * The forward may run any TypeScript on the CPU (the size loss samples masks and computes distance
 * transforms); it receives detached inputs and returns plain tensors. Whatever it wants backward to see
 * goes into `ctx.save(...)`/`ctx.saved`.
 *
 * ```ts
 * const square = defineOp<{}>({
 *   name: 'square',
 *   forward: (ctx, [x]) => { ctx.save(x); return x.mul(x); },
 *   backward: (ctx, grad) => [grad.mul(ctx.saved[0]!).mul(2)],
 * });
 * const y = square([x], {});
 * ```
 */
import { isGradEnabled, noGrad, record } from './engine.js';
import { Tensor } from './tensor.js';

export interface OpContext {
  /** Tensors (or anything else) the backward needs. */
  save(...values: unknown[]): void;
  readonly saved: unknown[];
  /** Which inputs need a gradient (backward may return null for the others). */
  readonly needsGrad: readonly boolean[];
}

export interface OpDefinition<Attrs> {
  name: string;
  forward(ctx: OpContext, inputs: readonly Tensor[], attrs: Attrs): Tensor;
  backward(ctx: OpContext, grad: Tensor, attrs: Attrs): readonly (Tensor | null)[];
}

export type CustomOp<Attrs> = (inputs: readonly Tensor[], attrs: Attrs) => Tensor;

export function defineOp<Attrs>(definition: OpDefinition<Attrs>): CustomOp<Attrs> {
  const { name } = definition;
  return (inputs, attrs) => {
    inputs.forEach((t, i) => {
      if (!(t instanceof Tensor)) throw new Error(`${name}: input ${i} is not a Tensor (got ${typeof t}).`);
    });
    const saved: unknown[] = [];
    const ctx: OpContext = {
      save: (...values) => void saved.push(...values),
      saved,
      needsGrad: inputs.map((t) => isGradEnabled() && t.requiresGrad),
    };
    const out = noGrad(() =>
      definition.forward(
        ctx,
        inputs.map((t) => t.detach()),
        attrs,
      ),
    );
    if (!(out instanceof Tensor)) throw new Error(`${name}: forward must return a Tensor.`);
    const result = out.gradNode ? out.detach() : out;
    return record(result, name, inputs, (grad) => {
      const grads = definition.backward(ctx, grad, attrs);
      if (grads.length !== inputs.length) {
        throw new Error(
          `${name}: backward returned ${grads.length} gradients for ${inputs.length} inputs; return one per input (null where none).`,
        );
      }
      grads.forEach((g, i) => {
        const x = inputs[i] as Tensor;
        if (g && (g.shape.length !== x.shape.length || g.shape.some((d, k) => d !== x.shape[k]))) {
          throw new Error(
            `${name}: backward gradient ${i} has shape [${g.shape.join(', ')}] but input ${i} has shape [${x.shape.join(', ')}].`,
          );
        }
      });
      return grads;
    });
  };
}
