// DeepSpeed's csv_monitor layout: <output_path>/<job_name>/<name with '/' and ' ' -> '_'>.csv.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CsvMonitor, csvFileName } from '../src/monitor/index.js';

describe('CsvMonitor', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'ds-csv-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const read = (file: string, job = 'job') => readFileSync(path.join(dir, job, file), 'utf8');

  it('one file per event name, header step,<last path segment>, then step,value rows across calls', async () => {
    const m = new CsvMonitor({ output_path: dir, job_name: 'job' });
    expect(m.logDir).toBe(path.join(dir, 'job'));
    m.writeEvents([['Train/Samples/lr', 0.001, 64], ['Train/Samples/train_loss', 2.5, 64]]);
    m.writeEvents([['Train/Samples/lr', 0.002, 128], ['Train/Samples/elapsed time', 12.5, 128], ['Train/Samples/lr', 0.003, 192]]);
    await m.close();
    expect(readdirSync(path.join(dir, 'job')).sort()).toEqual(['Train_Samples_elapsed_time.csv', 'Train_Samples_lr.csv', 'Train_Samples_train_loss.csv']);
    expect(read('Train_Samples_lr.csv')).toBe('step,lr\n64,0.001\n128,0.002\n192,0.003\n');
    expect(read('Train_Samples_train_loss.csv')).toBe('step,train_loss\n64,2.5\n');
    expect(read('Train_Samples_elapsed_time.csv')).toBe('step,elapsed time\n128,12.5\n');
  });

  it('a new monitor appends to existing files and writes its header again, as DeepSpeed does', async () => {
    const a = new CsvMonitor({ output_path: dir, job_name: 'job' });
    a.writeEvents([['loss', 1, 1]]);
    await a.close();
    const b = new CsvMonitor({ output_path: dir, job_name: 'job' });
    b.writeEvents([['loss', 0.5, 2]]);
    await b.close();
    expect(read('loss.csv')).toBe('step,loss\n1,1\nstep,loss\n2,0.5\n');
  });

  it('spells non-finite values as Python does and quotes headers that need it', async () => {
    const m = new CsvMonitor({ output_path: dir, job_name: 'job' });
    m.writeEvents([['Train/a,b', Number.NaN, 1], ['Train/a,b', Infinity, 2], ['Train/a,b', -Infinity, 3]]);
    await m.close();
    expect(read('Train_a,b.csv')).toBe('step,"a,b"\n1,nan\n2,inf\n3,-inf\n');
  });

  it('defaults: job_name DeepSpeedJobName under output_path', async () => {
    const m = new CsvMonitor({ output_path: dir });
    m.writeEvents([['x', 1, 0]]);
    await m.close();
    expect(existsSync(path.join(dir, 'DeepSpeedJobName', 'x.csv'))).toBe(true);
    expect(csvFileName('Train/Samples/loss scale')).toBe('Train_Samples_loss_scale.csv');
  });

  it('rejects bad events without writing any of them, and writes after close', async () => {
    const m = new CsvMonitor({ output_path: dir, job_name: 'job' });
    expect(() => m.writeEvents([['ok', 1, 1], ['lr', 1, 1.5]])).toThrow(/CsvMonitor.writeEvents: events\[1\] \('lr'\) step must be a non-negative integer, got 1.5/);
    expect(() => m.writeEvents([['lr', 1] as never])).toThrow(/events\[0\] must be \[name, value, step\]/);
    expect(readdirSync(path.join(dir, 'job'))).toEqual([]);
    await m.close();
    expect(() => m.writeEvents([['lr', 1, 1]])).toThrow(/CsvMonitor: the monitor is closed/);
  });
});
