// Installs Node's worker threads for the CPU kernels in every test file, as the Node entry points do.
import '../../src/kernels/js/nodeThreads.js';
