/**
 * The tables of the paper-scale Fig. 7 as Markdown, from its summary JSON (fig7-<preset>.json): what a
 * report quotes, regenerated with every finished run (and by `--replot`), so that no number is copied by
 * hand. The reading of the numbers stays prose in docs/results.md.
 */
import { mean, stdErr } from './common.js';
import type { Fig7PaperRun, TableRow } from './fig7paper.js';

/** The fields of the summary this report reads. */
export interface Fig7PaperSummaryForReport {
  preset: string;
  runsDone: number;
  runsTotal: number;
  config: { ms: readonly (number | 'all')[]; seeds: number };
  table: readonly TableRow[];
  runs: readonly Fig7PaperRun[];
  machine?: { cpuModel?: unknown; cores?: unknown };
}

const pct = (v: number): string => (100 * v).toFixed(1);
/** mean ± s.e. in percent (s.e. only where there are two or more seeds). */
const pctCol = (c: { mean: number; se: number }, seeds: number): string =>
  seeds > 1 ? `${pct(c.mean)} ± ${pct(c.se)}` : pct(c.mean);
const signed = (v: number): string => `${v >= 0 ? '+' : '−'}${Math.abs(100 * v).toFixed(1)}`;

function hours(seconds: number): string {
  return `${(seconds / 3600).toFixed(1)} h`;
}

/** The report: summary table, per-seed table, every run, paired differences between arms, time. */
export function fig7PaperReport(s: Fig7PaperSummaryForReport): string {
  const out: string[] = [];
  const partial =
    s.runsDone < s.runsTotal ? ` — partial: ${s.runsDone} of ${s.runsTotal} runs` : ` — all ${s.runsTotal} runs`;
  out.push(`# Fig. 7 at paper scale (\`--preset ${s.preset}\`): tables${partial}`, '');
  out.push(
    `Generated from \`fig7-${s.preset}.json\`; percentages of the test split; mean ± standard error over the seeds that have finished.`,
    '',
  );

  out.push('## Test IoU and the other metrics, before → after each arm', '');
  out.push(
    '| arm | m | seeds | IoU before | IoU after | gain (points) | Dice before → after | E before → after | predicted foreground before → after (true) | epochs: pre-training / arm |',
  );
  out.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of s.table) {
    const gain = r.seeds > 1 ? `${signed(r.iouGain.mean)} ± ${pct(r.iouGain.se)}` : signed(r.iouGain.mean);
    out.push(
      `| ${r.arm} | ${r.mLabel} | ${r.seeds} | ${pctCol(r.iouBefore, r.seeds)} | ${pctCol(r.iouAfter, r.seeds)} | ${gain} | ` +
        `${pct(r.diceBefore.mean)} → ${pct(r.diceAfter.mean)} | ${r.EBefore.mean.toFixed(2)} → ${r.EAfter.mean.toFixed(2)} | ` +
        `${pct(r.fgBefore.mean)} → ${pct(r.fgAfter.mean)} (${pct(r.fgTrue.mean)}) | ${r.pretrainEpochs.mean.toFixed(1)} / ${r.phaseEpochs.mean.toFixed(1)} |`,
    );
  }
  out.push('');

  // the protocol's seeds, and any further seeds some runs have (fig7's extra size-arm seeds)
  const seeds = [
    ...new Set([...Array.from({ length: s.config.seeds }, (_, i) => i), ...s.runs.map((r) => r.seed)]),
  ].sort((a, b) => a - b);
  const runOf = (m: number | 'all', seed: number, arm: Fig7PaperRun['arm']): Fig7PaperRun | undefined =>
    s.runs.find((r) => r.mLabel === String(m) && r.seed === seed && r.arm === arm);
  out.push('## Per seed: test IoU before → after', '');
  out.push(`| m | arm | ${seeds.map((k) => `seed ${k}`).join(' | ')} |`);
  out.push(`| --- | --- | ${seeds.map(() => '---').join(' | ')} |`);
  for (const m of s.config.ms) {
    for (const arm of ['size', 'joint', 'shuffled'] as const) {
      if (!s.runs.some((r) => r.mLabel === String(m) && r.arm === arm)) continue;
      const cell = (k: number): string => {
        const r = runOf(m, k, arm);
        return r === undefined ? '—' : `${pct(r.before.iou)} → ${pct(r.after.iou)}`;
      };
      out.push(`| ${m} | ${arm} | ${seeds.map(cell).join(' | ')} |`);
    }
  }
  out.push('');

  out.push('## Every run', '');
  out.push(
    'Epochs run (best kept); Dice, E and the predicted foreground fraction of the thresholded prediction (true fraction of the test split in the header) before → after; minutes of the arm (the pre-training, shared by the arms of one m and seed, in its own column).',
    '',
  );
  const fgTrue = s.runs.length > 0 ? ` (true ${pct(s.runs[0]!.after.fgTrue)})` : '';
  out.push(
    `| m | seed | arm | pre-training epochs (best) | arm epochs (best) | IoU | Dice | E | foreground${fgTrue} | minutes: pre-training / arm |`,
  );
  out.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const m of s.config.ms) {
    for (const k of seeds) {
      for (const arm of ['size', 'joint', 'shuffled'] as const) {
        const r = runOf(m, k, arm);
        if (r === undefined) continue;
        const arrow = (f: (t: Fig7PaperRun['before']) => string): string => `${f(r.before)} → ${f(r.after)}`;
        out.push(
          `| ${m} | ${k} | ${arm} | ${r.pretrain.epochs} (${r.pretrain.bestEpoch}) | ${r.phase.epochs} (${r.phase.bestEpoch}) | ` +
            `${arrow((t) => pct(t.iou))} | ${arrow((t) => pct(t.dice))} | ${arrow((t) => t.E.toFixed(2))} | ${arrow((t) => pct(t.fgPred))} | ` +
            `${(r.pretrain.seconds / 60).toFixed(0)} / ${(r.seconds / 60).toFixed(0)} |`,
        );
      }
    }
  }
  out.push('');

  // The arms of one (m, seed) start from the same network, so their difference after training is paired:
  // the seed-to-seed spread of pre-training cancels, and what is left is what the arms themselves do.
  const pairs = [
    { a: 'size', b: 'shuffled', what: 'true − shuffled sizes: what the size labels themselves add' },
    { a: 'joint', b: 'size', what: 'joint − size loss: what keeping BCE on the m annotated images adds' },
  ] as const;
  out.push('## Paired differences between arms (test IoU after, points)', '');
  out.push(
    'Each difference is taken within a seed (same pre-trained network), then averaged: mean ± s.e. over the seeds where both arms finished.',
    '',
  );
  out.push(`| comparison | m | seeds | mean ± s.e. | ${seeds.map((k) => `seed ${k}`).join(' | ')} |`);
  out.push(`| --- | --- | --- | --- | ${seeds.map(() => '---').join(' | ')} |`);
  for (const { a, b, what } of pairs) {
    for (const m of s.config.ms) {
      const diff = (k: number): number | undefined => {
        const ra = runOf(m, k, a);
        const rb = runOf(m, k, b);
        return ra === undefined || rb === undefined ? undefined : ra.after.iou - rb.after.iou;
      };
      const ds = seeds.map(diff);
      const have = ds.filter((d): d is number => d !== undefined);
      if (have.length === 0) continue;
      const summary = have.length > 1 ? `${signed(mean(have))} ± ${pct(stdErr(have))}` : signed(mean(have));
      out.push(
        `| ${what} | ${m} | ${have.length} | ${summary} | ${ds.map((d) => (d === undefined ? '—' : signed(d))).join(' | ')} |`,
      );
    }
  }
  out.push('');

  // pre-training is shared by the arms of one (m, seed): count it once, with the size arm that every m has
  const pretrainSeconds = s.runs.filter((r) => r.arm === 'size').reduce((a, r) => a + r.pretrain.seconds, 0);
  const armSeconds = s.runs.reduce((a, r) => a + r.seconds, 0);
  // The summary records the machine of the process that wrote it last; a resumed experiment may have run its
  // earlier runs elsewhere, so the report names it as that and no more.
  const machine =
    s.machine === undefined
      ? ''
      : ` The machine that wrote this summary (after its latest run): ${String(s.machine.cpuModel ?? 'unknown')}, ${String(s.machine.cores ?? '?')} cores; a resumed experiment may have run its earlier runs on another.`;
  // runs that record where they trained (written from 7 December 2026 on), counted per CPU and commit
  const recorded = s.runs.filter((r) => r.cpuModel !== undefined || r.codeVersion !== undefined);
  const places = new Map<string, number>();
  for (const r of recorded) {
    const place = `${r.cpuModel ?? 'unknown CPU'}, code ${r.codeVersion ?? 'unknown'}`;
    places.set(place, (places.get(place) ?? 0) + 1);
  }
  const where =
    recorded.length === 0
      ? ''
      : ` Runs that record where they trained (${recorded.length} of ${s.runs.length}): ${[...places].map(([place, n]) => `${n} on ${place}`).join('; ')}.`;
  out.push('## Time', '');
  out.push(
    `Finished runs: ${hours(pretrainSeconds + armSeconds)} of training and evaluation: ${hours(pretrainSeconds)} pre-training, ${hours(armSeconds)} in the arms.${machine}${where}`,
    '',
  );
  return out.join('\n');
}
