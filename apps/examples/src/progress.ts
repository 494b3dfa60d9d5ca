// Training progress: a cli-progress bar on a terminal, plain log lines otherwise (CI, pipes).
import { Writable } from 'node:stream';
import cliProgress from 'cli-progress';

export interface StepStats {
  step: number;
  loss: number;
  lr: number;
  tokensPerSec: number;
}

export interface Progress {
  update(stats: StepStats): void;
  /** A line that must not be garbled by the bar (validation loss, notes). */
  log(line: string): void;
  stop(): void;
}

const MiB = 1024 * 1024;

/** Current RSS and peak RSS (maxRSS is reported by the OS in KiB), in MiB. */
export function memoryMiB(): { rss: number; peak: number } {
  return { rss: process.memoryUsage().rss / MiB, peak: process.resourceUsage().maxRSS / 1024 };
}

function fmt(n: number, digits = 0): string {
  return Number.isFinite(n) ? n.toFixed(digits) : String(n);
}

export interface ProgressOptions {
  total: number;
  /**
   * Force plain lines even on a terminal (or a bar even without one: false). Default: plain unless
   * stderr is a terminal, directly or through `ds run` (which sets DS_TTY=1 when its own is).
   */
  plain?: boolean;
  /** Steps between plain log lines (first and last step are always printed). */
  logEvery?: number;
  /** Where plain lines go (default console.log). */
  out?: (line: string) => void;
}

export function createProgress(opts: ProgressOptions): Progress {
  const plain = opts.plain ?? !(process.stderr.isTTY || process.env.DS_TTY === '1');
  return plain ? plainProgress(opts.total, opts.logEvery ?? Math.max(1, Math.round(opts.total / 20)), opts.out ?? console.log) : barProgress(opts.total);
}

function plainProgress(total: number, every: number, out: (line: string) => void): Progress {
  const width = String(total).length;
  return {
    update(s) {
      if (s.step !== 1 && s.step !== total && s.step % every !== 0) return;
      const m = memoryMiB();
      out(
        `step ${String(s.step).padStart(width)}/${total} | loss ${fmt(s.loss, 4)} | lr ${s.lr.toExponential(2)} | ` +
          `${fmt(s.tokensPerSec)} tok/s | rss ${fmt(m.rss)} MiB (peak ${fmt(m.peak)} MiB)`,
      );
    },
    log(line) {
      out(line);
    },
    stop() {},
  };
}

/**
 * stderr as cli-progress should see it: under `ds run` it is a pipe to the launcher, which passes
 * redraws through to its terminal, so present it as a terminal COLUMNS wide.
 */
function terminalStream(): NodeJS.WritableStream {
  if (process.stderr.isTTY) return process.stderr;
  const relay = new Writable({
    write(chunk: Buffer, _enc, done) {
      process.stderr.write(chunk, done);
    },
  });
  return Object.assign(relay, { isTTY: true, columns: Number(process.env.COLUMNS) || 100 });
}

function barProgress(total: number): Progress {
  const multi = new cliProgress.MultiBar(
    {
      stream: terminalStream(),
      format: '{bar} {value}/{total} | loss {loss} | lr {lr} | {tps} tok/s | rss {rss} MiB (peak {peak}) | eta {eta_formatted}',
      hideCursor: true,
      barsize: 24,
      clearOnComplete: false,
      etaBuffer: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  const bar = multi.create(total, 0, { loss: '-', lr: '-', tps: '-', rss: '-', peak: '-' });
  // cli-progress redraws from a timer, which never fires while a synchronous training loop
  // runs, so redraw ourselves (at most every 100 ms, and on the last step).
  let last = 0;
  return {
    update(s) {
      const m = memoryMiB();
      bar.update(s.step, { loss: fmt(s.loss, 4), lr: s.lr.toExponential(2), tps: fmt(s.tokensPerSec), rss: fmt(m.rss), peak: fmt(m.peak) });
      const now = performance.now();
      if (now - last >= 100 || s.step === total) {
        last = now;
        multi.update();
      }
    },
    log(line) {
      multi.log(line + '\n');
      multi.update();
    },
    stop() {
      multi.stop();
    },
  };
}
