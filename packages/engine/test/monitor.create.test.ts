// createMonitors from DeepSpeed's tensorboard / csv_monitor / wandb / comet sections.
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CsvMonitor, createMonitors, TensorBoardMonitor } from '../src/monitor/index.js';

describe('createMonitors', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'ds-mon-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('nothing enabled (or sections absent) gives no monitors and no files', () => {
    expect(createMonitors({})).toEqual([]);
    expect(createMonitors({ tensorboard: { enabled: false, output_path: dir }, csv_monitor: null, wandb: { enabled: false, project: 'p' }, comet: { enabled: false } })).toEqual([]);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('builds TensorBoard then CSV monitors under <output_path>/<job_name>, ignoring other config keys', async () => {
    const config = {
      train_batch_size: 8,
      tensorboard: { enabled: true, output_path: dir, job_name: 'tb' },
      csv_monitor: { enabled: true, output_path: dir },
    };
    const monitors = createMonitors(config, { now: () => 2_000_000 });
    expect(monitors.map((m) => m.constructor)).toEqual([TensorBoardMonitor, CsvMonitor]);
    expect((monitors[0] as TensorBoardMonitor).file).toMatch(new RegExp(`tb[\\\\/]events\\.out\\.tfevents\\.2000\\.`));
    expect((monitors[1] as CsvMonitor).logDir).toBe(path.join(dir, 'DeepSpeedJobName'));
    for (const m of monitors) m.writeEvents([['Train/Samples/lr', 0.1, 8]]);
    await Promise.all(monitors.map((m) => m.close()));
    expect(existsSync(path.join(dir, 'DeepSpeedJobName', 'Train_Samples_lr.csv'))).toBe(true);
  });

  it('wandb or comet enabled is an error that points at csv_monitor and tensorboard', () => {
    expect(() => createMonitors({ wandb: { enabled: true, project: 'x' } })).toThrow(/wandb.enabled is true, but Weights & Biases logging is not available in ds\. Use "csv_monitor" or "tensorboard" instead/);
    expect(() => createMonitors({ comet: { enabled: true } })).toThrow(/comet.enabled is true, but Comet logging is not available in ds.*set comet.enabled to false/);
  });

  it('names bad keys and values, and creates nothing when any section is bad', () => {
    expect(() => createMonitors({ tensorboard: { enabled: true, output_dir: dir } as never })).toThrow(/tensorboard: unknown key 'output_dir' \(did you mean 'output_path'\?\)/);
    expect(() => createMonitors({ wandb: { enabled: false, entity: 'me' } })).toThrow(/wandb: unknown key 'entity'; valid names are 'enabled', 'group', 'team', 'project'/);
    expect(() => createMonitors({ csv_monitor: { enabled: 'yes' as never } })).toThrow(/csv_monitor.enabled must be true or false, got 'yes'/);
    expect(() => createMonitors({ csv_monitor: { enabled: true, job_name: '' } })).toThrow(/csv_monitor.job_name must be a non-empty string/);
    expect(() => createMonitors({ tensorboard: { enabled: true, output_path: dir, job_name: 'tb' }, csv_monitor: { enabled: true, output_path: 7 as never } })).toThrow(/csv_monitor.output_path must be a directory path string/);
    expect(readdirSync(dir)).toEqual([]);
  });
});
