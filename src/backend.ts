/**
 * Backend selection. 'cpu' (WebAssembly SIMD and hand-written TypeScript kernels, always there) and 'gpu' (GPU.js kernels on
 * WebGPU, registered by src/kernels/gpu when a real adapter is found). `SIZESEG_BACKEND` picks the
 * initial backend for the CLI; `setBackend` is async because opening a GPU adapter is.
 * There is never a silent fallback: asking for 'gpu' without a hardware adapter is an error.
 */
import type { Tensor } from './autograd/tensor.js';

export interface Backend {
  readonly name: string;
  /** Open the device; throws with a clear message where there is none. */
  init(): Promise<void>;
  /** Copy a host tensor onto this backend. */
  upload(t: Tensor): Tensor;
  /** Adapter and configuration, for `sizeseg info`. */
  info(): Record<string, unknown>;
  dispose(): void;
}

const factories = new Map<string, () => Promise<Backend>>();
const ready = new Map<string, Backend>();
let current = 'cpu';

const cpuBackend: Backend = {
  name: 'cpu',
  init: async () => {},
  upload: (t) => t,
  info: () => ({
    backend: 'cpu',
    kernels:
      'WebAssembly SIMD generated per shape for float32 (JavaScript with SIZESEG_KERNELS=js, and for float64), worker threads',
  }),
  dispose: () => {},
};
ready.set('cpu', cpuBackend);

/** Make a backend known by name; its module is loaded only when it is selected. */
export function registerBackendFactory(name: string, factory: () => Promise<Backend>): void {
  factories.set(name, factory);
}

export async function setBackend(name: string): Promise<Backend> {
  let backend = ready.get(name);
  if (!backend) {
    const factory = factories.get(name);
    if (!factory) {
      throw new Error(
        `setBackend: unknown backend '${name}'; choose one of: ${['cpu', ...factories.keys()].join(', ')}.`,
      );
    }
    backend = await factory();
    await backend.init();
    ready.set(name, backend);
  }
  current = name;
  return backend;
}

export function getBackend(): string {
  return current;
}

export function backendInstance(name = current): Backend {
  const b = ready.get(name);
  if (!b) throw new Error(`backend '${name}' is not initialised; call await setBackend('${name}') first.`);
  return b;
}

/** The backend named by SIZESEG_BACKEND (or 'cpu'), validated. */
export function backendFromEnv(env: Readonly<Record<string, string | undefined>> = processEnv()): string {
  const name = (env.SIZESEG_BACKEND ?? 'cpu').trim() || 'cpu';
  if (name !== 'cpu' && name !== 'gpu')
    throw new Error(`SIZESEG_BACKEND='${name}' is not a backend; use 'cpu' or 'gpu'.`);
  return name;
}

/** `process.env` in Node, empty in a browser (where `process` does not exist). */
function processEnv(): Readonly<Record<string, string | undefined>> {
  return (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env ?? {};
}

/**
 * Dispose every opened device backend and forget it, so that a later `setBackend(name)` opens a fresh one
 * (instead of handing back a destroyed device). The current backend falls back to 'cpu'.
 */
export function disposeBackends(): void {
  for (const [name, b] of ready) {
    if (name === 'cpu') continue;
    b.dispose();
    ready.delete(name);
  }
  current = 'cpu';
}
