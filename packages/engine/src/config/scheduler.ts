// Resolving the "scheduler" section: one of DeepSpeed's five LR schedules (§4), with its
// parameters checked against the schedule's constructor and completed with its defaults.
import type * as z from 'zod';
import { show, type IssueList } from './errors.js';
import { toConfigIssues } from './issues.js';
import { SCHEDULER_PARAMS, SCHEDULER_TYPES, type SchedulerConfig, type SchedulerType, type schedulerSectionSchema } from './sections/scheduler.js';
import { closest } from './suggest.js';

type Section = z.output<typeof schedulerSectionSchema>;

export function resolveScheduler(section: Section, issues: IssueList, warnings: string[], autoPaths: ReadonlySet<string>): SchedulerConfig | null {
  if (!(SCHEDULER_TYPES as string[]).includes(section.type)) {
    const suggestion = closest(section.type, SCHEDULER_TYPES);
    issues.add(
      'scheduler.type',
      `${show(section.type)} is not an LR schedule ds provides${suggestion ? `; did you mean "${suggestion}"?` : ''}` +
        ` (valid: ${SCHEDULER_TYPES.join(', ')}; or pass your own scheduler to initialize())`,
    );
    return null;
  }
  const type = section.type as SchedulerType;
  const params = section.params ?? {};
  const schema = SCHEDULER_PARAMS[type] as z.ZodType;
  const parsed = schema.safeParse(params);
  if (!parsed.success) {
    for (const issue of toConfigIssues(parsed.error, { input: params, schema, prefix: ['scheduler', 'params'], autoPaths })) {
      issues.add(issue.path, `${issue.message} (for scheduler ${type})`);
    }
    return null;
  }
  const p = parsed.data as Record<string, unknown>;
  if ((type === 'WarmupDecayLR' || type === 'WarmupCosineLR') && (p.total_num_steps as number) < (p.warmup_num_steps as number)) {
    warnings.push(`scheduler.params.total_num_steps ${String(p.total_num_steps)} is less than warmup_num_steps ${String(p.warmup_num_steps)}: the schedule ends before warm-up does`);
  }
  if (type === 'OneCycle' && (p.cycle_min_lr as number) > (p.cycle_max_lr as number)) {
    issues.add('scheduler.params.cycle_min_lr', `got ${String(p.cycle_min_lr)}; must be <= cycle_max_lr (${String(p.cycle_max_lr)})`);
    return null;
  }
  return { type, params: p } as SchedulerConfig;
}
