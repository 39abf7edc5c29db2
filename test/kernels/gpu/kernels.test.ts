/**
 * Every gpu kernel against float64 naive loops, run in GPU.js's cpu mode: the same kernel sources that
 * become WGSL in webgpu mode, executed as JavaScript (so this runs on every machine, GPU or not).
 */
import { FIXED_CONV_CASES, gpuKernelSuite, openTestBackend, randomConvCases, TEST_MODE } from './_suite.js';

gpuKernelSuite(
  `gpu kernels, GPU.js ${TEST_MODE} mode${TEST_MODE === 'cpu' ? " ('gpujs-cpu' emulation)" : ''}`,
  openTestBackend,
  [...FIXED_CONV_CASES, ...randomConvCases(2024, 8)],
);
