// A readable, stable printout of a resolved config, one sorted `key.path ..... value` line per
// leaf, like DeepSpeed's "DeepSpeedEngine configuration:" block.
import type { ResolvedConfig } from './resolve.js';

export function formatConfig(config: ResolvedConfig): string {
  const rows: [string, string][] = [];
  const walk = (v: unknown, path: string) => {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const keys = Object.keys(v).sort();
      if (keys.length === 0) rows.push([path, '{}']);
      for (const k of keys) walk((v as Record<string, unknown>)[k], path === '' ? k : `${path}.${k}`);
    } else if (v !== undefined) {
      rows.push([path, formatValue(v)]);
    }
  };
  walk(config, '');
  rows.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const width = Math.max(...rows.map(([k]) => k.length)) + 3;
  return rows.map(([k, v]) => `  ${k} ${'.'.repeat(width - k.length)} ${v}`).join('\n');
}

function formatValue(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}
