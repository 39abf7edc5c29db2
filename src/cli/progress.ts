/**
 * Progress reporting: a one-line bar with epoch, step, loss and ETA on a terminal (redrawn in place),
 * plain log lines when stdout is not a TTY (CI logs, pipes), nothing with --quiet.
 */
import { formatBytes } from '../data/cache.js';

export interface ProgressOptions {
  stream?: NodeJS.WriteStream;
  quiet?: boolean;
}

export class Progress {
  private readonly stream: NodeJS.WriteStream;
  private readonly tty: boolean;
  private readonly quiet: boolean;
  private started = 0;
  private lastDraw = 0;
  private drawn = false;

  constructor(options: ProgressOptions = {}) {
    this.stream = options.stream ?? process.stderr;
    this.tty = Boolean(this.stream.isTTY) && process.env.CI !== 'true';
    this.quiet = options.quiet ?? false;
  }

  startEpoch(): void {
    this.started = performance.now();
  }

  step(label: string, step: number, steps: number, loss: number): void {
    if (this.quiet || !this.tty) return;
    const now = performance.now();
    if (now - this.lastDraw < 100 && step < steps) return;
    this.lastDraw = now;
    const width = 24;
    const filled = Math.round((step / steps) * width);
    const elapsed = (now - this.started) / 1000;
    const eta = step > 0 ? (elapsed / step) * (steps - step) : 0;
    const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
    this.stream.write(
      `\r${label} ${bar} ${String(step).padStart(String(steps).length)}/${steps} loss ${loss.toFixed(4)} ETA ${formatSeconds(eta)}\x1b[K`,
    );
    this.drawn = true;
  }

  /**
   * A byte-transfer bar (downloading, verifying, unpacking): bytes done of total, rate and ETA; without a
   * total (a server that does not say), bytes and rate only.
   */
  transfer(label: string, done: number, total: number | undefined, bytesPerSecond: number): void {
    if (this.quiet || !this.tty) return;
    const now = performance.now();
    if (now - this.lastDraw < 100 && (total === undefined || done < total)) return;
    this.lastDraw = now;
    const rate = `${formatBytes(bytesPerSecond)}/s`;
    if (total === undefined || total <= 0) {
      this.stream.write(`\r${label} ${formatBytes(done)} ${rate}\x1b[K`);
    } else {
      const width = 24;
      const filled = Math.min(width, Math.round((done / total) * width));
      const eta = bytesPerSecond > 0 ? (total - done) / bytesPerSecond : Number.POSITIVE_INFINITY;
      const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
      this.stream.write(
        `\r${label} ${bar} ${formatBytes(done)}/${formatBytes(total)} ${rate} ETA ${formatSeconds(eta)}\x1b[K`,
      );
    }
    this.drawn = true;
  }

  /** A line that stays (end of epoch, messages): clears the bar first. */
  line(text: string): void {
    if (this.quiet) return;
    if (this.drawn) this.stream.write('\r\x1b[K');
    this.drawn = false;
    this.stream.write(`${text}\n`);
  }
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '--';
  if (s < 60) return `${s.toFixed(0)}s`;
  const m = Math.floor(s / 60);
  return m < 60
    ? `${m}m${String(Math.round(s - m * 60)).padStart(2, '0')}s`
    : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
