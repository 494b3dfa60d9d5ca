// Checks a checkpoint's tensors against the live model and optimizer before anything is
// applied; each error names the checkpoint, the tensor and what was expected.
import { Tensor, type nn, type optim } from '@ds/core';
import type { StateValue } from '@ds/strategy';

export function validateModel(module: nn.Module, saved: Record<string, Tensor>, dir: string): void {
  const live = module.stateDict();
  const missing = Object.keys(live).filter((k) => !(k in saved));
  const unexpected = Object.keys(saved).filter((k) => !(k in live));
  if (missing.length || unexpected.length) {
    const parts = [];
    if (missing.length) parts.push(`missing ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ` and ${missing.length - 5} more` : ''}`);
    if (unexpected.length) parts.push(`unexpected ${unexpected.slice(0, 5).join(', ')}${unexpected.length > 5 ? ` and ${unexpected.length - 5} more` : ''}`);
    throw new Error(`loadCheckpoint: ${dir} does not match the model: ${parts.join('; ')}`);
  }
  for (const [k, t] of Object.entries(live)) {
    const s = saved[k]!;
    if (s.shape.join(',') !== t.shape.join(',')) {
      throw new Error(`loadCheckpoint: ${dir}: ${k} has shape [${s.shape.join(', ')}] in the checkpoint but [${t.shape.join(', ')}] in the model`);
    }
  }
}

export function validateOptimizer(opt: optim.Optimizer<object>, state: StateValue, dir: string): void {
  const sd = state as { state?: Record<string, Record<string, StateValue>>; paramGroups?: { params?: number[] }[] };
  if (!sd || typeof sd !== 'object' || !Array.isArray(sd.paramGroups) || typeof sd.state !== 'object') {
    throw new Error(`loadCheckpoint: ${dir}: the optimizer state is not { state, paramGroups }`);
  }
  if (sd.paramGroups.length !== opt.paramGroups.length) {
    throw new Error(`loadCheckpoint: ${dir}: the checkpoint's optimizer has ${sd.paramGroups.length} parameter group(s), this one ${opt.paramGroups.length}`);
  }
  const params = opt.paramGroups.flatMap((g) => g.params);
  sd.paramGroups.forEach((g, gi) => {
    const n = g.params?.length ?? -1;
    if (n !== opt.paramGroups[gi]!.params.length) {
      throw new Error(`loadCheckpoint: ${dir}: optimizer param group ${gi} has ${n} parameter(s) in the checkpoint, ${opt.paramGroups[gi]!.params.length} here`);
    }
  });
  for (const [idx, entry] of Object.entries(sd.state ?? {})) {
    const p = params[Number(idx)];
    if (!p) throw new Error(`loadCheckpoint: ${dir}: optimizer state for parameter ${idx}, but the optimizer has ${params.length}`);
    for (const [key, v] of Object.entries(entry)) {
      if (v instanceof Tensor && v.shape.join(',') !== p.shape.join(',')) {
        throw new Error(`loadCheckpoint: ${dir}: optimizer state '${key}' of parameter ${idx} has shape [${v.shape.join(', ')}], the parameter [${p.shape.join(', ')}]`);
      }
    }
  }
}
