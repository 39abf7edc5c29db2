/**
 * GPU device check + benchmark (runs on the lent GPU machine). The implementation lives in
 * src/kernels/gpu/deviceBench.ts so that `npm run build` (tsconfig.build.json, rootDir src) emits the
 * runnable dist/kernels/gpu/deviceBench.js that ../shared/gpu/pack.sh ships; this file is the tsx entry
 * for a machine that has Node and a GPU:
 *   npx tsx bench/gpu.device.ts [--reps 50] [--out DIR] [--allow-software]
 * See docs/gpu.md.
 */
import { main } from '../src/kernels/gpu/deviceBench.js';

const report = await main(process.argv.slice(2));
process.exitCode = report.errors.length === 0 && report.allChecksOk ? 0 : 1;
