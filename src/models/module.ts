/**
 * `Module`: named parameters, buffers and sub-modules, train/eval mode, and state dicts — the PyTorch
 * shape that users already know. Parameters are leaf tensors with `requiresGrad`; buffers (batch-norm
 * running statistics) are tensors updated in place and saved with the weights.
 */
import type { Tensor } from '../autograd/tensor.js';
import { formatShape } from '../autograd/shape.js';

export type StateDict = Map<string, Tensor>;

export abstract class Module {
  training = true;
  private readonly params = new Map<string, Tensor>();
  private readonly buffers = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();

  abstract forward(x: Tensor): Tensor;

  protected registerParameter(name: string, t: Tensor): Tensor {
    t.requiresGrad = true;
    t.name = name;
    this.params.set(name, t);
    return t;
  }

  protected registerBuffer(name: string, t: Tensor): Tensor {
    this.buffers.set(name, t);
    return t;
  }

  protected registerModule<M extends Module>(name: string, m: M): M {
    this.children.set(name, m);
    return m;
  }

  /** (name, parameter) pairs, recursively, with dotted names like `enc1.conv1.weight`. */
  *namedParameters(prefix = ''): Generator<[string, Tensor]> {
    for (const [n, p] of this.params) yield [prefix + n, p];
    for (const [n, m] of this.children) yield* m.namedParameters(`${prefix}${n}.`);
  }

  *namedBuffers(prefix = ''): Generator<[string, Tensor]> {
    for (const [n, b] of this.buffers) yield [prefix + n, b];
    for (const [n, m] of this.children) yield* m.namedBuffers(`${prefix}${n}.`);
  }

  parameters(): Tensor[] {
    return [...this.namedParameters()].map(([, p]) => p);
  }

  parameterCount(): number {
    return this.parameters().reduce((s, p) => s + p.size, 0);
  }

  train(mode = true): this {
    this.training = mode;
    for (const m of this.children.values()) m.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }

  /** Parameters and buffers by name (the tensors themselves, not copies). */
  stateDict(): StateDict {
    return new Map([...this.namedParameters(), ...this.namedBuffers()]);
  }

  /** Copy values in by name; every entry must exist with the same shape (strict, so mistakes are loud). */
  loadStateDict(state: ReadonlyMap<string, { shape: readonly number[]; values(): ArrayLike<number> } | Tensor>): void {
    const own = this.stateDict();
    const missing = [...own.keys()].filter((k) => !state.has(k));
    const unexpected = [...state.keys()].filter((k) => !own.has(k));
    if (missing.length || unexpected.length) {
      throw new Error(
        `loadStateDict: the checkpoint does not match this model` +
          (missing.length ? `; missing: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}` : '') +
          (unexpected.length ? `; unexpected: ${unexpected.slice(0, 5).join(', ')}${unexpected.length > 5 ? ', …' : ''}` : '') +
          '. Build the model with the configuration stored in the checkpoint.',
      );
    }
    for (const [name, target] of own) {
      const src = state.get(name)!;
      if (src.shape.length !== target.shape.length || src.shape.some((d, i) => d !== target.shape[i])) {
        throw new Error(`loadStateDict: '${name}' has shape ${formatShape(src.shape)} in the checkpoint but ${formatShape(target.shape)} in the model.`);
      }
      target.storage.set(src.values(), target.offset);
    }
  }
}
