// Monitors from DeepSpeed's config sections: tensorboard, csv_monitor, wandb, comet.
// Which rank writes is the engine's business: call this on rank 0 only.
import { show, unknownNameHint } from '../lr/suggest.js';
import { CsvMonitor } from './csv.js';
import { TensorBoardMonitor } from './tensorboard.js';
import type { Monitor } from './types.js';

/** `tensorboard` / `csv_monitor`: `{ enabled: false, output_path: '', job_name: 'DeepSpeedJobName' }` by default. */
export interface OutputMonitorSection {
  enabled?: boolean;
  output_path?: string;
  job_name?: string;
}

export interface MonitorSections {
  tensorboard?: OutputMonitorSection | null;
  csv_monitor?: OutputMonitorSection | null;
  /** Accepted so configs written for DeepSpeed load; enabling it is an error. */
  wandb?: Record<string, unknown> | null;
  /** Accepted so configs written for DeepSpeed load; enabling it is an error. */
  comet?: Record<string, unknown> | null;
}

export interface CreateMonitorsOptions {
  /** Wall clock for TensorBoard event times, ms since the epoch (default Date.now). */
  now?: () => number;
}

const OUTPUT_KEYS = ['enabled', 'output_path', 'job_name'];
const WANDB_KEYS = ['enabled', 'group', 'team', 'project'];
const COMET_KEYS = ['enabled', 'samples_log_interval', 'project', 'workspace', 'api_key', 'experiment_name', 'experiment_key', 'online', 'mode'];

function section(name: string, value: unknown, keys: readonly string[]): Record<string, unknown> | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value)) throw new TypeError(`${name} must be an object (e.g. { "enabled": true }), got ${show(value)}`);
  const s = value as Record<string, unknown>;
  for (const k of Object.keys(s)) {
    if (!keys.includes(k)) throw new RangeError(`${name}: unknown key '${k}'${unknownNameHint(k, keys)}`);
  }
  if (s.enabled !== undefined && typeof s.enabled !== 'boolean') throw new TypeError(`${name}.enabled must be true or false, got ${show(s.enabled)}`);
  return s;
}

function outputOptions(name: string, s: Record<string, unknown>): { output_path: string; job_name: string } {
  const outputPath = s.output_path ?? '';
  const jobName = s.job_name ?? 'DeepSpeedJobName';
  if (typeof outputPath !== 'string') throw new TypeError(`${name}.output_path must be a directory path string ('' = the working directory), got ${show(outputPath)}`);
  if (typeof jobName !== 'string' || jobName.length === 0) throw new TypeError(`${name}.job_name must be a non-empty string (the sub-directory for this run), got ${show(jobName)}`);
  return { output_path: outputPath, job_name: jobName };
}

/**
 * The monitors the config enables, TensorBoard first then CSV (empty when none is).
 * wandb and comet need their hosted services' Python clients, which ds does not have;
 * enabling them is an error rather than a silently missing log.
 */
export function createMonitors(config: MonitorSections, opts: CreateMonitorsOptions = {}): Monitor[] {
  if (config === null || typeof config !== 'object') throw new TypeError(`createMonitors: config must be an object with tensorboard/csv_monitor/wandb/comet sections, got ${show(config)}`);
  for (const [name, keys, service] of [['wandb', WANDB_KEYS, 'Weights & Biases'], ['comet', COMET_KEYS, 'Comet']] as const) {
    const s = section(name, config[name], keys);
    if (s?.enabled === true) {
      throw new Error(
        `${name}.enabled is true, but ${service} logging is not available in ds. Use "csv_monitor" or "tensorboard" instead ` +
          `(e.g. "tensorboard": { "enabled": true, "output_path": "runs", "job_name": "my-run" }), or set ${name}.enabled to false`,
      );
    }
  }
  // Check every section before creating anything, so a bad one leaves no stray files.
  const tb = section('tensorboard', config.tensorboard, OUTPUT_KEYS);
  const csv = section('csv_monitor', config.csv_monitor, OUTPUT_KEYS);
  const tbOptions = tb?.enabled === true ? outputOptions('tensorboard', tb) : null;
  const csvOptions = csv?.enabled === true ? outputOptions('csv_monitor', csv) : null;
  const monitors: Monitor[] = [];
  if (tbOptions) monitors.push(new TensorBoardMonitor({ ...tbOptions, ...(opts.now ? { now: opts.now } : {}) }));
  if (csvOptions) monitors.push(new CsvMonitor(csvOptions));
  return monitors;
}
