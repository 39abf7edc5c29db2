/**
 * The generated report and figure of the remedies experiment (remedies.ts), drawn from its summary JSON alone:
 * written after every unit and redrawable from the JSON.
 *  - remedies-<preset>.svg: test-IoU gain over the pre-trained network against m, one line per arm, mean ± s.e.;
 *  - remedies-<preset>-foreground.svg: the predicted foreground fraction per arm against m, with the true one;
 *  - remedies-<preset>-report.md: the table, the recommendation, per-seed gains, the chosen thresholds.
 */
import { lineChartSvg } from '../viz/svg.js';
import type { MeanSe } from './common.js';
import type { SeedTableRow } from './resumableUnits.js';

/** A row of the summary's table (remedies.ts: `RemedyTableRow`, with the arm as a plain string). */
type Row = SeedTableRow<string> & { threshold: MeanSe; phaseEpochs: MeanSe };
interface Run {
  mLabel: string;
  seed: number;
  arm: string;
  before: { iou: number };
  after: { iou: number; fgPred: number };
  threshold: { t: number } | null;
  phase: { epochs: number; bestEpoch: number } | null;
  seconds: number;
  codeVersion: string;
}
export interface RemediesSummaryForReport {
  preset: string;
  unitsDone: number;
  unitsTotal: number;
  config: {
    ms: readonly (number | 'all')[];
    seeds: number;
    jointLambda: number;
    anchorWeight: number;
    codeVersion: string;
    codeVersionsOfRuns?: string[];
  };
  table: Row[];
  recommended: {
    arm: string | null;
    worstGain: number | null;
    smallestMGain: number | null;
    meetsBar: boolean;
    why: string;
  };
  runs: Run[];
}

const ARM_NAMES: Record<string, string> = {
  size: "size (the paper's)",
  'size+threshold': 'size + threshold',
  anchor: 'anchor (ours)',
  'anchor+threshold': 'anchor + threshold',
  joint: 'joint BCE + λ·size',
  'joint+threshold': 'joint + threshold',
  'pretrained+threshold': 'pre-trained + threshold',
};
const COLORS: Record<string, string> = {
  size: '#d62728',
  'size+threshold': '#ff9896',
  anchor: '#1f77b4',
  'anchor+threshold': '#aec7e8',
  joint: '#2ca02c',
  'joint+threshold': '#98df8a',
  'pretrained+threshold': '#7f7f7f',
};

export function remediesViewNames(preset: string): string[] {
  return [`remedies-${preset}.svg`, `remedies-${preset}-foreground.svg`, `remedies-${preset}-report.md`];
}

/** x position of an m ('all' is plotted at its image count, m of its rows). */
const armOrder = (t: readonly Row[]): string[] => [...new Set(t.map((r) => r.arm))];

export function remediesViews(s: RemediesSummaryForReport): Record<string, string> {
  const [svg, fgSvg, md] = remediesViewNames(s.preset) as [string, string, string];
  const partial = s.unitsDone !== s.unitsTotal ? `, partial: ${s.unitsDone}/${s.unitsTotal} units` : '';
  const arms = armOrder(s.table);
  const offset = (i: number): number => 1 + 0.025 * (i - (arms.length - 1) / 2);
  const gainSeries = arms.map((arm, i) => {
    const rs = s.table.filter((r) => r.arm === arm);
    return {
      name: ARM_NAMES[arm] ?? arm,
      x: rs.map((r) => r.m * offset(i)),
      y: rs.map((r) => 100 * r.iouGain.mean),
      yErr: rs.map((r) => 100 * r.iouGain.se),
      ...(COLORS[arm] ? { color: COLORS[arm] } : {}),
      ...(arm.endsWith('+threshold') ? { dashed: true } : {}),
    };
  });
  const xs = [...new Set(s.table.map((r) => r.m))];
  const zero = {
    name: 'no change',
    x: xs.length ? [Math.min(...xs) / 1.1, Math.max(...xs) * 1.1] : [],
    y: xs.length ? [0, 0] : [],
    color: '#000000',
    dashed: true,
  };
  const fgSeries = arms.map((arm, i) => {
    const rs = s.table.filter((r) => r.arm === arm);
    return {
      name: ARM_NAMES[arm] ?? arm,
      x: rs.map((r) => r.m * offset(i)),
      y: rs.map((r) => 100 * r.fgAfter.mean),
      yErr: rs.map((r) => 100 * r.fgAfter.se),
      ...(COLORS[arm] ? { color: COLORS[arm] } : {}),
      ...(arm.endsWith('+threshold') ? { dashed: true } : {}),
    };
  });
  const base = s.table.filter((r) => r.arm === arms[0]);
  const before = {
    name: 'after pre-training',
    x: base.map((r) => r.m),
    y: base.map((r) => 100 * r.fgBefore.mean),
    yErr: base.map((r) => 100 * r.fgBefore.se),
    color: '#000000',
  };
  const truth = {
    name: 'true foreground (test split)',
    x: base.map((r) => r.m),
    y: base.map((r) => 100 * r.fgTrue.mean),
    color: '#7f7f7f',
    dashed: true,
  };
  const xLabel = 'm = pixel-annotated images for pre-training (log scale)';
  return {
    [svg]: lineChartSvg({
      title: `Test-IoU gain per arm (${s.preset}${partial}; dashed: threshold by validation E)`,
      width: 960, // room for the longest legend names ("size loss + threshold by validation E")
      height: 480,
      xLabel,
      yLabel: 'test IoU gain, points (mean ± s.e. over seeds)',
      logX: true,
      series: [zero, ...gainSeries],
    }),
    [fgSvg]: lineChartSvg({
      title: `Predicted foreground fraction after each arm (${s.preset}${partial})`,
      width: 960,
      height: 480,
      xLabel,
      yLabel: 'foreground of the test images, % (mean ± s.e.)',
      logX: true,
      series: [before, ...fgSeries, truth],
    }),
    [md]: remediesReport(s),
  };
}

const pct = (v: number): string => (100 * v).toFixed(1);
const signed = (v: number): string => `${v >= 0 ? '+' : '−'}${Math.abs(100 * v).toFixed(1)}`;
const pm = (c: MeanSe, seeds: number, f: (v: number) => string = pct): string =>
  seeds > 1 ? `${f(c.mean)} ± ${pct(c.se)}` : f(c.mean);

export function remediesReport(s: RemediesSummaryForReport): string {
  const out: string[] = [];
  out.push(
    `# Size training remedies (${s.preset}${s.unitsDone !== s.unitsTotal ? `, partial: ${s.unitsDone} of ${s.unitsTotal} units` : ''})`,
    '',
  );
  out.push(
    `Generated from \`remedies-${s.preset}.json\`; test split, percentages; mean ± standard error over the seeds that have finished. ` +
      `Code ${s.config.codeVersion}${s.config.codeVersionsOfRuns && s.config.codeVersionsOfRuns.length > 1 ? ` (runs on ${s.config.codeVersionsOfRuns.join(', ')})` : ''}; ` +
      `joint λ = ${s.config.jointLambda}, anchor μ = ${s.config.anchorWeight}. Every threshold was chosen by validation E (validation logits and sizes only).`,
    '',
  );
  const r = s.recommended;
  out.push(
    `**Recommended:** ${r.arm ? `\`${r.arm}\` — ${r.why}; ${r.meetsBar ? 'meets' : 'does not (yet) meet'} the bar (worst mean gain ≥ −0.5 points, ≥ +10 at the smallest m, ≥ 3 seeds)` : r.why}.`,
    '',
  );
  out.push(
    '| arm | m | seeds | IoU before | IoU after | gain (points) | E before → after | foreground before → after (true) | threshold | epochs |',
  );
  out.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const t of s.table) {
    out.push(
      `| ${t.arm} | ${t.mLabel} | ${t.seeds} | ${pm(t.iouBefore, t.seeds)} | ${pm(t.iouAfter, t.seeds)} | ${pm(t.iouGain, t.seeds, signed)} | ${t.EBefore.mean.toFixed(2)} → ${t.EAfter.mean.toFixed(2)} | ` +
        `${pct(t.fgBefore.mean)} → ${pct(t.fgAfter.mean)} (${pct(t.fgTrue.mean)}) | ${t.threshold.mean.toFixed(2)} | ${t.phaseEpochs.mean.toFixed(1)} |`,
    );
  }
  out.push('');
  const seeds = [...new Set(s.runs.map((x) => x.seed))].sort((a, b) => a - b);
  out.push('## Per seed: test-IoU gain (points), chosen threshold in brackets', '');
  out.push(`| m | arm | ${seeds.map((k) => `seed ${k}`).join(' | ')} |`);
  out.push(`| --- | --- | ${seeds.map(() => '---').join(' | ')} |`);
  const ms = [...new Set(s.table.map((t) => t.mLabel))];
  for (const m of ms) {
    for (const arm of armOrder(s.table)) {
      const cells = seeds.map((k) => {
        const x = s.runs.find((y) => y.mLabel === m && y.seed === k && y.arm === arm);
        if (!x) return '';
        return `${signed(x.after.iou - x.before.iou)}${x.threshold ? ` (${x.threshold.t.toFixed(2)})` : ''}`;
      });
      if (cells.some((c) => c !== '')) out.push(`| ${m} | ${arm} | ${cells.join(' | ')} |`);
    }
  }
  out.push('');
  const hours = s.runs.reduce((t, x) => t + x.seconds, 0) / 3600;
  out.push(`Time: ${hours.toFixed(2)} hours of runs (wall time, shared cores).`, '');
  return out.join('\n');
}
