// Reading a config: a plain object, a JSON file (comments and trailing commas allowed, repeated
// keys rejected, errors at file:line:column), or URL-safe base64 JSON as DeepSpeed accepts it.
import { readFileSync, statSync } from 'node:fs';
import { parse, printParseErrorCode, visit, type ParseError } from 'jsonc-parser';
import { ConfigError, joinPath, type ConfigIssue } from './errors.js';

export interface LoadedConfig {
  value: Record<string, unknown>;
  /** The file the config was read from (undefined for objects and base64 strings). */
  source: string | undefined;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The config as a plain object; a bad file or string throws a ConfigError saying where. */
export function loadConfig(config: unknown): LoadedConfig {
  if (typeof config === 'string') return loadString(config);
  if (isPlainObject(config)) return { value: config, source: undefined };
  const got = config === null ? 'null' : Array.isArray(config) ? 'an array' : typeof config;
  throw new ConfigError([{ path: '', message: `expected an object, a path to a JSON file or base64-encoded JSON, got ${got}` }]);
}

function loadString(s: string): LoadedConfig {
  if (isFile(s)) return { value: parseConfigText(readFileSync(s, 'utf8'), s), source: s };
  const decoded = decodeBase64Json(s);
  if (decoded !== undefined) return { value: decoded, source: undefined };
  const short = s.length > 80 ? `${s.slice(0, 77)}...` : s;
  const looksLikePath = /[/\\]|\.jsonc?$/i.test(s);
  throw new ConfigError([
    {
      path: '',
      message: looksLikePath
        ? `config file ${JSON.stringify(short)} does not exist`
        : `${JSON.stringify(short)} is neither an existing file nor URL-safe base64-encoded JSON`,
    },
  ]);
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

function decodeBase64Json(s: string): Record<string, unknown> | undefined {
  const t = s.trim();
  if (t === '' || !/^[A-Za-z0-9_\-+/]+={0,2}$/.test(t)) return undefined;
  try {
    const v: unknown = JSON.parse(Buffer.from(t, 'base64url').toString('utf8'));
    return isPlainObject(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

const PARSE_MESSAGES: Record<string, string> = {
  InvalidSymbol: 'unexpected character',
  InvalidNumberFormat: 'invalid number',
  PropertyNameExpected: 'expected a key in double quotes',
  ValueExpected: 'expected a value',
  ColonExpected: 'expected ":"',
  CommaExpected: 'expected "," between entries',
  CloseBraceExpected: 'expected "}"',
  CloseBracketExpected: 'expected "]"',
  EndOfFileExpected: 'unexpected text after the end of the config',
  InvalidCommentToken: 'invalid comment',
  UnexpectedEndOfComment: 'unterminated /* comment',
  UnexpectedEndOfString: 'unterminated string',
  UnexpectedEndOfNumber: 'unterminated number',
  InvalidUnicode: 'invalid \\u escape',
  InvalidEscapeCharacter: 'invalid escape character',
  InvalidCharacter: 'invalid character in a string',
};

/**
 * Parse config text (JSON with comments and trailing commas). Syntax errors and repeated keys
 * throw one ConfigError whose issues read `file:line:column: what`.
 */
export function parseConfigText(text: string, source = '<config>'): Record<string, unknown> {
  const issues: ConfigIssue[] = [];
  const lineStarts = [0];
  for (let i = 0; i < text.length; i++) if (text[i] === '\n') lineStarts.push(i + 1);
  const at = (offset: number) => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return `${lo + 1}:${offset - lineStarts[lo]! + 1}`;
  };

  if (text.trim() === '') throw new ConfigError([{ path: '', message: `${source} is empty; expected a JSON object` }], source);
  const errors: ParseError[] = [];
  const value: unknown = parse(text, errors, { allowTrailingComma: true, disallowComments: false });
  for (const e of errors) {
    const code = printParseErrorCode(e.error);
    issues.push({ path: '', message: `${source}:${at(e.offset)}: ${PARSE_MESSAGES[code] ?? code}` });
  }

  // Each open object's keys with where they first appeared; JSON.parse would keep the last silently.
  const seen: Map<string, number>[] = [];
  visit(
    text,
    {
      onObjectBegin: () => void seen.push(new Map()),
      onObjectEnd: () => void seen.pop(),
      onObjectProperty: (key, offset, _len, _line, _col, pathSupplier) => {
        const keys = seen[seen.length - 1];
        if (!keys) return;
        const first = keys.get(key);
        if (first === undefined) keys.set(key, offset);
        else {
          const full = joinPath([...pathSupplier(), key]);
          issues.push({ path: full, message: `${source}:${at(offset)}: key "${key}" appears twice (first at ${at(first)}); keep one` });
        }
      },
    },
    { allowTrailingComma: true, disallowComments: false },
  );

  if (issues.length > 0) throw new ConfigError(issues, source);
  if (!isPlainObject(value)) {
    throw new ConfigError([{ path: '', message: `${source}: the top level must be a JSON object {...}, got ${Array.isArray(value) ? 'an array' : typeof value}` }], source);
  }
  return value;
}
