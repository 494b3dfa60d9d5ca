// Schedule parameters: one table per schedule maps each option (camelCase in the classes,
// DeepSpeed's snake_case in configs) to its default and its check, so both spellings are
// validated by the same code and every error names the key the caller actually wrote.
import { show, unknownNameHint } from './suggest.js';

export type KeyStyle = 'camel' | 'snake';

export interface ParseContext {
  /** Schedule name, the prefix of every message ("WarmupLR: ..."). */
  readonly schedule: string;
  readonly groups: number;
}

export interface Field<T> {
  readonly snake: string;
  /** Raw default, run through `read` like a given value; absent means required. */
  readonly default?: unknown;
  /** One line on what the param is, used when it is missing. */
  readonly about?: string;
  read(value: unknown, key: string, ctx: ParseContext): T;
}

export type Fields<O> = { readonly [K in keyof O]-?: Field<O[K]> };

/** Validate `raw` against `fields` and fill defaults; unknown keys get a did-you-mean. */
export function parseOptions<O>(ctx: ParseContext, fields: Fields<O>, raw: unknown, style: KeyStyle): O {
  const what = style === 'snake' ? 'params' : 'options';
  if (raw === undefined || raw === null) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new TypeError(`${ctx.schedule}: ${what} must be an object of named values, got ${show(raw)}`);
  }
  const entries = Object.entries(fields) as [keyof O & string, Field<unknown>][];
  const keyOf = (camel: string, f: Field<unknown>): string => (style === 'snake' ? f.snake : camel);
  const known = entries.map(([camel, f]) => keyOf(camel, f));
  const given = raw as Record<string, unknown>;
  for (const k of Object.keys(given)) {
    if (!known.includes(k)) throw new RangeError(`${ctx.schedule}: unknown ${style === 'snake' ? 'param' : 'option'} '${k}'${unknownNameHint(k, known)}`);
  }
  const out: Record<string, unknown> = {};
  for (const [camel, f] of entries) {
    const key = keyOf(camel, f);
    let value = given[key];
    if (value === undefined) {
      if (!('default' in f)) {
        throw new RangeError(`${ctx.schedule}: missing required ${style === 'snake' ? 'param' : 'option'} '${key}'${f.about ? ` (${f.about})` : ''}`);
      }
      value = f.default;
    }
    out[camel] = f.read(value, key, ctx);
  }
  return out as O;
}

function isNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/** A non-negative number, or a list with one per param group (DeepSpeed's `_format_param`). */
export function perGroup(snake: string, dflt?: number, about?: string): Field<number[]> {
  return {
    snake,
    ...(dflt === undefined ? {} : { default: dflt }),
    ...(about === undefined ? {} : { about }),
    read(v, key, ctx) {
      if (Array.isArray(v)) {
        if (v.length !== ctx.groups) {
          throw new RangeError(`${ctx.schedule}: expected ${ctx.groups} value${ctx.groups === 1 ? '' : 's'} for ${key} (one per param group), got ${v.length}: ${show(v)}`);
        }
        return v.map((x, i) => {
          if (!isNumber(x) || x < 0) throw new RangeError(`${ctx.schedule}: ${key}[${i}] must be a non-negative number, got ${show(x)}`);
          return x;
        });
      }
      if (!isNumber(v) || v < 0) {
        throw new RangeError(`${ctx.schedule}: ${key} must be a non-negative number or a list of ${ctx.groups} (one per param group), got ${show(v)}`);
      }
      return new Array<number>(ctx.groups).fill(v);
    },
  };
}

export function number(snake: string, dflt: number | undefined, min: number, opts: { exclusive?: boolean; about?: string } = {}): Field<number> {
  const bound = opts.exclusive ? `> ${min}` : `>= ${min}`;
  return {
    snake,
    ...(dflt === undefined ? {} : { default: dflt }),
    ...(opts.about === undefined ? {} : { about: opts.about }),
    read(v, key, ctx) {
      const ok = isNumber(v) && (opts.exclusive ? v > min : v >= min);
      if (!ok) throw new RangeError(`${ctx.schedule}: ${key} must be a finite number ${bound}, got ${show(v)}`);
      return v;
    },
  };
}

/** A number or null (DeepSpeed's `None`: "same as the first one"). */
export function optionalNumber(snake: string, min: number, exclusive: boolean): Field<number | null> {
  const inner = number(snake, undefined, min, { exclusive });
  return {
    snake,
    default: null,
    read(v, key, ctx) {
      return v === null ? null : inner.read(v, key, ctx);
    },
  };
}

export function boolean(snake: string, dflt: boolean): Field<boolean> {
  return {
    snake,
    default: dflt,
    read(v, key, ctx) {
      if (typeof v !== 'boolean') throw new TypeError(`${ctx.schedule}: ${key} must be true or false, got ${show(v)}`);
      return v;
    },
  };
}

export type WarmupType = 'log' | 'linear';

/**
 * DeepSpeed logs a warning and falls back to 'log' for an unknown warmup_type (and its
 * WarmupCosineLR then crashes on first use). ds rejects it: a silent change of the warm-up
 * curve is worse than a config error.
 */
export function warmupType(snake: string): Field<WarmupType> {
  return {
    snake,
    default: 'log',
    read(v, key, ctx) {
      if (v === 'log' || v === 'linear') return v;
      const hint = typeof v === 'string' ? unknownNameHint(v, ['log', 'linear']) : '';
      throw new RangeError(`${ctx.schedule}: ${key} must be 'log' or 'linear', got ${show(v)}${hint.startsWith(' (') ? hint : ''}`);
    },
  };
}

/** `last_batch_iteration`: -1 (a fresh schedule) or the iteration to resume from. */
export function iteration(snake: string): Field<number> {
  return {
    snake,
    default: -1,
    read(v, key, ctx) {
      if (!Number.isInteger(v) || (v as number) < -1) {
        throw new RangeError(`${ctx.schedule}: ${key} must be an integer >= -1 (-1 starts the schedule), got ${show(v)}`);
      }
      return v as number;
    },
  };
}
