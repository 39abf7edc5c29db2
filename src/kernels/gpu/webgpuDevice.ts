/**
 * Opening WebGPU in Node for GPU.js: the `webgpu` package (Dawn) provides `navigator.gpu`, which GPU.js
 * reads when it picks its backend and again when it acquires its device. We request the adapter
 * ourselves, inspect it, and refuse software adapters (llvmpipe/lavapipe, SwiftShader, WARP): a silent
 * fallback onto a CPU rasterizer would "work" at a fraction of the speed and hide a broken driver setup.
 * The vetted adapter is then handed to GPU.js through a `navigator.gpu` whose `requestAdapter()` returns
 * exactly it, so GPU.js runs on the adapter we checked.
 */

export interface AdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean;
}

interface MinimalAdapter {
  info?: Partial<AdapterInfo>;
  isFallbackAdapter?: boolean;
  limits?: Record<string, number>;
  requestAdapterInfo?: () => Promise<Partial<AdapterInfo>>;
}

interface MinimalGpu {
  requestAdapter(options?: Record<string, unknown>): Promise<MinimalAdapter | null>;
  getPreferredCanvasFormat?: () => string;
}

interface WebGpuModule {
  create(options: string[]): MinimalGpu;
  globals: Record<string, unknown>;
}

export interface OpenedAdapter {
  adapter: MinimalAdapter;
  info: AdapterInfo;
  /** Undo the `navigator` installed for GPU.js. */
  restoreNavigator(): void;
}

const SOFTWARE = /llvmpipe|lavapipe|softpipe|swiftshader|software|microsoft basic render|\bwarp\b/i;

/** Why an adapter is a software rasterizer, or null for a hardware adapter. */
export function softwareAdapterReason(info: AdapterInfo): string | null {
  if (info.isFallbackAdapter) return 'it reports isFallbackAdapter (a software fallback)';
  if (info.architecture.toLowerCase() === 'software') return "its architecture is 'software'";
  for (const field of [info.device, info.description, info.vendor] as const) {
    const m = SOFTWARE.exec(field);
    if (m) return `it identifies itself as '${m[0]}', a CPU rasterizer`;
  }
  return null;
}

export function describeAdapter(info: AdapterInfo): string {
  const parts = [
    info.description || info.device || '(no description)',
    info.vendor && `vendor ${info.vendor}`,
    info.architecture && `architecture ${info.architecture}`,
  ];
  return parts.filter(Boolean).join(', ');
}

function readInfo(adapter: MinimalAdapter, raw: Partial<AdapterInfo> | undefined): AdapterInfo {
  const s = (v: unknown) => (typeof v === 'string' ? v : '');
  return {
    vendor: s(raw?.vendor),
    architecture: s(raw?.architecture),
    device: s(raw?.device),
    description: s(raw?.description),
    isFallbackAdapter: raw?.isFallbackAdapter === true || adapter.isFallbackAdapter === true,
  };
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`gpu backend: ${what} did not answer within ${ms / 1000} s.`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

const NO_ADAPTER_HELP =
  "This machine has no usable GPU driver for WebGPU: Dawn needs a GPU's Vulkan driver and the Vulkan loader " +
  "(libvulkan1 on Debian and Ubuntu; VK_DRIVER_FILES can point the loader at the driver's ICD file). " +
  "Use the 'cpu' backend (SIZESEG_BACKEND=cpu, or leave --backend out) instead.";

/**
 * Load Dawn, request a high-performance adapter, refuse a software one (unless `allowSoftwareAdapter`,
 * an explicit opt-in for checking WGSL on a CPU-only machine), and install `navigator.gpu` for GPU.js.
 */
export async function openWebGpuAdapter(
  options: { allowSoftwareAdapter?: boolean; timeoutMs?: number } = {},
): Promise<OpenedAdapter> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  let mod: WebGpuModule;
  try {
    const specifier = 'webgpu'; // a variable: keeps Dawn's DOM-flavoured typings out of this program
    mod = (await import(specifier)) as WebGpuModule;
  } catch (e) {
    throw new Error(
      `gpu backend: cannot load the 'webgpu' package (Dawn bindings for Node): ${(e as Error).message}. ` +
        "It is an optional dependency of sizeseg: 'npm install webgpu@0.6.2' adds it (an install with --omit=optional leaves it out).",
    );
  }
  Object.assign(globalThis, mod.globals);
  const gpu = mod.create([]);
  const adapter = await withTimeout(
    gpu.requestAdapter({ powerPreference: 'high-performance' }),
    timeoutMs,
    'navigator.gpu.requestAdapter()',
  );
  if (!adapter) {
    throw new Error(`gpu backend: WebGPU found no adapter (requestAdapter() returned null). ${NO_ADAPTER_HELP}`);
  }
  const raw = adapter.info ?? (adapter.requestAdapterInfo ? await adapter.requestAdapterInfo() : undefined);
  const info = readInfo(adapter, raw);
  const reason = softwareAdapterReason(info);
  if (reason && !options.allowSoftwareAdapter) {
    throw new Error(
      `gpu backend: refusing the WebGPU adapter '${describeAdapter(info)}' because ${reason}, not a hardware GPU; ` +
        `the gpu backend never falls back silently to a software adapter. ${NO_ADAPTER_HELP}`,
    );
  }
  const vetted: MinimalGpu = {
    requestAdapter: async () => adapter,
    getPreferredCanvasFormat: () => gpu.getPreferredCanvasFormat?.() ?? 'bgra8unorm',
  };
  const g = globalThis as { navigator?: unknown };
  const previous = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
  Object.defineProperty(globalThis, 'navigator', {
    value: { gpu: vetted },
    configurable: true,
    writable: true,
    enumerable: true,
  });
  return {
    adapter,
    info,
    restoreNavigator: () => {
      if (previous) Object.defineProperty(globalThis, 'navigator', previous);
      else delete g.navigator;
    },
  };
}
