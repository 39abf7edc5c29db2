/**
 * Names for the published declarations. A few of them (the CPU kernels' job descriptors) mention
 * `WebAssembly.Module` and `WebAssembly.Memory`, a namespace TypeScript declares only in its DOM lib; an
 * app type-checked for Node without DOM (and with skipLibCheck off) would stop at "Cannot find namespace
 * 'WebAssembly'". These empty interfaces give it the names. They merge with DOM's declarations (and with
 * src/types/webassembly.d.ts here) instead of clashing, and add no members.
 */
export {};

declare global {
  namespace WebAssembly {
    interface Module {}
    interface Memory {}
    interface Instance {}
  }
}
