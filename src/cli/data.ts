/**
 * `sizeseg data download NAME [--from URL|FILE] [--md5 HEX]`, `sizeseg data list`, `sizeseg data path NAME`:
 * the public datasets in the download cache (src/data/cache.ts, src/data/download.ts). Status and progress go
 * to stderr, results to stdout, so `$(npx sizeseg data path msd-task04)` works in scripts.
 */
import { dirname } from 'node:path';
import {
  DATASET_SOURCES,
  cacheRoot,
  cacheRootOrigin,
  datasetSource,
  formatBytes,
  listCache,
  requireCachedDataset,
} from '../data/cache.js';
import { downloadDataset, type DownloadPhase } from '../data/download.js';
import type { Command } from './command.js';
import { type Options, UsageError } from './options.js';
import { Progress, formatSeconds } from './progress.js';

const USAGE = "'sizeseg data' takes download NAME, list, or path NAME (e.g. sizeseg data download msd-task04)";

/** `SIZESEG_HTTP_TIMEOUT` (seconds without data before a download gives up), default 30. */
function timeoutMs(): number | undefined {
  const raw = process.env.SIZESEG_HTTP_TIMEOUT;
  if (raw === undefined || raw === '') return undefined;
  const seconds = Number(raw);
  if (!Number.isFinite(seconds) || seconds <= 0)
    throw new UsageError(`SIZESEG_HTTP_TIMEOUT must be a positive number of seconds, got '${raw}'.`);
  return seconds * 1000;
}

function datasetName(name: string | undefined, sub: string): string {
  if (name === undefined)
    throw new UsageError(`name a dataset: sizeseg data ${sub} ${Object.keys(DATASET_SOURCES).join('|')}.`);
  try {
    return datasetSource(name).name;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

const PHASE_LABEL: Record<DownloadPhase, string> = {
  download: 'downloading',
  verify: 'checking MD5',
  unpack: 'unpacking',
};

async function download(name: string, opts: Options): Promise<void> {
  const progress = new Progress({ quiet: opts.flag('quiet') });
  const source = datasetSource(name);
  let phase: DownloadPhase | undefined;
  let phaseStart = 0;
  let phaseBase = 0;
  let last = { done: 0, total: undefined as number | undefined };
  /** One summary line per finished phase, printed before the next status line. */
  const finishPhase = () => {
    if (phase === undefined) return;
    const seconds = (performance.now() - phaseStart) / 1000;
    const moved = last.done - phaseBase;
    const time = seconds < 60 ? `${seconds.toFixed(1)} s` : formatSeconds(seconds);
    progress.line(
      `${PHASE_LABEL[phase]}: ${formatBytes(last.done)} in ${time}${seconds > 0 ? ` (${formatBytes(moved / seconds)}/s)` : ''}`,
    );
    phase = undefined;
  };
  const from = opts.optionalString('from');
  const md5 = opts.optionalString('md5');
  const http = timeoutMs();
  const result = await downloadDataset(name, {
    ...(from !== undefined ? { from } : {}),
    ...(md5 !== undefined ? { md5 } : {}),
    ...(http !== undefined ? { http: { timeoutMs: http } } : {}),
    log: (line) => {
      finishPhase();
      progress.line(line);
    },
    onProgress: (p, done, total) => {
      if (p !== phase) {
        finishPhase();
        phase = p;
        phaseStart = performance.now();
        phaseBase = p === 'download' ? done : 0; // a resumed download's rate counts this run's bytes only
      }
      last = { done, total };
      const seconds = (performance.now() - phaseStart) / 1000;
      progress.transfer(PHASE_LABEL[p], done, total, seconds > 0 ? (done - phaseBase) / seconds : 0);
    },
  });
  if (result.action === 'cached') {
    console.log(
      `${name} is already in the cache (MD5 ${result.md5} verified): ${result.path}; nothing to do (delete ${dirname(result.path)} to fetch it again).`,
    );
    return;
  }
  finishPhase();
  console.log(`${name} is ready: ${result.path}`);
  console.log(`use it with --data ${source.spec}, e.g. npx sizeseg demo --data ${source.spec}`);
  console.log(`licence ${source.license}; please cite ${source.citation}.`);
}

function list(): void {
  const root = cacheRoot();
  console.log(`cache: ${root} (${cacheRootOrigin()})`);
  for (const e of listCache(root)) {
    const parts = [`${e.name.padEnd(12)}`];
    if (e.state === 'ready') parts.push(`ready    ${formatBytes(e.bytes).padStart(9)} in ${e.files} files  ${e.path}`);
    else if (e.state === 'partial') parts.push(`not unpacked yet (run sizeseg data download ${e.name})`);
    else parts.push(`not downloaded (sizeseg data download ${e.name})`);
    if (e.archiveBytes !== undefined)
      parts.push(`\n${''.padEnd(12)} archive  ${formatBytes(e.archiveBytes).padStart(9)}`);
    if (e.partBytes !== undefined)
      parts.push(`\n${''.padEnd(12)} interrupted download ${formatBytes(e.partBytes)} (resumed by the next download)`);
    console.log(parts.join(' '));
  }
}

/** `sizeseg data SUBCOMMAND …`. */
export async function cmdData(positionals: readonly string[], opts: Options): Promise<void> {
  const [sub, name, extra] = positionals;
  if (extra !== undefined) throw new UsageError(`unexpected argument '${extra}'; ${USAGE}.`);
  if (sub === 'download') return download(datasetName(name, sub), opts);
  if (sub === 'path') {
    console.log(requireCachedDataset(datasetName(name, sub)));
    return;
  }
  if (sub === 'list') {
    if (name !== undefined) throw new UsageError(`unexpected argument '${name}'; ${USAGE}.`);
    list();
    return;
  }
  throw new UsageError(sub === undefined ? `${USAGE}.` : `unknown data command '${sub}'; ${USAGE}.`);
}

export const dataCommand: Command = {
  name: 'data',
  summary: 'download msd-task04 | list | path msd-task04: the real hippocampus slices in a local cache, for --data msd',
  usage: ['data download msd-task04 [--from URL|FILE] [--md5 HEX]', 'data list', 'data path msd-task04'],
  about: [
    'download fetches the Medical Segmentation Decathlon Task04 (hippocampus) archive, about 27 MB, checks its published MD5 and unpacks it into the cache: $SIZESEG_HOME if set, else $XDG_CACHE_HOME/sizeseg, else ~/.cache/sizeseg. Then --data msd loads its 6103 slices of 48×32 for every command. An interrupted download resumes; a second download does nothing; $SIZESEG_HTTP_TIMEOUT seconds without data (default 30) give up.',
    'list shows what the cache holds, with sizes; path prints the cached folder (for scripts). Progress goes to stderr, results to stdout.',
    'The data is CC-BY-SA 4.0: cite Simpson et al. 2019 (arXiv:1902.09063) and Antonelli et al. 2022 (Nature Communications 13:4128).',
  ],
  options: {
    from: [
      'URL|FILE',
      'download: another mirror, or an archive already on disk (verified, then unpacked; never changed)',
    ],
    md5: ['HEX', 'download: the MD5 to expect instead of the published one (a mirror that repackages)'],
    quiet: ['', 'no progress output'],
  },
  examples: [
    'data download msd-task04',
    'data download msd-task04 --from ~/Downloads/Task04_Hippocampus.tar',
    'data list',
    'data path msd-task04',
  ],
  positionals: true,
  run: async (opts, positionals) => cmdData(positionals, opts),
};
