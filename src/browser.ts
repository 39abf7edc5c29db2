/**
 * sizeseg in a web page: the public API of src/index.ts minus what needs Node (files, worker threads,
 * checkpoints on disk, the gpu backend's Node WebGPU binding).
 *
 * - Checkpoints as bytes (`encodeCheckpoint`, `decodeCheckpoint`; the files are the Node wrapper's job).
 * - Data: synthetic images, and MSD volumes from bytes (`decodeNiftiBytes` after the page gunzips them
 *   with `DecompressionStream`, then `slicesFromVolumes`).
 * - Nothing here touches a Node global when it loads; `tsconfig.browser.json` typechecks this file with
 *   `lib: DOM` and no Node types, so a Node-only import reachable from here fails `npm run typecheck`.
 * - The CPU kernels are the library's fastest ones: WebAssembly SIMD for float32 where the engine has it (on
 *   several threads only in a cross-origin isolated page), JavaScript otherwise (`cpuKernels()` says which).
 */
export * from './portable.js';
