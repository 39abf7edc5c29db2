/** Paper Fig. 3 through the experiment runner: reuses src/cli/figures/fig3.ts and adds the machine and a CSV. */
import { fig3, fig3Data } from '../cli/figures/fig3.js';
import { ExperimentDir, machineInfo, type ExperimentContext } from './common.js';

export async function runFig3(
  ctx: ExperimentContext,
  seed = 3,
): Promise<{ dir: string; files: string[]; summary: Record<string, unknown> }> {
  const out = new ExperimentDir(ctx.out, 'fig3', ctx.preset.name);
  ctx.progress.line(
    `fig3: 6×6 toy map, exact ∂L/∂p (2^18 masks) vs the mean of n Lemma-1 samples (the preset does not matter); writing ${out.path}`,
  );
  const files = await fig3(out.path, { seed });
  out.written.push(...files);
  const data = fig3Data(seed);
  // distance of each sampled panel to the exact derivatives (RMSE over the 36 pixels)
  const rmse = data.sampled.map((s) => ({
    n: s.n,
    rmse: Math.sqrt(s.mean.reduce((t, v, i) => t + (v - (data.exact[i] as number)) ** 2, 0) / s.mean.length),
  }));
  out.csv(
    'fig3.csv',
    data.probs.map((pr, i) => ({
      pixel: i,
      row: Math.floor(i / 6),
      col: i % 6,
      p: pr,
      exact: data.exact[i] as number,
      ...Object.fromEntries(data.sampled.map((s) => [`n${s.n}`, s.mean[i] as number])),
    })),
  );
  const summary = {
    experiment: 'fig3',
    seed,
    target: data.target,
    expectedLoss: data.expectedLoss,
    rmseToExact: rmse,
    machine: machineInfo(),
  };
  out.json('fig3-summary.json', summary);
  ctx.progress.line(
    `fig3: RMSE to the exact derivatives ${rmse.map((r) => `n=${r.n}: ${r.rmse.toFixed(3)}`).join(', ')}; wrote ${out.written.map((w) => w.slice(out.path.length + 1)).join(', ')} in ${out.path}/`,
  );
  return { dir: out.path, files: out.written, summary };
}
