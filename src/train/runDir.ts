/**
 * A run folder, runs/<name>/: config.json, metrics.jsonl (one JSON line per epoch), checkpoints, and
 * pictures — learning curves (SVG) and a grid of images with ground-truth (green) and predicted (red)
 * outlines (PNG). Everything a person needs to look at a run afterwards.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { SegDataset } from '../data/index.js';
import { imageGridPng } from '../viz/png.js';
import { lineChartSvg } from '../viz/svg.js';
import type { EpochRecord } from './trainer.js';
import { thresholdLogits } from './metrics.js';

export class RunDir {
  readonly path: string;
  private readonly records: EpochRecord[] = [];

  constructor(root: string, name: string) {
    if (!/^[\w.-]+$/.test(name)) throw new Error(`run name '${name}' may only contain letters, digits, '.', '_' and '-'.`);
    this.path = resolve(root, name);
    mkdirSync(this.path, { recursive: true });
  }

  file(name: string): string {
    return join(this.path, name);
  }

  writeConfig(config: Record<string, unknown>): void {
    writeFileSync(this.file('config.json'), `${JSON.stringify(config, null, 2)}\n`);
  }

  logEpoch(record: EpochRecord): void {
    this.records.push(record);
    appendFileSync(this.file('metrics.jsonl'), `${JSON.stringify(record)}\n`);
  }

  /**
   * Continue a run in this folder from a state saved after epoch `history.at(-1).epoch`: the curves get the
   * earlier epochs back, and `metrics.jsonl` loses the lines of epochs after it (an epoch that was logged
   * but not saved is trained again), keeping every other line in order.
   */
  resumeHistory(history: readonly EpochRecord[]): void {
    this.records.length = 0;
    this.records.push(...history);
    const path = this.file('metrics.jsonl');
    if (!existsSync(path)) return;
    const saved = new Map(history.map((r) => [`${r.phase}:${r.epoch}`, true]));
    const phases = new Set(history.map((r) => r.phase));
    const kept = readFileSync(path, 'utf8').split('\n').filter((line) => {
      if (line.trim() === '') return false;
      try {
        const r = JSON.parse(line) as Partial<EpochRecord>;
        return !(r.trainLoss !== undefined && r.phase && phases.has(r.phase) && !saved.has(`${r.phase}:${r.epoch}`));
      } catch {
        return false; // a line cut by the interruption
      }
    });
    writeFileSync(path, kept.map((l) => `${l}\n`).join(''));
  }

  logEvent(event: Record<string, unknown>): void {
    appendFileSync(this.file('metrics.jsonl'), `${JSON.stringify(event)}\n`);
  }

  /** Learning curves: training loss and validation IoU / E per epoch, one chart per phase and metric. */
  writeCurves(): string[] {
    const written: string[] = [];
    for (const phase of ['pretrain', 'sizetrain'] as const) {
      const recs = this.records.filter((r) => r.phase === phase);
      if (recs.length === 0) continue;
      const x = recs.map((r) => r.epoch);
      const charts: [string, string, { name: string; x: number[]; y: number[] }[]][] = [
        ['loss', phase === 'pretrain' ? 'BCE (train)' : 'size loss (train)', [{ name: 'train loss', x, y: recs.map((r) => r.trainLoss) }]],
        ['val', 'validation', [{ name: 'IoU', x, y: recs.map((r) => r.val.iou) }, { name: 'Dice', x, y: recs.map((r) => r.val.dice) }]],
        ['size-error', 'validation E', [{ name: 'E = (g(y) − g(ŷ))²', x, y: recs.map((r) => r.val.sizeError) }]],
      ];
      for (const [key, yLabel, series] of charts) {
        const path = this.file(`${phase}-${key}.svg`);
        writeFileSync(path, lineChartSvg({ title: `${phase}: ${yLabel}`, xLabel: 'epoch', yLabel, series }));
        written.push(path);
      }
    }
    return written;
  }

  /** A PNG grid of the first `count` images with ground truth (green) and prediction (red) outlines. */
  writePredictions(name: string, ds: SegDataset, indices: readonly number[], logits: Float32Array, count = 16): string {
    const V = ds.height * ds.width;
    const pred = thresholdLogits(logits);
    const items = indices.slice(0, count).map((n, i) => ({
      image: ds.images.subarray(n * V, (n + 1) * V),
      truth: ds.masks.subarray(n * V, (n + 1) * V),
      pred: pred.subarray(i * V, (i + 1) * V),
    }));
    const path = this.file(name);
    imageGridPng(path, items, ds.height, ds.width, { cols: 8 });
    return path;
  }
}
