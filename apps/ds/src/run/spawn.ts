// Starts the workers, prefixes their output, and makes sure none outlives the job: the first
// failure stops the rest, signals to the launcher are forwarded, and a watchdog kills every
// worker's process group if the launcher itself dies (even by SIGKILL).
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { constants } from 'node:os';
import { LinePrefixer, TailBuffer, type Screen } from './prefix.js';

export interface WorkerSpec {
  /** How messages name it: `rank 3`, `node 1 (worker-2)`. */
  label: string;
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd?: string;
  /** Put before every output line (`[rank 3] `); '' passes lines through unchanged. */
  prefix: string;
  /** Write stdout and stderr (unprefixed) to this file instead of the console. */
  logFile?: string;
  /**
   * 'pipe' keeps an open pipe on the worker's stdin that is never written (an ssh session
   * then forwards its EOF to the remote node when the launcher goes away); default 'ignore'.
   */
  stdin?: 'pipe' | 'ignore';
  /** The console is a terminal: pass partial lines (progress-bar redraws) through live. */
  live?: boolean;
}

export interface SuperviseOptions {
  /** Console writers (default: the launcher's stdout/stderr). */
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
  /** Milliseconds between SIGTERM and SIGKILL when stopping workers (default 3000). */
  graceMs?: number;
  /** stderr lines shown for a failed worker (default 20). */
  tailLines?: number;
  /** Forward SIGINT/SIGTERM/SIGHUP received by this process to the workers. */
  handleSignals?: boolean;
  /** Stop the workers when this process's stdin closes (remote nodes of an ssh launch). */
  watchStdin?: boolean;
  /** Start the watchdog that kills the workers if this process dies (default true). */
  watchdog?: boolean;
}

export interface WorkerFailure {
  label: string;
  pid: number | undefined;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Why it could not start, when it did not. */
  error?: string;
  /** The last stderr lines. */
  tail: string[];
}

export interface SuperviseResult {
  /** 0, the first failing worker's exit code (128+n for signal n), or 128+n when the launcher got signal n. */
  exitCode: number;
  failure?: WorkerFailure;
  /** The signal that stopped the launch from outside, if any. */
  interrupted?: NodeJS.Signals;
}

interface Worker {
  spec: WorkerSpec;
  child: ChildProcess;
  pid: number | undefined;
  exited: boolean;
  closed: boolean;
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: string;
  tail: TailBuffer;
  logFd: number | undefined;
}

/** `how` a worker ended, for messages: `exited with code 3`, `was killed by signal SIGKILL`. */
export function describeExit(code: number | null, signal: NodeJS.Signals | null, error?: string): string {
  if (error) return `could not be started (${error})`;
  if (signal) return `was killed by signal ${signal}`;
  return `exited with code ${code}`;
}

/** Shell convention: a process killed by signal n reports 128+n. */
export function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (signal) return 128 + (constants.signals[signal] ?? 0);
  return code ?? 1;
}

/** Sends `signal` to the process group led by `pid`; false if it no longer exists. */
export function killGroup(pid: number | undefined, signal: NodeJS.Signals): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

// The watchdog reads "a PID" / "d PID" lines (add / drop a process group). When its stdin hits
// EOF — which happens when the launcher exits for any reason, SIGKILL included — it TERMs the
// groups still registered, waits up to 2 s, then KILLs what is left. It runs in its own
// session so a signal aimed at the launcher's process group does not take it down too.
const WATCHDOG = `p=
while read -r c n; do
  case "$c" in
    a) p="$p $n" ;;
    d) q=; for x in $p; do [ "$x" = "$n" ] || q="$q $x"; done; p=$q ;;
  esac
done
[ -z "$p" ] && exit 0
for x in $p; do kill -s TERM -- "-$x" 2>/dev/null; done
i=0
while [ $i -lt 20 ]; do
  alive=
  for x in $p; do kill -s 0 -- "-$x" 2>/dev/null && alive=1; done
  [ -z "$alive" ] && exit 0
  sleep 0.1; i=$((i+1))
done
for x in $p; do kill -s KILL -- "-$x" 2>/dev/null; done
`;

function startWatchdog(): ChildProcess | undefined {
  try {
    const wd = spawn('/bin/sh', ['-c', WATCHDOG], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
    wd.on('error', () => {});
    wd.stdin!.on('error', () => {});
    wd.unref();
    (wd.stdin as unknown as { unref?: () => void }).unref?.();
    return wd;
  } catch {
    return undefined;
  }
}

/**
 * Runs every worker in its own process group (detached) and resolves when all have ended.
 * The first worker to fail (non-zero exit or a signal) is reported with the tail of its
 * stderr, and every other worker gets SIGTERM, then SIGKILL after `graceMs`.
 */
export function supervise(specs: readonly WorkerSpec[], opts: SuperviseOptions = {}): Promise<SuperviseResult> {
  const out = opts.stdout ?? ((s: string) => void process.stdout.write(s));
  const err = opts.stderr ?? ((s: string) => void process.stderr.write(s));
  const say = (msg: string) => err(`ds run: ${msg}\n`);
  const graceMs = opts.graceMs ?? 3000;
  const tailLines = opts.tailLines ?? 20;
  const watchdog = opts.watchdog === false ? undefined : startWatchdog();
  const noun = specs.every((s) => s.label.startsWith('rank ')) ? 'rank' : specs.every((s) => s.label.startsWith('node ')) ? 'node' : 'worker';
  const count = (n: number) => `${n} ${noun}${n === 1 ? '' : 's'}`;

  const workers: Worker[] = [];
  let failure: Worker | undefined;
  let interrupted: NodeJS.Signals | undefined;
  let stopping = false;
  let killTimer: NodeJS.Timeout | undefined;
  let reported = false;
  let resolveDone!: (r: SuperviseResult) => void;
  const done = new Promise<SuperviseResult>((r) => (resolveDone = r));

  const stopAll = (signal: NodeJS.Signals) => {
    if (!stopping) {
      stopping = true;
      killTimer = setTimeout(() => {
        for (const w of workers) if (!w.exited) killGroup(w.pid, 'SIGKILL');
      }, graceMs);
      killTimer.unref();
    }
    for (const w of workers) if (!w.exited) killGroup(w.pid, signal);
  };

  const reportFailure = (w: Worker) => {
    if (reported) return;
    reported = true;
    const lines = w.tail.lines();
    if (lines.length === 0) {
      say(`${w.spec.label} wrote nothing to stderr`);
    } else {
      say(`last ${lines.length} line${lines.length === 1 ? '' : 's'} of ${w.spec.label}'s stderr:`);
      err(lines.map((l) => `  | ${l}\n`).join(''));
    }
  };

  let finishing = false;
  const maybeFinish = () => {
    if (finishing || !workers.every((w) => w.exited)) return;
    finishing = true;
    // Anything left in a worker's group (a grandchild it started) is an orphan now.
    for (const w of workers) killGroup(w.pid, 'SIGKILL');
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      if (killTimer) clearTimeout(killTimer);
      for (const w of workers) if (w.pid !== undefined) watchdog?.stdin?.write(`d ${w.pid}\n`);
      watchdog?.stdin?.end();
      if (failure) reportFailure(failure);
      detach();
      for (const w of workers) w.child.stdin?.destroy();
      let exitCode = 0;
      if (failure) exitCode = exitCodeOf(failure.code, failure.signal);
      else if (interrupted) exitCode = 128 + (constants.signals[interrupted] ?? 0);
      resolveDone({
        exitCode,
        interrupted,
        failure: failure && {
          label: failure.spec.label, pid: failure.pid, code: failure.code, signal: failure.signal,
          error: failure.error, tail: failure.tail.lines(),
        },
      });
    };
    // Wait (briefly) for the pipes to drain so the last lines and the tail are complete.
    if (workers.every((w) => w.closed)) return finish();
    const t = setTimeout(finish, 1000);
    for (const w of workers) {
      if (!w.closed) {
        w.child.once('close', () => {
          if (workers.every((x) => x.closed)) {
            clearTimeout(t);
            finish();
          }
        });
      }
    }
  };

  const onExit = (w: Worker, code: number | null, signal: NodeJS.Signals | null) => {
    if (w.exited) return;
    w.exited = true;
    w.code = code;
    w.signal = signal;
    const failed = w.error !== undefined || signal !== null || code !== 0;
    if (failed && !failure && !interrupted && !stopping) {
      failure = w;
      const others = workers.filter((x) => !x.exited).length;
      say(
        `${w.spec.label}${w.pid ? ` (pid ${w.pid})` : ''} ${describeExit(code, signal, w.error)}` +
          (others > 0 ? `; stopping the other ${count(others)}` : ''),
      );
      stopAll('SIGTERM');
      // Report as soon as its output is complete, without waiting for the others.
      if (w.closed) reportFailure(w);
      else {
        const t = setTimeout(() => reportFailure(w), 500);
        w.child.once('close', () => {
          clearTimeout(t);
          reportFailure(w);
        });
      }
    } else if (!failed && w.pid !== undefined) {
      // A finished worker may leave helpers in its group; they must not outlive it.
      killGroup(w.pid, 'SIGTERM');
    }
    maybeFinish();
  };

  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) {
      for (const w of workers) if (!w.exited) killGroup(w.pid, 'SIGKILL');
      return;
    }
    interrupted = signal;
    const alive = workers.filter((w) => !w.exited).length;
    say(`got ${signal}; stopping ${count(alive)} (again to kill at once)`);
    stopAll(signal === 'SIGHUP' ? 'SIGTERM' : signal);
  };
  const signals: NodeJS.Signals[] = opts.handleSignals ? ['SIGINT', 'SIGTERM', 'SIGHUP'] : [];
  for (const s of signals) process.on(s, onSignal);

  const onStdinEnd = () => {
    if (stopping || workers.every((w) => w.exited)) return;
    say(`the launching connection closed (stdin EOF); stopping ${count(workers.filter((w) => !w.exited).length)}`);
    interrupted = 'SIGTERM';
    stopAll('SIGTERM');
  };
  if (opts.watchStdin) {
    process.stdin.on('end', onStdinEnd);
    process.stdin.on('close', onStdinEnd);
    process.stdin.on('error', onStdinEnd);
    process.stdin.resume();
  }

  const detach = () => {
    for (const s of signals) process.off(s, onSignal);
    if (opts.watchStdin) {
      process.stdin.off('end', onStdinEnd);
      process.stdin.off('close', onStdinEnd);
      process.stdin.pause();
      process.stdin.destroy();
    }
  };

  // Open every log file before starting anything, so a bad path fails with nothing to clean up.
  const logFds: (number | undefined)[] = [];
  try {
    for (const spec of specs) logFds.push(spec.logFile ? openSync(spec.logFile, 'a') : undefined);
  } catch (e) {
    for (const fd of logFds) if (fd !== undefined) closeSync(fd);
    watchdog?.stdin?.end();
    detach();
    throw e;
  }

  const screen: Screen = { open: null };
  specs.forEach((spec, i) => {
    const tail = new TailBuffer(tailLines);
    const logFd = logFds[i];
    let child: ChildProcess;
    try {
      child = spawn(spec.command, spec.args, {
        env: spec.env,
        cwd: spec.cwd,
        detached: true,
        stdio: [spec.stdin ?? 'ignore', 'pipe', 'pipe'],
      });
    } catch (e) {
      // spawn() itself threw (e.g. an argument list too long): nothing may outlive the launch.
      for (const w of workers) killGroup(w.pid, 'SIGKILL');
      for (const fd of logFds) if (fd !== undefined) closeSync(fd);
      watchdog?.stdin?.end();
      detach();
      throw e;
    }
    child.stdin?.on('error', () => {});
    const w: Worker = { spec, child, pid: child.pid, exited: false, closed: false, code: null, signal: null, tail, logFd };
    workers.push(w);
    if (child.pid !== undefined) watchdog?.stdin?.write(`a ${child.pid}\n`);

    const toLog = logFd === undefined ? undefined : (text: string) => void writeSync(logFd, text);
    const live = { live: !toLog && spec.live === true, screen };
    const stdoutLines = new LinePrefixer(toLog ? '' : spec.prefix, toLog ?? out, undefined, live);
    const stderrLines = new LinePrefixer(toLog ? '' : spec.prefix, toLog ?? err, (line) => tail.push(line), live);
    child.stdout!.on('data', (b: Buffer) => stdoutLines.push(b));
    child.stderr!.on('data', (b: Buffer) => stderrLines.push(b));
    child.stdout!.on('end', () => stdoutLines.end());
    child.stderr!.on('end', () => stderrLines.end());
    child.on('error', (e: NodeJS.ErrnoException) => {
      w.error = `${spec.command}: ${e.code ?? e.message}`;
      w.closed = true;
      onExit(w, 127, null);
    });
    child.on('exit', (code, signal) => onExit(w, code, signal));
    child.on('close', () => {
      w.closed = true;
      if (w.logFd !== undefined) {
        closeSync(w.logFd);
        w.logFd = undefined;
      }
    });
    // A launch already being stopped (a worker failed while the rest were still spawning).
    if (stopping && child.pid !== undefined) killGroup(child.pid, 'SIGTERM');
  });
  if (specs.length === 0) resolveDone({ exitCode: 0 });
  return done;
}
