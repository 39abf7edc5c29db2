/**
 * Turns on relaxed SIMD in Node 20, where V8 has it behind a flag (Node ≥ 22 has it by default): the
 * kernels' fused multiply-adds (multiplyAdd.ts) need it. Imported by the Node platform module
 * (nodeThreads.ts), so before any kernel is compiled or any worker starts; V8's flags are the process's,
 * so the workers see it too. The flag only admits an instruction set that is standard from WebAssembly 3.0
 * on; SIZESEG_FMA=off keeps the kernels off it (the flag then changes nothing sizeseg runs).
 */
import v8 from 'node:v8';

const major = Number(process.versions.node.split('.')[0]);
if (major < 22 && process.env['SIZESEG_FMA']?.trim() !== 'off') v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
