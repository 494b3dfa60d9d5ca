// `ds config check`: the real CLI (from source, through tsx) on config files written here.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tsxLoaderUrl } from '../src/run/command.js';
import { CLI } from './helpers.js';

function ds(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, ['--conditions=@ds/source', '--import', tsxLoaderUrl(), CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (b) => (out += b));
  child.stderr.on('data', (b) => (err += b));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out, err })));
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'ds-config-check-'));
function file(name: string, text: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}

const GOOD = file(
  'good.json',
  `// ZeRO-2 in bf16, written the legacy way
{
  "train_batch_size": 32,
  "gradient_accumulation_steps": "auto",
  "bfloat16": { "enabled": true },
  "zero_optimization": { "stage": 2, "stage3_prefetch_bucket_size": 1000 },
  "optimizer": { "type": "AdamW", "params": { "lr": 0.0003, } },
}
`,
);

const BAD = file(
  'bad.json',
  `{
  "train_batch_size": 33,
  "train_micro_batch_size_per_gpu": 17,
  "gradient_accumulation_steps": 2,
  "zero_optimisation": { "stage": 2 },
  "fp16": { "enabled": true, "loss_scale": -1 },
  "bf16": { "enabled": true }
}
`,
);

describe('ds config check', () => {
  it('prints the resolved config, the packages it needs, and warnings on stderr', async () => {
    const r = await ds(['config', 'check', GOOD, '--world-size', '2']);
    expect(r.code).toBe(0);
    const lines = r.out.split('\n');
    expect(lines[0]).toBe(`${GOOD}: OK for a data-parallel world size of 2: train_batch_size 32 = micro batch 16 × 1 accumulation step × 2 ranks`);
    expect(lines[1]).toBe('needs: @ds/precision (bf16: enabled), @ds/zero (zero_optimization: stage 2)');
    expect(lines[2]).toBe('resolved configuration:');
    expect(r.out).toMatch(/^ {2}train_micro_batch_size_per_gpu \.+ 16$/m);
    expect(r.out).toMatch(/^ {2}zero_optimization\.prefetch_bucket_size \.+ 1000$/m);
    expect(r.out).toMatch(/^ {2}optimizer\.params\.lr \.+ 0\.0003$/m);
    expect(r.out).toMatch(/^ {2}derived\.grad_accum_dtype \.+ "bf16"$/m);
    expect(r.err).toContain('warning: "bfloat16" is deprecated; use "bf16" (same keys)\n');
    expect(r.err).toContain('warning: "auto" values were resolved without a trainer (batch sizes derived, everything else at its default): gradient_accumulation_steps\n');
  });

  it('--json prints the resolved config as JSON', async () => {
    const r = await ds(['config', 'check', GOOD, '--world-size', '4', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as { ok: boolean; worldSize: number; config: Record<string, unknown>; requiredPackages: { package: string }[]; warnings: string[] };
    expect(j.ok).toBe(true);
    expect(j.worldSize).toBe(4);
    expect([j.config.train_batch_size, j.config.train_micro_batch_size_per_gpu, j.config.gradient_accumulation_steps]).toEqual([32, 8, 1]);
    expect(j.requiredPackages.map((p) => p.package)).toEqual(['@ds/precision', '@ds/zero']);
    expect(j.warnings).toHaveLength(2);
  });

  it('lists every problem and exits 1', async () => {
    const r = await ds(['config', 'check', BAD, '--world-size', '2']);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    // Cross-section checks (fp16 with bf16) run once every section is valid on its own; the
    // batch triad does not depend on the sections, so it is reported now.
    expect(r.err.split('\n')).toEqual([
      `ds config check: ${BAD}: 3 problems`,
      '  - fp16.loss_scale: got -1; must be >= 0',
      '  - zero_optimisation: unknown key (not a DeepSpeed config key); did you mean "zero_optimization"?',
      expect.stringMatching(/^ {2}- train_batch_size: inconsistent batch sizes: train_batch_size 33 must equal train_micro_batch_size_per_gpu 17 × gradient_accumulation_steps 2 × data-parallel world size 2 = 68;/),
      '',
    ]);
  });

  it('--json reports the issues', async () => {
    const r = await ds(['config', 'check', BAD, '--json']);
    expect(r.code).toBe(1);
    const j = JSON.parse(r.out) as { ok: boolean; issues: { path: string; message: string }[] };
    expect(j.ok).toBe(false);
    expect(j.issues.map((i) => i.path)).toEqual(['fp16.loss_scale', 'zero_optimisation', 'train_batch_size']);
  });

  it('a syntax error is reported at file:line:column; a missing file is named', async () => {
    const broken = file('broken.json', '{\n  "train_batch_size": 8\n  "fp16": {}\n}\n');
    const r = await ds(['config', 'check', broken]);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`ds config check: ${broken}: 1 problem\n  - ${broken}:3:3: expected "," between entries\n`);
    const missing = await ds(['config', 'check', path.join(dir, 'nope.json')]);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain(`config file "${path.join(dir, 'nope.json')}" does not exist`);
  });

  it('--world-size must be a positive integer', async () => {
    const r = await ds(['config', 'check', GOOD, '--world-size', '0']);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain('--world-size must be an integer >= 1, got "0"');
  });
});
