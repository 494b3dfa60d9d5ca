// Error messages worded alike across the package: where, which argument, what was expected,
// what was received.

/** "number 3", "Float32Array(4)", "string \"x\"", "null", ... */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (typeof v === 'number') return `number ${v}`;
  if (typeof v === 'string') return `string ${JSON.stringify(v)}`;
  if (typeof v === 'boolean') return `boolean ${v}`;
  if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${(v as unknown as { length: number }).length})`;
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === 'object') return v.constructor && v.constructor !== Object ? `a ${v.constructor.name}` : 'an object';
  return typeof v;
}

/** TypeError "`where`: 'name' must be `expected`, got `actual`". */
export function invalidArgument(where: string, name: string, expected: string, actual: unknown): TypeError {
  return new TypeError(`${where}: '${name}' must be ${expected}, got ${describeValue(actual)}`);
}
