// "auto" values. DeepSpeed's pydantic sections drop every entry whose value is "auto" so the
// default applies (the Hugging Face integration fills them in before DeepSpeed sees them); ds
// does the same for every section, batch keys included, and derives what it can.
import { isPlainObject } from './parse.js';
import { joinPath } from './errors.js';

/** DeepSpeed keeps "auto" for this key (an inference-injection setting). */
const KEEP_AUTO = new Set(['replace_method']);

/**
 * A copy of `config` without its "auto" entries, and the dotted paths that held one (so a
 * required value that was "auto" can be reported as such).
 */
export function dropAuto(config: Record<string, unknown>): { value: Record<string, unknown>; autoPaths: Set<string> } {
  const autoPaths = new Set<string>();
  const walk = (v: unknown, path: (string | number)[]): unknown => {
    if (Array.isArray(v)) return v.map((x, i) => walk(x, [...path, i]));
    if (!isPlainObject(v)) return v;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if (x === 'auto' && !KEEP_AUTO.has(k)) autoPaths.add(joinPath([...path, k]));
      else out[k] = walk(x, [...path, k]);
    }
    return out;
  };
  return { value: walk(config, []) as Record<string, unknown>, autoPaths };
}
