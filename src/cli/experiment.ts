/**
 * `npm run experiment -- NAME [--preset quick|paper|smoke] [--data SPEC] [--seeds N] [--out DIR] [--backend cpu|gpu] [--quiet]`
 * NAME: fig3 | fig5 (also writes Fig. 6) | fig6 (same run as fig5) | fig7 | beyond | control.
 * `fig7 --preset paper` (and its miniature `paper-smoke`) is the resumable paper-scale protocol of
 * src/experiments/fig7paper.ts; `--dry-run` lists its runs and estimates the time without training.
 * Outputs go to <out>/<NAME>-<preset>/ (JSON, CSV, SVG); see docs/results.md.
 * `--backend gpu` trains the networks on the device (docs/gpu.md); `SIZESEG_GPU_EMULATION=1` runs it in GPU.js's
 * CPU mode (tests, machines without a GPU).
 */
import '../kernels/wasm/nodeThreads.js'; // Node's worker threads for the WebAssembly kernels
import { parseArgs } from 'node:util';
import { backendFromEnv, backendInstance, disposeBackends, setBackend } from '../backend.js';
import '../kernels/wasm/index.js'; // the host kernel backends ('wasm', 'js')
import { registerGpuBackend } from '../kernels/gpu/index.js';
import { PRESETS, type ExperimentContext, type PresetName } from '../experiments/common.js';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { plotBeyond, runBeyond } from '../experiments/beyond.js';
import { runControl } from '../experiments/control.js';
import { runFig3 } from '../experiments/fig3.js';
import { plotFig5, runFig5 } from '../experiments/fig5.js';
import { plotFig7, runFig7 } from '../experiments/fig7.js';
import { FIG7_PROTOCOLS, fig7PaperViews, runFig7Paper, type Fig7ProtocolName } from '../experiments/fig7paper.js';
import { REMEDIES_PROTOCOLS, runRemedies, type RemediesProtocolName } from '../experiments/remedies.js';
import { remediesViews } from '../experiments/remediesReport.js';
import { runMechanism } from '../experiments/mechanism.js';
import { requireCachedDataset } from '../data/cache.js';
import { EXPERIMENT_SYNTHETIC_COUNT, syntheticNotes } from './experimentData.js';
import { Progress } from './progress.js';

const RUNNERS = {
  fig3: runFig3,
  fig5: runFig5,
  fig6: runFig5,
  fig7: runFig7,
  beyond: runBeyond,
  control: runControl,
} as const;
export const EXPERIMENT_USAGE =
  'usage: npm run experiment -- NAME [--preset quick|paper|smoke] [--data SPEC] [--seeds N] [--out DIR] [--backend cpu|gpu] [--quiet]\n' +
  `  NAME: ${Object.keys(RUNNERS).join(' | ')} | remedies | mechanism (fig6 is the same run as fig5; control: Fig. 7 with true vs shuffled size labels)\n` +
  '  --preset  quick (default; minutes on 2 cores, subsampled), paper (the full protocol, hours), smoke (seconds; tests);\n' +
  '            fig7 also takes paper-smoke (the paper protocol in miniature). fig7 --preset paper is resumable: run the\n' +
  '            same command again to continue after an interruption (see docs/results.md)\n' +
  '  --dry-run fig7 --preset paper|paper-smoke: list the runs and their state, estimate the time, train nothing\n' +
  "  remedies --preset paper|paper-smoke: size training remedies from fig7's pre-trained networks (issue 23; resumable, --dry-run);\n" +
  '            mechanism --preset paper|paper-smoke: where size training changes the masks, from the networks remedies left\n' +
  "  --data    msd (default): the real hippocampus slices as 'npx sizeseg data download msd-task04' caches them (once,\n" +
  '            about 27 MB); msd:DIR or prepared:DIR: a folder of them; synthetic: generated images (tests the code,\n' +
  `            not the method; --count N images, default ${EXPERIMENT_SYNTHETIC_COUNT}). The downloaded copy holds the same 6103 slices as the\n` +
  '            prepared folder the numbers in docs/results.md were computed on, with the same train/val/test splits\n' +
  '            (by slice for quick and smoke, by volume for the paper presets; src/data/task04Splits.ts).\n' +
  `  --count   images to generate with --data synthetic (default ${EXPERIMENT_SYNTHETIC_COUNT})\n` +
  "  --seeds   seeds per m for fig7 / beyond / control (default: the preset's)\n" +
  '  --out     root folder of the outputs (default runs)\n' +
  '  --backend where the networks train: cpu, or gpu (WebGPU; the losses stay on the host); default $SIZESEG_BACKEND or cpu\n' +
  '  --replot  redraw the SVGs of an earlier run from its JSON (fig5, fig7, beyond) without training; for fig7 --preset paper\n' +
  '            also its tables (fig7-paper-report.md)\n' +
  '  --help    this help; nothing runs, nothing is written\n' +
  'examples:\n' +
  '  npx sizeseg data download msd-task04 && npm run experiment -- fig7 --preset quick\n' +
  '  npm run experiment -- fig3 --preset smoke             # no data needed\n' +
  '  npm run experiment -- fig7 --preset smoke --data synthetic\n';

/** Redraw the figures of <out>/<experiment>-<preset>/ from its JSON. */
function replot(name: string, out: string, preset: string): string[] {
  if ((name === 'fig7' && preset in FIG7_PROTOCOLS) || name === 'remedies') {
    const dir = resolve(out, `${name}-${preset}`);
    const jsonPath = join(dir, `${name}-${preset}.json`);
    if (!existsSync(jsonPath)) throw new Error(`--replot: ${jsonPath} does not exist; run the experiment first.`);
    const summary = JSON.parse(readFileSync(jsonPath, 'utf8')) as never;
    return Object.entries(name === 'remedies' ? remediesViews(summary) : fig7PaperViews(summary)).map(
      ([file, text]) => {
        writeFileSync(join(dir, file), text);
        return join(dir, file);
      },
    );
  }
  const base = name === 'fig6' ? 'fig5' : name;
  const plots: Record<string, (s: never) => Record<string, string>> = {
    fig5: plotFig5,
    fig7: plotFig7,
    beyond: plotBeyond,
  };
  const plot = plots[base];
  if (!plot) throw new Error(`--replot: nothing to redraw for '${name}' (fig5, fig7, beyond).`);
  const dir = resolve(out, `${base}-${preset}`);
  const jsonPath = join(dir, `${base}.json`);
  if (!existsSync(jsonPath)) throw new Error(`--replot: ${jsonPath} does not exist; run the experiment first.`);
  const summary = JSON.parse(readFileSync(jsonPath, 'utf8')) as never;
  return Object.entries(plot(summary)).map(([file, svg]) => {
    writeFileSync(join(dir, file), svg);
    return join(dir, file);
  });
}

export async function experimentMain(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        preset: { type: 'string' },
        data: { type: 'string' },
        seeds: { type: 'string' },
        out: { type: 'string' },
        backend: { type: 'string' },
        quiet: { type: 'boolean' },
        replot: { type: 'boolean' },
        'dry-run': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        count: { type: 'string' },
      },
      allowPositionals: true,
    });
  } catch (e) {
    process.stderr.write(`experiment: ${(e as Error).message}\n${EXPERIMENT_USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help || positionals[0] === 'help') {
    process.stdout.write(EXPERIMENT_USAGE);
    return 0;
  }
  const name = positionals[0];
  const run = name !== undefined && name in RUNNERS ? RUNNERS[name as keyof typeof RUNNERS] : undefined;
  if (!run && name !== 'remedies' && name !== 'mechanism') {
    process.stderr.write(
      `experiment: ${name ? `unknown experiment '${name}'` : 'name an experiment'}.\n${EXPERIMENT_USAGE}`,
    );
    return 2;
  }
  const presetName = values.preset ?? 'quick';
  // fig7 --preset paper / paper-smoke: the resumable paper-scale protocol
  const fig7Protocol =
    name === 'fig7' && presetName in FIG7_PROTOCOLS ? FIG7_PROTOCOLS[presetName as Fig7ProtocolName] : undefined;
  const remediesProtocol =
    (name === 'remedies' || name === 'mechanism') && presetName in REMEDIES_PROTOCOLS
      ? REMEDIES_PROTOCOLS[presetName as RemediesProtocolName]
      : undefined;
  if ((name === 'remedies' || name === 'mechanism') && !remediesProtocol) {
    process.stderr.write(`experiment: ${name} takes --preset paper or paper-smoke, got '${presetName}'.\n`);
    return 2;
  }
  if (!(presetName in PRESETS) && !fig7Protocol && !remediesProtocol) {
    process.stderr.write(
      `experiment: unknown preset '${presetName}' (quick, paper or smoke${name === 'fig7' ? ', or paper-smoke' : ''}).\n`,
    );
    return 2;
  }
  if (values['dry-run'] && !fig7Protocol && !remediesProtocol) {
    process.stderr.write('experiment: --dry-run is for fig7 --preset paper or paper-smoke.\n');
    return 2;
  }
  let seeds: number | undefined;
  if (values.seeds !== undefined) {
    seeds = Number(values.seeds);
    if (!Number.isInteger(seeds) || seeds < 1) {
      process.stderr.write(`experiment: --seeds must be a positive integer, got '${values.seeds}'.\n`);
      return 2;
    }
  }
  let backend: string;
  try {
    backend = values.backend ?? backendFromEnv();
  } catch (e) {
    process.stderr.write(`experiment: ${(e as Error).message}\n`);
    return 2;
  }
  if (backend !== 'cpu' && backend !== 'gpu') {
    process.stderr.write(`experiment: --backend must be cpu or gpu, got '${backend}'.\n`);
    return 2;
  }
  let count: number | undefined;
  if (values.count !== undefined) {
    count = Number(values.count);
    if (!Number.isInteger(count) || count < 1 || count > 200_000) {
      process.stderr.write(
        `experiment: --count must be an integer from 1 to 200000 (images to generate with --data synthetic), got '${values.count}'.\n`,
      );
      return 2;
    }
  }
  if (values.replot) {
    for (const f of replot(name as string, values.out ?? 'runs', presetName)) process.stdout.write(`wrote ${f}\n`);
    return 0;
  }
  const dataSpec = values.data ?? 'msd';
  if (count !== undefined && dataSpec !== 'synthetic') {
    process.stderr.write(
      `experiment: --count is for --data synthetic (how many images to generate); the real data is used whole.\n`,
    );
    return 2;
  }
  // the downloaded copy is the default: without it, say how to get it before anything starts (fig3 needs no data)
  if (dataSpec === 'msd' && name !== 'fig3') {
    try {
      requireCachedDataset('msd-task04');
    } catch (e) {
      process.stderr.write(
        `experiment: ${(e as Error).message.replace(/\.$/, '')}, or --data synthetic to try the code on generated images.\n`,
      );
      return 1;
    }
  }
  const progress = new Progress({ quiet: values.quiet ?? false, stream: process.stdout });
  if (backend === 'gpu') {
    registerGpuBackend();
    try {
      await setBackend('gpu');
    } catch (e) {
      process.stderr.write(`experiment: --backend gpu: ${(e as Error).message}\n`);
      return 1;
    }
    const info = backendInstance('gpu').info();
    progress.line(
      `backend: gpu — ${String(info.mode)}${info.adapter ? `, ${JSON.stringify(info.adapter)}` : ''}; the networks run on the device, the losses on the host`,
    );
  }
  // the paper-scale fig7 reads its own protocol, not the preset (paper-smoke has none: smoke stands in)
  let preset = PRESETS[(presetName in PRESETS ? presetName : 'smoke') as PresetName];
  let protocol = fig7Protocol;
  const synthetic = dataSpec === 'synthetic';
  const generated = count ?? EXPERIMENT_SYNTHETIC_COUNT;
  if (synthetic) {
    // the presets' notes describe the real slices: say what synthetic means here (experimentData.ts)
    const ms = name === 'fig7' ? preset.fig7.ms : name === 'beyond' ? preset.beyond.ms : [];
    preset = {
      ...preset,
      notes: syntheticNotes(
        preset.notes,
        generated,
        { train: preset.trainPool, val: preset.valCount, test: preset.testCount },
        ms,
      ),
    };
    if (protocol)
      protocol = { ...protocol, notes: syntheticNotes(protocol.notes, generated, protocol.pools, protocol.ms) };
  }
  const ctx: ExperimentContext = {
    preset,
    dataSpec,
    out: values.out ?? 'runs',
    progress,
    backend,
    ...(seeds !== undefined ? { seeds } : {}),
    ...(synthetic ? { syntheticCount: generated } : {}),
  };
  const result =
    name === 'mechanism'
      ? await runMechanism(ctx, remediesProtocol!)
      : remediesProtocol
        ? await runRemedies(ctx, remediesProtocol, { dryRun: values['dry-run'] ?? false })
        : protocol
          ? await runFig7Paper(ctx, protocol, { dryRun: values['dry-run'] ?? false })
          : await run!(ctx);
  ctx.progress.line(`results: ${result.dir}/`);
  return 0;
}

const isMain = process.argv[1] !== undefined && /experiment\.[cm]?[jt]s$/.test(process.argv[1]);
if (isMain) {
  experimentMain(process.argv.slice(2))
    .then(
      (code) => {
        process.exitCode = code;
      },
      (err: unknown) => {
        process.stderr.write(`experiment: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exitCode = 1;
      },
    )
    .finally(() => {
      // a WebGPU device keeps Node alive until it is destroyed (here, not in experimentMain, which tests call repeatedly)
      disposeBackends();
    });
}
