/**
 * `Module`: named parameters, buffers and sub-modules, train/eval mode, and state dicts — the PyTorch
 * shape that users already know. Parameters are leaf tensors with `requiresGrad`; buffers (batch-norm
 * running statistics) are tensors updated in place and saved with the weights.
 *
 * Backends: `model.to('gpu')` moves every parameter and buffer onto a device backend in place (the same
 * Tensor objects, so layers and names follow; build optimisers afterwards); `await model.toHost()` moves
 * them back. Reading device values is asynchronous, so a model on a device saves through
 * `await model.hostStateDict()` (`stateDict()` returns the device tensors themselves).
 */
import { Tensor } from '../autograd/tensor.js';
import { formatShape } from '../autograd/shape.js';
import { type Backend, backendInstance } from '../backend.js';

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

  /** Parameters and buffers, once each (a tensor registered under two names moves once). */
  private stateTensors(): Tensor[] {
    return [...new Set(this.stateDict().values())];
  }

  /**
   * Move every parameter and buffer onto `backend` (a name such as 'gpu', initialised with
   * `await setBackend('gpu')`, or a Backend instance), in place: the tensors keep their identity, names
   * and requiresGrad; gradients are dropped. Uploading is synchronous. Moving to 'cpu' is a read, which
   * is asynchronous: use `await model.toHost()`.
   */
  to(backend: string | Backend): this {
    const target =
      typeof backend === 'string'
        ? backend === 'cpu'
          ? null
          : backendInstance(backend)
        : backend.name === 'cpu'
          ? null
          : backend;
    const tensors = this.stateTensors();
    if (!target) {
      const onDevice = tensors.find((t) => t.device);
      if (onDevice)
        throw new Error(
          `Module.to('cpu'): ${onDevice.name ?? onDevice} lives on '${onDevice.backend}'; device reads are asynchronous, use await model.toHost().`,
        );
      return this;
    }
    // upload everything first, so that a failure (float64 weights, a tensor over the size limit) leaves the model as it was
    const moved = tensors.map((t) => {
      if (t.device && t.backend !== target.name)
        throw new Error(
          `Module.to('${target.name}'): ${t.name ?? t} lives on '${t.backend}'; bring the model to the host first (await model.toHost()).`,
        );
      return t.device ? null : target.upload(t);
    });
    tensors.forEach((t, i) => {
      const d = moved[i]?.device;
      if (d) t.relocate_({ device: d });
    });
    return this;
  }

  /** Move every parameter and buffer back into host storage, in place (the counterpart of `to`). */
  async toHost(): Promise<this> {
    const tensors = this.stateTensors().filter((t) => t.device);
    const values = await Promise.all(tensors.map((t) => t.device!.read()));
    tensors.forEach((t, i) => t.relocate_({ storage: values[i]! }));
    return this;
  }

  /** Where the parameters live: 'cpu', a device backend's name, or 'mixed'. */
  get backend(): string {
    const names = new Set(this.stateTensors().map((t) => t.backend));
    return names.size === 1 ? [...names][0]! : names.size === 0 ? 'cpu' : 'mixed';
  }

  /**
   * Like `stateDict()`, but with host values: device tensors are read back (copies, asynchronously), host
   * tensors are returned as they are. For checkpoints of a model on a device; the model stays where it is.
   */
  async hostStateDict(): Promise<StateDict> {
    const entries = [...this.stateDict()];
    const values = await Promise.all(entries.map(([, t]) => (t.device ? t.device.read() : null)));
    return new Map(
      entries.map(([name, t], i) => {
        const v = values[i];
        if (!v) return [name, t];
        const copy = new Tensor(v, t.shape);
        copy.name = t.name;
        return [name, copy];
      }),
    );
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
          (unexpected.length
            ? `; unexpected: ${unexpected.slice(0, 5).join(', ')}${unexpected.length > 5 ? ', …' : ''}`
            : '') +
          '. Build the model with the configuration stored in the checkpoint.',
      );
    }
    for (const [name, target] of own) {
      const src = state.get(name)!;
      if (src.shape.length !== target.shape.length || src.shape.some((d, i) => d !== target.shape[i])) {
        throw new Error(
          `loadStateDict: '${name}' has shape ${formatShape(src.shape)} in the checkpoint but ${formatShape(target.shape)} in the model.`,
        );
      }
      if (target.device) {
        // a device tensor gets a new version uploaded (synchronous), like an optimiser step
        target.device.assign(target.device.upload(Float32Array.from(src.values())));
      } else {
        target.storage.set(src.values(), target.offset);
      }
    }
  }
}
