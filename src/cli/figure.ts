/** `npm run figure -- NAME [--out DIR] [--seed N]`: regenerates a figure from the code. */
import { parseArgs } from 'node:util';
import { fig3 } from './figures/fig3.js';

const FIGURES: Record<string, (outDir: string, opts: { seed?: number }) => Promise<string[]>> = { fig3 };

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({ options: { out: { type: 'string' }, seed: { type: 'string' } }, allowPositionals: true });
  const name = positionals[0];
  const make = name ? FIGURES[name] : undefined;
  if (!make) {
    process.stderr.write(`figure: ${name ? `unknown figure '${name}'` : 'name a figure'}; available: ${Object.keys(FIGURES).join(', ')} (e.g. npm run figure -- fig3).\n`);
    return 2;
  }
  const seed = values.seed === undefined ? undefined : Number(values.seed);
  if (seed !== undefined && !Number.isInteger(seed)) {
    process.stderr.write(`figure: --seed must be an integer, got '${values.seed}'.\n`);
    return 2;
  }
  const files = await make(values.out ?? 'docs/figures', seed === undefined ? {} : { seed });
  for (const f of files) console.log(`wrote ${f}`);
  return 0;
}

process.exitCode = await main();
