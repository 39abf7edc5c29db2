/**
 * Where a W1 training step's time goes on the WebAssembly kernels, per kernel name or (--by-shape) per
 * kernel name and input shapes: `npx tsx bench/profileW1.ts [--by-shape] [--steps N]`. Prints a table and
 * nothing else (the training bench writes the per-name profile into bench/results/training.json).
 */
import { profileW1 } from './training.bench.js';

const args = process.argv.slice(2);
const stepsAt = args.indexOf('--steps');
const steps = stepsAt >= 0 ? Number(args[stepsAt + 1]) : 5;
if (!Number.isInteger(steps) || steps < 1)
  throw new Error(`profileW1: --steps wants a whole number ≥ 1, got ${args[stepsAt + 1]}`);
profileW1(steps, args.includes('--by-shape'));
