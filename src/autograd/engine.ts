/**
 * The tape: which tensor came from which op, and the reverse topological walk that turns an upstream
 * gradient into gradients of every leaf. Each op records itself with `record(...)` right where its forward
 * is computed, and hands over a closure that maps the output's gradient to the inputs' gradients
 * (the micrograd way: forward and backward side by side).
 */
import type { Tensor } from './tensor.js';

/** What an op leaves on its output so that backward can find its way back. */
export interface GradNode {
  readonly op: string;
  inputs: readonly Tensor[];
  /** Gradients for each input (null where an input needs none). Runs with grad recording off. */
  backward: ((grad: Tensor) => readonly (Tensor | null)[]) | null;
}

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Run `fn` without recording anything on the tape (inference, optimiser steps, backward itself). */
export function noGrad<T>(fn: () => T): T {
  const previous = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = previous;
  }
}

/** Attach a grad node to `out` when recording is on and some input needs a gradient. */
export function record(
  out: Tensor,
  op: string,
  inputs: readonly Tensor[],
  backward: (grad: Tensor) => readonly (Tensor | null)[],
): Tensor {
  if (!gradEnabled) return out;
  if (!inputs.some((t) => t.requiresGrad)) return out;
  out.requiresGrad = true;
  out.gradNode = { op, inputs, backward };
  return out;
}

/** Tensors reachable from `root` through grad nodes, in an order where each comes after its inputs. */
function topologicalOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  // Iterative DFS: a deep U-Net tape would overflow the call stack of a recursive walk.
  const stack: { t: Tensor; expanded: boolean }[] = [{ t: root, expanded: false }];
  while (stack.length > 0) {
    const top = stack.pop() as { t: Tensor; expanded: boolean };
    if (top.expanded) {
      order.push(top.t);
      continue;
    }
    if (visited.has(top.t)) continue;
    visited.add(top.t);
    stack.push({ t: top.t, expanded: true });
    const node = top.t.gradNode;
    if (node)
      for (const input of node.inputs)
        if (input.requiresGrad && !visited.has(input)) stack.push({ t: input, expanded: false });
  }
  return order;
}

export interface BackwardOptions {
  /** Keep the tape so that backward can run through it again (default false: the graph is freed). */
  retainGraph?: boolean;
}

/**
 * Reverse-mode differentiation from `root` with upstream gradient `seed` (same shape as root).
 * Leaves (tensors without a grad node) and tensors marked with `retainGrad()` accumulate into `.grad`.
 */
export function runBackward(root: Tensor, seed: Tensor, options: BackwardOptions = {}): void {
  const order = topologicalOrder(root);
  const grads = new Map<Tensor, Tensor>();
  grads.set(root, seed);
  noGrad(() => {
    for (let k = order.length - 1; k >= 0; k--) {
      const t = order[k] as Tensor;
      const g = grads.get(t);
      if (!g) continue;
      grads.delete(t); // free intermediate gradients as soon as they are consumed
      const node = t.gradNode;
      if (!node || t.retainsGrad) t.accumulateGrad(g);
      if (!node) continue;
      if (!node.backward) {
        throw new Error(
          `backward: the graph through op '${node.op}' was already freed by an earlier backward(). ` +
            `Call backward({ retainGraph: true }) the first time if you need to go through it twice, or recompute the forward pass.`,
        );
      }
      const inputGrads = node.backward(g);
      node.inputs.forEach((input, i) => {
        const gi = inputGrads[i];
        if (!gi || !input.requiresGrad) return;
        const previous = grads.get(input);
        grads.set(input, previous ? previous.add(gi) : gi);
      });
      if (!options.retainGraph) {
        node.backward = null;
        node.inputs = [];
      }
    }
  });
}
