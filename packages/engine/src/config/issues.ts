// Turns zod's validation issues into ds config issues: the full key path, the value that was
// given, and what would be valid (enum values, type, range, the keys a section knows).
import type * as z from 'zod';
import { joinPath, show, type ConfigIssue } from './errors.js';
import { closest } from './suggest.js';

type Path = readonly PropertyKey[];

export interface IssueContext {
  /** The object the schema was run on (values are looked up in it by path). */
  input: unknown;
  schema: z.ZodType;
  /** Path of `input` inside the whole config. */
  prefix?: readonly (string | number)[];
  /** Full dotted paths whose value was "auto" (dropped before validation). */
  autoPaths?: ReadonlySet<string>;
}

export function toConfigIssues(error: z.ZodError, ctx: IssueContext): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const issue of error.issues) out.push(...convert(issue, ctx));
  return out;
}

function convert(issue: z.core.$ZodIssue, ctx: IssueContext): ConfigIssue[] {
  const prefix = ctx.prefix ?? [];
  const full = (p: Path) => joinPath([...prefix, ...(p as (string | number)[])]);
  const value = valueAt(ctx.input, issue.path);
  const at = full(issue.path);

  // A message the schema wrote itself already says what is valid.
  if (issue.code !== 'unrecognized_keys' && !/^(Invalid|Too (small|big)|Unrecognized)/.test(issue.message)) {
    return [{ path: at, message: value === undefined ? issue.message : `${issue.message}; got ${show(value)}` }];
  }
  switch (issue.code) {
    case 'unrecognized_keys': {
      const known = keysAt(ctx.schema, issue.path);
      return issue.keys.map((key) => {
        const suggestion = known.length > 0 ? closest(key, known) : undefined;
        const where = issue.path.length === 0 && prefix.length === 0 ? 'not a DeepSpeed config key' : `not a key of ${full(issue.path) || 'this section'}`;
        const hint = suggestion !== undefined ? `did you mean "${suggestion}"?` : known.length <= 16 ? `valid keys: ${known.join(', ')}` : '';
        return { path: full([...issue.path, key]), message: `unknown key (${where})${hint ? `; ${hint}` : ''}` };
      });
    }
    case 'invalid_type': {
      if (value === undefined) {
        if (ctx.autoPaths?.has(at)) {
          return [{ path: at, message: `"auto" cannot be resolved here (ds has no trainer to fill it in); set ${article(issue.expected)}` }];
        }
        return [{ path: at, message: `required; expected ${article(issue.expected)}` }];
      }
      const expected = issue.expected === 'int' ? 'an integer' : article(issue.expected);
      return [{ path: at, message: `expected ${expected}, got ${show(value)}` }];
    }
    case 'invalid_value': {
      const values = issue.values.map((v) => show(v));
      const suggestion = typeof value === 'string' ? closest(value, issue.values.filter((v): v is string => typeof v === 'string')) : undefined;
      const hint = suggestion !== undefined ? `; did you mean "${suggestion}"?` : '';
      return [{ path: at, message: `got ${show(value)}; valid: ${values.join(', ')}${hint}` }];
    }
    case 'too_small':
    case 'too_big': {
      const bound = issue.code === 'too_small' ? issue.minimum : issue.maximum;
      const op = issue.code === 'too_small' ? (issue.inclusive ? '>=' : '>') : issue.inclusive ? '<=' : '<';
      if (issue.origin === 'array') return [{ path: at, message: `got ${show(value)}; expected ${op} ${String(bound)} entries` }];
      if (issue.origin === 'string') return [{ path: at, message: `got ${show(value)}; must not be empty` }];
      return [{ path: at, message: `got ${show(value)}; must be ${op} ${String(bound)}` }];
    }
    default:
      return [{ path: at, message: `invalid value ${show(value)}` }];
  }
}

function article(t: string): string {
  if (t === 'int') return 'an integer';
  if (t === 'object') return 'an object {...}';
  if (t === 'array') return 'a list [...]';
  if (t === 'undefined' || t === 'never') return 'nothing';
  return /^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`;
}

function valueAt(root: unknown, path: Path): unknown {
  let v = root;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  in?: z.ZodType;
  out?: z.ZodType;
  options?: z.ZodType[];
  element?: z.ZodType;
  valueType?: z.ZodType;
  items?: z.ZodType[];
}

const defOf = (s: z.ZodType) => (s as unknown as { _zod: { def: Def } })._zod.def;

/** The keys the object schema at `path` declares (for "did you mean" and "valid keys"). */
export function keysAt(schema: z.ZodType, path: Path): string[] {
  const found = objectAt(schema, path);
  return found ? Object.keys(found) : [];
}

function objectAt(schema: z.ZodType, path: Path): Record<string, z.ZodType> | undefined {
  const def = defOf(schema);
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'catch':
    case 'nonoptional':
      return objectAt(def.innerType!, path);
    case 'pipe':
      return objectAt(defOf(def.in!).type === 'transform' ? def.out! : def.in!, path);
    case 'union':
      for (const o of def.options ?? []) {
        const r = objectAt(o, path);
        if (r) return r;
      }
      return undefined;
    case 'object':
      if (path.length === 0) return def.shape;
      return def.shape && typeof path[0] === 'string' && def.shape[path[0]] ? objectAt(def.shape[path[0]]!, path.slice(1)) : undefined;
    case 'array':
      return path.length > 0 ? objectAt(def.element!, path.slice(1)) : undefined;
    case 'tuple':
      return path.length > 0 && typeof path[0] === 'number' && def.items?.[path[0]] ? objectAt(def.items[path[0]]!, path.slice(1)) : undefined;
    case 'record':
      return path.length > 0 ? objectAt(def.valueType!, path.slice(1)) : undefined;
    default:
      return undefined;
  }
}
