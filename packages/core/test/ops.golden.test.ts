import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, it } from 'vitest';
import { functional as F, loadSafetensors, tensor, useKernels, type Tensor } from '../src/index.js';
import { GOLDEN, KERNEL_MODES, expectClose, type Tolerance } from './golden.js';

interface OpCase {
  name: string;
  op: string;
  file: string;
  prefix: string;
  params: Record<string, unknown>;
  inputs: Record<string, { shape: number[]; dtype: string }>;
  outputs: Record<string, number[]>;
  input_grads: string[];
  tolerance: { outputs: Tolerance; input_grads: Tolerance };
}

const { cases } = JSON.parse(readFileSync(path.join(GOLDEN, 'ops/cases.json'), 'utf8')) as { cases: OpCase[] };

function run(c: OpCase, x: Record<string, Tensor>): Record<string, Tensor> {
  const p = c.params;
  switch (c.op) {
    case 'matmul':
      return { out: F.matmul(x.a!, x.b!) };
    case 'add':
      return { out: F.add(x.a!, x.b!) };
    case 'mul':
      return { out: F.mul(x.a!, x.b!) };
    case 'sum':
      return { out: F.sum(x.x!, p.dim as number[] | null, p.keepdim as boolean) };
    case 'mean':
      return { out: F.mean(x.x!, p.dim as number[] | null, p.keepdim as boolean) };
    case 'softmax':
      return { out: F.softmax(x.x!, p.dim as number) };
    case 'log_softmax':
      return { out: F.logSoftmax(x.x!, p.dim as number) };
    case 'layer_norm':
      return { out: F.layerNorm(x.x!, p.normalized_shape as number[], x.weight, x.bias, p.eps as number) };
    case 'gelu':
      return { out: F.gelu(x.x!, p.approximate as 'none' | 'tanh') };
    case 'embedding':
      return { out: F.embedding(x.ids!, x.weight!) };
    case 'cross_entropy':
      return { out: F.crossEntropy(x.logits!, x.targets!, { ignoreIndex: p.ignore_index as number }) };
    case 'causal_attention': {
      const d = x.q!.shape[3]!;
      const t = x.q!.shape[2]!;
      const scores = F.mul(F.matmul(x.q!.detach(), F.transpose(x.k!.detach(), -1, -2)), 1 / Math.sqrt(d));
      const mask = F.maskedFill(F.mul(scores, 0), causalMask(t), -Infinity);
      return { out: F.scaledDotProductAttention(x.q!, x.k!, x.v!, { isCausal: true }), probs: F.softmax(F.add(scores, mask), -1) };
    }
    case 'transpose':
      return { out: F.transpose(x.x!, p.dim0 as number, p.dim1 as number) };
    case 'reshape': {
      let y = x.x!;
      for (const [op, ...args] of p.ops as [string, ...unknown[]][]) {
        y = op === 'reshape' ? F.reshape(y, args[0] as number[]) : F.transpose(y, args[0] as number, args[1] as number);
      }
      return { out: y };
    }
  }
  throw new Error(`no runner for op ${c.op}`);
}

function causalMask(t: number): Tensor {
  const m: number[][] = Array.from({ length: t }, (_, i) => Array.from({ length: t }, (_, j) => (j > i ? 1 : 0)));
  return tensor(m);
}

describe.each(KERNEL_MODES)('ops golden (%s kernels)', (mode) => {
  useKernels(mode);
  afterAll(() => useKernels('reference'));
  for (const c of cases) {
    it(c.name, async () => {
      useKernels(mode);
      const data = await loadSafetensors(path.join(GOLDEN, 'ops', c.file));
      const get = (n: string): Tensor => {
        const t = data[c.prefix + n];
        if (!t) throw new Error(`golden tensor ${c.prefix + n} missing`);
        return t;
      };
      const inputs: Record<string, Tensor> = {};
      for (const [n, spec] of Object.entries(c.inputs)) {
        const t = get(n);
        inputs[n] = spec.dtype === 'F32' ? t.clone().requiresGrad_() : t;
      }
      const outs = run(c, inputs);
      for (const n of Object.keys(c.outputs)) expectClose(outs[n]!, get(n), c.tolerance.outputs, `${c.name}.${n}`);
      outs.out!.backward(get('grad_out'));
      for (const gname of c.input_grads) {
        const input = inputs[gname.slice('grad_'.length)]!;
        if (!input.grad) throw new Error(`${c.name}: no gradient reached ${gname}`);
        expectClose(input.grad, get(gname), c.tolerance.input_grads, `${c.name}.${gname}`);
      }
    });
  }
});
