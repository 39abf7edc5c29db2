/**
 * `sizeseg export --checkpoint FILE --onnx OUT.onnx [--size HxW]`: a trained network as an ONNX file for
 * onnxruntime (Python, C++, C#, the web). The graph is src/export/onnx.ts; this file reads the checkpoint,
 * collects its settings for the file's metadata and writes the file atomically.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { DEFAULT_ONNX_SIZE, ONNX_INPUT, ONNX_OPSET, ONNX_OUTPUT, exportOnnx } from '../export/onnx.js';
import { ResUNet } from '../models/resunet.js';
import { readCheckpoint, type LoadedCheckpoint } from '../train/checkpoint.js';
import { writeFileAtomic } from '../train/files.js';
import type { Command } from './command.js';
import { type Options, UsageError } from './options.js';

export async function cmdExport(opts: Options): Promise<void> {
  const ckpt = opts.required('checkpoint', 'runs/<name>/best.ckpt');
  const out = opts.required('onnx', 'model.onnx');
  const { height, width } = sizeOption(opts.optionalString('size'));
  checkOutput(out, ckpt, opts.flag('overwrite'));
  const loaded = readCheckpoint(ckpt);
  const model = resunetOf(loaded, ckpt);
  const levels = model.config.widths.length,
    factor = 2 ** (levels - 1);
  if (height % factor !== 0 || width % factor !== 0) {
    const round = (v: number) => Math.max(factor, Math.round(v / factor) * factor);
    throw new UsageError(
      `--size ${height}x${width}: the network of ${ckpt} has ${levels} levels, so height and width must be multiples of ${factor}; pass the size it was trained on, e.g. --size ${round(height)}x${round(width)}.`,
    );
  }
  let bytes: Uint8Array;
  try {
    bytes = exportOnnx(model, { height, width, metadata: checkpointMetadata(loaded, ckpt) });
  } catch (err) {
    throw new Error(`checkpoint ${ckpt}: ${(err as Error).message.replace(/^exportOnnx: /, '')}`);
  }
  try {
    writeFileAtomic(out, bytes);
  } catch (err) {
    // files.ts names the run-folder flags in its advice; here the path is --onnx's
    throw new Error((err as Error).message.replace(/--out\/--name|--out/g, '--onnx'));
  }
  const { widths } = model.config;
  if (!opts.flag('quiet')) {
    process.stderr.write(
      `wrote ${out} (${(bytes.length / 1024).toFixed(0)} KiB, ONNX opset ${ONNX_OPSET}): ResUNet widths ${widths.join(',')} from ${ckpt}, ` +
        `input '${ONNX_INPUT}' float32 [N, 1, ${height}, ${width}], output '${ONNX_OUTPUT}' [N, 1, ${height}, ${width}]` +
        `${opts.optionalString('size') === undefined ? ' (--size HxW for another image size)' : ''}\n`,
    );
  }
}

/** `--size HxW` (e.g. 48x32), the input's fixed height and width; default 48×32, the size of sizeseg's data. */
function sizeOption(raw: string | undefined): { height: number; width: number } {
  if (raw === undefined) return { ...DEFAULT_ONNX_SIZE };
  const m = /^(\d+)[x×](\d+)$/.exec(raw.trim());
  const height = m ? Number(m[1]) : NaN,
    width = m ? Number(m[2]) : NaN;
  if (!(height >= 1 && width >= 1 && height <= 8192 && width <= 8192)) {
    throw new UsageError(
      `--size must be HEIGHTxWIDTH in pixels (each 1 to 8192), got '${raw}' (e.g. --size 48x32, the size sizeseg's data has).`,
    );
  }
  return { height, width };
}

/** The output must be a new file (or --overwrite) in an existing folder, and never the checkpoint itself. */
function checkOutput(out: string, ckpt: string, overwrite: boolean): void {
  if (resolve(out) === resolve(ckpt))
    throw new UsageError(
      `--onnx ${out} is the checkpoint itself; pass another file, e.g. --onnx ${join(dirname(out), 'model.onnx')}.`,
    );
  const folder = dirname(resolve(out));
  if (!existsSync(folder) || !statSync(folder).isDirectory())
    throw new UsageError(
      `--onnx ${out}: the folder ${dirname(out)} does not exist; create it or pass a path in an existing folder.`,
    );
  if (!existsSync(out)) return;
  if (statSync(out).isDirectory())
    throw new UsageError(`--onnx ${out} is a folder; pass a file name, e.g. --onnx ${join(out, 'model.onnx')}.`);
  if (!overwrite) throw new UsageError(`--onnx ${out} exists; pass --overwrite to replace it, or another file name.`);
}

/** The ResUNet a checkpoint describes, with its weights; anything else is one line naming the file and the fix. */
function resunetOf(loaded: LoadedCheckpoint, ckpt: string): ResUNet {
  const fix = 'export a best.ckpt or last.ckpt written by sizeseg pretrain, sizetrain or demo';
  const { widths, model: architecture } = loaded.header.config;
  if (architecture !== undefined && architecture !== 'ResUNet') {
    throw new Error(`checkpoint ${ckpt} holds a ${String(architecture)}, not a ResUNet; ${fix}.`);
  }
  if (!Array.isArray(widths) || widths.length === 0 || widths.some((w) => !Number.isInteger(w) || (w as number) < 1)) {
    throw new Error(`checkpoint ${ckpt} does not describe a ResUNet (its config has no list of widths); ${fix}.`);
  }
  const model = new ResUNet({ widths: widths as number[] });
  try {
    model.loadStateDict(loaded.state);
  } catch (err) {
    const why = (err as Error).message
      .replace(/^loadStateDict: /, '')
      .replace(/\. Build the model with .*$/, '')
      .replace(/\.$/, '');
    throw new Error(`checkpoint ${ckpt} does not hold a ResUNet of widths ${widths.join(',')} (${why}); ${fix}.`);
  }
  return model;
}

/**
 * metadata_props from the checkpoint: its header as recorded (configuration, phase, epoch, validation
 * metrics, seed and starting checkpoint; a last.ckpt's copy of the run's settings) without the resumable
 * training state, and the run's settings (data, m, learning rate, …) from the config.json of the run folder
 * the checkpoint sits in, when that folder's run has the checkpoint's widths.
 */
function checkpointMetadata(loaded: LoadedCheckpoint, ckpt: string): Record<string, string> {
  const { config, phase, epoch, metrics, extra } = loaded.header;
  const { trainState: _state, ...settings } = extra ?? {};
  const meta: Record<string, string> = {
    'sizeseg.checkpoint': JSON.stringify({ file: basename(ckpt), config, phase, epoch, metrics, extra: settings }),
  };
  const runConfig = join(dirname(ckpt), 'config.json');
  if (existsSync(runConfig)) {
    try {
      const run = JSON.parse(readFileSync(runConfig, 'utf8')) as Record<string, unknown>;
      if (JSON.stringify(run['widths']) === JSON.stringify(config['widths']))
        meta['sizeseg.run_config'] = JSON.stringify(run);
    } catch {
      // not a run folder's settings: the checkpoint's own record stands alone
    }
  }
  return meta;
}

export const exportCommand: Command = {
  name: 'export',
  summary: '--checkpoint as an ONNX file for onnxruntime (Python, C++, C#, the web)',
  usage: ['export --checkpoint FILE --onnx OUT.onnx [options]'],
  about: [
    `Writes the checkpoint's network as an ONNX file (opset ${ONNX_OPSET}) with batch norm folded into the convolutions: input '${ONNX_INPUT}' float32 [N, 1, H, W] (any batch size N), output '${ONNX_OUTPUT}' [N, 1, H, W] (foreground where the logit is > 0), with the sizeseg version and the checkpoint's data and training settings as metadata. docs/deploy.md runs it in onnxruntime.`,
  ],
  options: {
    checkpoint: ['FILE', 'the .ckpt to export (required), e.g. runs/<name>/best.ckpt'],
    onnx: ['FILE', 'the .onnx file to write (required); an existing file is refused without --overwrite'],
    size: [
      'HxW',
      `the input images' height and width, as trained (default ${DEFAULT_ONNX_SIZE.height}x${DEFAULT_ONNX_SIZE.width}, the size of sizeseg's data)`,
    ],
    overwrite: ['', 'replace an existing --onnx file'],
    quiet: ['', 'no message on stderr'],
  },
  flagTypes: { onnx: 'string', size: 'string' },
  examples: [
    'export --checkpoint runs/demo/best.ckpt --onnx demo.onnx',
    'export --checkpoint runs/demo/best.ckpt --onnx demo-64x64.onnx --size 64x64',
  ],
  run: (opts) => cmdExport(opts),
};
