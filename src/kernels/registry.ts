/**
 * The kernel registry: (kernel name × backend) → implementation, in the spirit of tfjs-core's
 * `kernel_registry.ts`. Differentiable ops (src/autograd/ops/*) call `runKernel(name, inputs, attrs)`;
 * the backend of the inputs picks the implementation, so the same model code runs on every backend.
 *
 * A kernel takes contiguous tensors of one backend and returns new tensors of that backend. Kernels do
 * not record on the tape: the op that calls them does (forward and backward side by side).
 */
import type { Tensor } from '../autograd/tensor.js';

export type BackendName = 'cpu' | 'gpu';

export type KernelFunc = (inputs: readonly Tensor[], attrs: Readonly<Record<string, unknown>>) => Tensor[];

export interface KernelConfig {
  kernelName: string;
  backendName: BackendName;
  kernelFunc: KernelFunc;
}

const registry = new Map<string, KernelConfig>();
const key = (kernelName: string, backendName: string) => `${backendName}_${kernelName}`;

export function registerKernel(config: KernelConfig): void {
  const k = key(config.kernelName, config.backendName);
  if (registry.has(k)) throw new Error(`registerKernel: '${config.kernelName}' is already registered for backend '${config.backendName}'.`);
  registry.set(k, config);
}

export function getKernel(kernelName: string, backendName: string): KernelConfig | undefined {
  return registry.get(key(kernelName, backendName));
}

/** All registered kernels of a backend (for `sizeseg info` and tests). */
export function listKernels(backendName?: string): KernelConfig[] {
  return [...registry.values()].filter((c) => backendName === undefined || c.backendName === backendName);
}

/** Calls and milliseconds of one kernel name within a profile. */
export interface KernelTime {
  calls: number;
  ms: number;
}

let profile: Map<string, KernelTime> | null = null;
/** How many profiled kernel calls are running (a kernel that calls another is timed once, as the outer one). */
let profiledDepth = 0;

/**
 * Runs `fn` and returns, beside its result, the wall time spent in each kernel it ran through `runKernel`
 * (per kernel name, outermost calls only, so nothing is counted twice). What `fn` spends outside
 * kernels — autograd bookkeeping, ops that compute without the registry — is its total minus their sum.
 */
export function profileKernels<T>(fn: () => T): { result: T; kernels: Map<string, KernelTime> } {
  if (profile !== null) throw new Error('profileKernels: a profile is already running; profiles do not nest.');
  const kernels = new Map<string, KernelTime>();
  profile = kernels;
  try {
    return { result: fn(), kernels };
  } finally {
    profile = null;
  }
}

/** Run a kernel on the backend that holds the inputs; inputs must all live on the same backend. */
export function runKernel(kernelName: string, inputs: readonly Tensor[], attrs: Readonly<Record<string, unknown>> = {}): Tensor[] {
  const backend = inputs[0]?.backend ?? 'cpu';
  for (const t of inputs) {
    if (t.backend !== backend) {
      throw new Error(`${kernelName}: inputs live on different backends ('${backend}' and '${t.backend}'); upload host tensors with backendInstance('gpu').upload(t) or model.to('gpu'), or read device ones with await toHost(t).`);
    }
  }
  const config = getKernel(kernelName, backend);
  if (!config) {
    const where = listKernels().filter((c) => c.kernelName === kernelName).map((c) => c.backendName);
    throw new Error(
      `${kernelName}: no kernel registered for backend '${backend}'` +
        (where.length ? ` (available on: ${where.join(', ')}).` : '.') +
        ' Import the backend module that registers it, or run this op on another backend.',
    );
  }
  if (profile === null || profiledDepth > 0) return config.kernelFunc(inputs.map((t) => t.contiguous()), attrs);
  const into = profile;
  profiledDepth++;
  const t0 = performance.now();
  try {
    return config.kernelFunc(inputs.map((t) => t.contiguous()), attrs);
  } finally {
    profiledDepth--;
    const entry = into.get(kernelName) ?? { calls: 0, ms: 0 };
    entry.calls++;
    entry.ms += performance.now() - t0;
    into.set(kernelName, entry);
  }
}
