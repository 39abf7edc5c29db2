/**
 * One training step, the same everywhere (the trainer, every experiment, the tutorial's loop): zero the
 * gradients, compute the loss, check it, back-propagate, update the weights — inside a scope
 * (src/kernels/engine.ts), so every tensor the step makes is released when it ends. On the WebAssembly
 * backend those tensors live in the kernels' own memory for the step: kernels read and write them in place
 * (no copies in and out, no garbage for the collector), which makes a ResUNet-lite step about 1.5× faster
 * than the same loop without a scope (docs/tutorial.md). What leaves the step are numbers: the loss, and
 * the `parts` the loss function reports. Parameters, their gradients and the optimiser's state persist.
 */
import type { Tensor } from '../autograd/tensor.js';
import { beginScope } from '../kernels/engine.js';

/** What a loss function hands back: the loss tensor, or the loss with named parts to report (numbers). */
export type StepLoss = Tensor | { loss: Tensor; parts?: Record<string, number> };

export interface StepResult {
  /** The loss of the step, as a number. */
  loss: number;
  /** The parts the loss function reported (e.g. { bce, size }). */
  parts?: Record<string, number>;
}

/** The optimiser as a step sees it (SGD, Adam). */
export interface StepOptimizer {
  zeroGrad(): void;
  step(): void;
}

/**
 * Runs one step. `lossFn` builds the loss (it may await, e.g. `await toHost(logits)` on a device);
 * a loss that is not finite stops the step before any weight changes, with `nonFinite(value)`'s error
 * (default: a message that says to lower the learning rate).
 */
export async function trainStep(
  optimizer: StepOptimizer,
  lossFn: () => StepLoss | Promise<StepLoss>,
  nonFinite: (value: number) => Error = (value) =>
    new Error(`trainStep: the loss became ${value}; lower the learning rate or check the data.`),
): Promise<StepResult> {
  const scope = beginScope();
  try {
    optimizer.zeroGrad();
    const out = await lossFn();
    const loss = 'loss' in out ? out.loss : out;
    const value = loss.item();
    if (!Number.isFinite(value)) throw nonFinite(value);
    loss.backward();
    optimizer.step();
    return 'loss' in out && out.parts !== undefined ? { loss: value, parts: out.parts } : { loss: value };
  } finally {
    scope.end();
  }
}
