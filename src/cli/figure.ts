/** `npm run figure -- NAME [--out DIR] [--seed N]`: regenerates a figure from the code. */
import { parseArgs } from 'node:util';
import { fig3 } from './figures/fig3.js';

const FIGURES: Record<string, (outDir: string, opts: { seed?: number }) => Promise<string[]>> = { fig3 };

export const FIGURE_USAGE =
  'usage: npm run figure -- NAME [--out DIR] [--seed N]\n' +
  `  NAME: ${Object.keys(FIGURES).join(' | ')}\n` +
  "        fig3: the paper's Fig. 3 toy — on a 6×6 probability map, the exact derivatives of the expected size loss\n" +
  '        next to the mean of n = 1, 10, 100, 1000 sampled Lemma-1 derivatives; an SVG and the numbers as JSON\n' +
  '  --out   folder to write to (default docs/figures: the committed figure, which comes out byte for byte the same\n' +
  '          unless the code changed)\n' +
  "  --seed  seed of the sampled panels (default 3, the committed figure's)\n" +
  '  --help  this help; nothing is written\n' +
  'example: npm run figure -- fig3 --out runs/figures\n';

export async function figureMain(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { out: { type: 'string' }, seed: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
    });
  } catch (e) {
    process.stderr.write(
      `figure: ${(e as Error).message.replace(/\. To specify.*$/s, '')}; see npm run figure -- --help.\n`,
    );
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help || positionals[0] === 'help') {
    process.stdout.write(FIGURE_USAGE);
    return 0;
  }
  const name = positionals[0];
  const make = name ? FIGURES[name] : undefined;
  if (!make) {
    process.stderr.write(
      `figure: ${name ? `unknown figure '${name}'` : 'name a figure'}; available: ${Object.keys(FIGURES).join(', ')} (e.g. npm run figure -- fig3; --help for more).\n`,
    );
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

const isMain = process.argv[1] !== undefined && /figure\.[cm]?[jt]s$/.test(process.argv[1]);
if (isMain) {
  figureMain(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`figure: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
