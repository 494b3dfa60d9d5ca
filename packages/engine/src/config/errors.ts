// The errors a DeepSpeed config can raise: one ConfigError carrying every problem found, and
// the error for a config section whose strategy package is not installed.

/** One problem in a config: the dotted key path (empty for the config as a whole) and what is wrong. */
export interface ConfigIssue {
  path: string;
  message: string;
}

/** Every problem found in a config, reported at once so one edit can fix them all. */
export class ConfigError extends Error {
  readonly issues: ConfigIssue[];
  /** The file the config came from, when it was read from one. */
  readonly source: string | undefined;

  constructor(issues: ConfigIssue[], source?: string) {
    const where = source === undefined ? 'DeepSpeed config' : `DeepSpeed config ${source}`;
    const lines = issues.map((i) => `  - ${i.path === '' ? '' : `${i.path}: `}${i.message}`);
    super(`${where}: ${issues.length} problem${issues.length === 1 ? '' : 's'}\n${lines.join('\n')}`);
    this.name = 'ConfigError';
    this.issues = issues;
    this.source = source;
  }
}

/** A config section needs a strategy package that cannot be imported. */
export class MissingPackageError extends Error {
  readonly section: string;
  readonly packageName: string;

  constructor(section: string, packageName: string, reason?: string) {
    const what = reason === undefined ? `config section "${section}"` : `config section "${section}" (${reason})`;
    super(`${what} needs ${packageName}, which is not installed: pnpm add ${packageName}`);
    this.name = 'MissingPackageError';
    this.section = section;
    this.packageName = packageName;
  }
}

/**
 * The error for a config section whose package is missing, e.g.
 * `config section "zero_optimization" (stage 2) needs @ds/zero, which is not installed: pnpm add @ds/zero`.
 */
export function missingPackageError(section: string, packageName: string, reason?: string): MissingPackageError {
  return new MissingPackageError(section, packageName, reason);
}

/** Collects issues while a config is checked; paths are joined with dots. */
export class IssueList {
  readonly items: ConfigIssue[] = [];

  add(path: string | readonly (string | number)[], message: string): void {
    this.items.push({ path: typeof path === 'string' ? path : joinPath(path), message });
  }

  get size(): number {
    return this.items.length;
  }
}

/** `["zero_optimization", "offload_param", "device"]` → `zero_optimization.offload_param.device`; indices as `[i]`. */
export function joinPath(path: readonly (string | number | symbol)[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? String(p) : `.${String(p)}`;
  }
  return out;
}

/** A value as it should appear in an error message: JSON, shortened. */
export function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  let s: string;
  try {
    s = JSON.stringify(value) ?? String(value);
  } catch {
    s = String(value);
  }
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}
