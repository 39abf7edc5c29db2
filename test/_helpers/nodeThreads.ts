// What every Node entry point does (src/index.ts, the CLI), for every test file: register the host kernel
// backends ('wasm', and 'js' as its fallback) and install Node's worker threads for them.
import '../../src/kernels/wasm/index.js';
import '../../src/kernels/js/nodeThreads.js';
