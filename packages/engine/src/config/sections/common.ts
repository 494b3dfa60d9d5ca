// Building blocks shared by the section schemas: strict objects (unknown keys are errors at
// every level, unlike DeepSpeed) and DeepSpeed's scalar kinds with their defaults.
import * as z from 'zod';

/** A section object: unknown keys are reported (with a "did you mean") instead of ignored. */
export const strict = z.strictObject;

/**
 * A sub-object that is always present after parsing: missing → every field at its default.
 * (zod's `.default({})` would return the literal `{}` without filling the fields' defaults.)
 */
export function always<T extends z.ZodType>(schema: T) {
  return schema.prefault({} as z.input<T>);
}

/** A sub-object DeepSpeed keeps as None when absent. */
export function orNull<T extends z.ZodType>(schema: T) {
  return schema.nullable().default(null);
}

export const bool = (def: boolean) => z.boolean().default(def);
export const int = (def: number) => z.number().int().default(def);
export const nonNegInt = (def: number) => z.number().int().min(0).default(def);
export const posInt = (def: number) => z.number().int().min(1).default(def);
export const num = (def: number) => z.number().default(def);
export const nonNeg = (def: number) => z.number().min(0).default(def);
export const str = (def: string) => z.string().default(def);
export const nullableStr = () => z.string().nullable().default(null);
export const nullableInt = () => z.number().int().nullable().default(null);
export const nullableNum = () => z.number().nullable().default(null);
/** A free-form object DeepSpeed hands to a sub-system whose keys are user-named (groups, layers). */
export const record = () => z.record(z.string(), z.unknown());

/** The monitors' shared fields (tensorboard, csv_monitor). */
export const outputMonitor = () =>
  always(
    strict({
      enabled: bool(false),
      output_path: str(''),
      job_name: str('DeepSpeedJobName'),
    }),
  );
