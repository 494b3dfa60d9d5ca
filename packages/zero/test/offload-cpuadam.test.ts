// ZeRO-Offload's CPU optimizer: DeepSpeedCPUAdam's options and defaults mapped onto @ds/core's
// fused Adam kernel, checked against trajectories of DeepSpeed's real C++ kernel for every
// adamw_mode x bias_correction x weight-decay case, on the TypeScript and the native kernels.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kernels, loadSafetensors, nn, optim, tensor, useKernels, type Tensor } from '@ds/core';
import { CPU_ADAM_DEFAULTS, cpuAdam, cpuAdamFromConfig, cpuAdamOptionsFromConfig } from '../src/offload/index.js';
import { GOLDEN, firstMismatch, type Tolerance } from './golden.js';

interface Case {
  name: string;
  hyperparams: { lr: number; betas: [number, number]; eps: number; weight_decay: number; adamw_mode: boolean; bias_correction: boolean };
  tolerance: Tolerance;
}

const meta = JSON.parse(readFileSync(path.join(GOLDEN, 'optim/cases.json'), 'utf8')) as { n: number; steps: number; cases: Case[] };
const CASES = meta.cases.filter((c) => c.name.startsWith('ds_cpuadam_'));

const MODES: ('reference' | 'native')[] = ['reference'];
try {
  useKernels('native');
  MODES.push('native');
} catch {
  console.warn('@ds/core native kernels are not built: the CPU Adam golden test runs the TypeScript kernel only');
}
const initial = kernels().name;

let golden: Record<string, Tensor>;
beforeAll(async () => {
  golden = await loadSafetensors(path.join(GOLDEN, 'optim/trajectories.safetensors'));
});
afterAll(() => void useKernels(initial));

function rows(t: Tensor, step: number): Float32Array {
  return t.narrow(0, step, 1).contiguous().toFloat32Array();
}

/** The config section DeepSpeed would build this DeepSpeedCPUAdam from (type "Adam"). */
function section(c: Case) {
  const h = c.hyperparams;
  return {
    type: 'Adam',
    params: { lr: h.lr, betas: h.betas, eps: h.eps, weight_decay: h.weight_decay, adam_w_mode: h.adamw_mode, bias_correction: h.bias_correction },
  };
}

describe('the golden case list', () => {
  it('covers adamw_mode x bias_correction with and without weight decay', () => {
    const combos = new Set(CASES.map((c) => `${c.hyperparams.adamw_mode}/${c.hyperparams.bias_correction}/${c.hyperparams.weight_decay > 0}`));
    for (const want of ['true/true/true', 'true/true/false', 'true/false/true', 'true/false/false', 'false/true/true', 'false/false/true']) {
      expect(combos.has(want), want).toBe(true);
    }
  });
});

describe.each(MODES)('DeepSpeedCPUAdam golden trajectories (%s kernels)', (mode) => {
  beforeAll(() => void useKernels(mode));

  for (const build of ['cpuAdamFromConfig', 'cpuAdam'] as const) {
    it.each(CASES.map((c) => [c.name, c] as const))(`%s through ${build}`, (_name, c) => {
      useKernels(mode);
      const p = new nn.Parameter(golden['param0']!.clone());
      const h = c.hyperparams;
      const opt = build === 'cpuAdamFromConfig'
        ? cpuAdamFromConfig(section(c), [p])
        : cpuAdam([p], { lr: h.lr, betas: h.betas, eps: h.eps, weightDecay: h.weight_decay, adamwMode: h.adamw_mode, biasCorrection: h.bias_correction });
      expect(opt).toBeInstanceOf(h.adamw_mode ? optim.AdamW : optim.Adam);
      for (let s = 0; s < meta.steps; s++) {
        p.grad = tensor(rows(golden['grads']!, s));
        opt.step();
        const st = opt.state.get(p)!;
        for (const [key, got] of [['params', p], ['exp_avg', st.expAvg], ['exp_avg_sq', st.expAvgSq]] as const) {
          const want = rows(golden[`${c.name}.${key}`]!, s);
          const actual = (got as Tensor).toFloat32Array();
          const bad = firstMismatch(actual, want, c.tolerance);
          expect(bad, `${c.name} step ${s} ${key}[${bad}]: got ${actual[bad]}, want ${want[bad]}`).toBe(-1);
        }
      }
    });
  }

  it('bias_correction changes the result (so the cases above can tell the modes apart)', () => {
    useKernels(mode);
    const run = (biasCorrection: boolean) => {
      const p = new nn.Parameter(golden['param0']!.clone());
      const opt = cpuAdam([p], { lr: 0.01, biasCorrection });
      p.grad = tensor(rows(golden['grads']!, 0));
      opt.step();
      return p.toFloat32Array();
    };
    expect(firstMismatch(run(true), run(false), { atol: 1e-6, rtol: 0 })).toBeGreaterThanOrEqual(0);
  });
});

describe('DeepSpeed option mapping', () => {
  it("uses DeepSpeedCPUAdam's defaults: weight decay 0 even in AdamW mode, bias correction on", () => {
    expect(CPU_ADAM_DEFAULTS).toEqual({ lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, adamwMode: true, biasCorrection: true });
    const opt = cpuAdam([new nn.Parameter(tensor([1, 2]))]);
    expect(opt).toBeInstanceOf(optim.AdamW);
    expect(opt.paramGroups[0]!.weightDecay).toBe(0);
    expect(opt.paramGroups[0]!.biasCorrection).toBe(true);
  });

  it('type "Adam" is AdamW unless adam_w_mode is false; "AdamW" always is (engine._configure_basic_optimizer)', () => {
    expect(cpuAdamOptionsFromConfig({ type: 'Adam' }).adamwMode).toBe(true);
    expect(cpuAdamOptionsFromConfig({ type: 'Adam', params: { adam_w_mode: false } }).adamwMode).toBe(false);
    expect(cpuAdamOptionsFromConfig({ type: 'AdamW', params: { adam_w_mode: false } }).adamwMode).toBe(true);
    expect(cpuAdamOptionsFromConfig({ type: 'adamw', params: { weight_decay: 0.01, lr: 3e-4 } })).toEqual({
      lr: 3e-4, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01, adamwMode: true, biasCorrection: true,
    });
  });

  it('names the key and the valid values on bad input', () => {
    expect(() => cpuAdamOptionsFromConfig({ type: 'SGD' })).toThrow(/optimizer\.type: .*needs "Adam" or "AdamW"; got "SGD"/);
    expect(() => cpuAdamOptionsFromConfig({ type: 'Adam', params: { weight_decy: 0.1 } })).toThrow(/unknown key "weight_decy" \(did you mean "weight_decay"\?\)/);
    expect(() => cpuAdamOptionsFromConfig({ type: 'Adam', params: { amsgrad: true } })).toThrow(/optimizer\.params\.amsgrad: .*valid: false/);
    expect(() => cpuAdamOptionsFromConfig({ type: 'Adam', params: { bias_correction: 'no' } })).toThrow(/optimizer\.params\.bias_correction: expected true or false, got "no"/);
    expect(() => cpuAdamOptionsFromConfig({ type: 'Adam', params: { torch_adam: true, bias_correction: false } })).toThrow(/torch_adam .*always bias-correct/);
    expect(() => cpuAdamOptionsFromConfig({ type: 'Adam', params: { betas: [0.9, 1] } })).toThrow(/optimizer\.params\.betas: expected \[beta1, beta2\]/);
    expect(() => cpuAdam([new nn.Parameter(tensor([1]))], { adamMode: true } as never)).toThrow(/unknown key "adamMode" \(did you mean "adamwMode"\?\)/);
  });
});
