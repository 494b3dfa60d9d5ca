// Resolving the "optimizer" section: DeepSpeed's type normalisation (§1.4, §5.1) and the
// params of the optimizer that type builds, checked and completed with its defaults.
import type * as z from 'zod';
import { show, type IssueList } from './errors.js';
import { toConfigIssues } from './issues.js';
import {
  DEEPSPEED_OPTIMIZERS, OPTIMIZER_DISPLAY_NAMES, OPTIMIZER_PARAMS, TORCH_ONLY_OPTIMIZERS,
  type OptimizerConfig, type OptimizerType, type optimizerSectionSchema,
} from './sections/optimizer.js';
import { closest } from './suggest.js';

type Section = z.output<typeof optimizerSectionSchema>;

/** DeepSpeed lower-cases its own names ("AdamW" → "adamw"); any other name is a torch.optim class, case-sensitive. */
export function normaliseOptimizerType(type: string): OptimizerType | undefined {
  const lower = type.toLowerCase();
  if ((DEEPSPEED_OPTIMIZERS as readonly string[]).includes(lower)) return lower as OptimizerType;
  return type === 'SGD' ? 'SGD' : undefined;
}

export function resolveOptimizer(section: Section, issues: IssueList, warnings: string[], autoPaths: ReadonlySet<string>): OptimizerConfig | null {
  const type = normaliseOptimizerType(section.type);
  if (type === undefined) {
    const suggestion = closest(section.type, OPTIMIZER_DISPLAY_NAMES);
    const torchOnly = TORCH_ONLY_OPTIMIZERS.includes(section.type) ? ` (torch.optim.${section.type} has no ds implementation)` : '';
    issues.add(
      'optimizer.type',
      `${show(section.type)} is not an optimizer ds provides${torchOnly}${suggestion ? `; did you mean "${suggestion}"?` : ''}` +
        ` (valid: ${OPTIMIZER_DISPLAY_NAMES.join(', ')}; or pass your own optimizer to initialize())`,
    );
    return null;
  }

  const params: Record<string, unknown> = { ...(section.params ?? {}) };
  // DeepSpeed refuses this key at optimizer construction: clipping is the engine's job.
  if ('max_grad_norm' in params) {
    issues.add('optimizer.params.max_grad_norm', `not accepted here (got ${show(params.max_grad_norm)}); use the top-level "gradient_clipping": ${show(params.max_grad_norm)} instead`);
    delete params.max_grad_norm;
  }
  if (type === 'adamw' && params.adam_w_mode === false) {
    warnings.push('optimizer.params.adam_w_mode: false has no effect with type "AdamW" (AdamW always decouples weight decay); use type "Adam" for L2-style decay');
  }

  const schema = OPTIMIZER_PARAMS[type] as z.ZodType;
  const parsed = schema.safeParse(params);
  if (!parsed.success) {
    for (const issue of toConfigIssues(parsed.error, { input: params, schema, prefix: ['optimizer', 'params'], autoPaths })) {
      issues.add(issue.path, type === section.type ? issue.message : `${issue.message} (for optimizer type "${section.type}")`);
    }
    return null;
  }
  const resolved = parsed.data as Record<string, unknown>;
  if (type === 'adamw') resolved.adam_w_mode = true;
  return { type, params: resolved, legacy_fusion: section.legacy_fusion } as OptimizerConfig;
}
