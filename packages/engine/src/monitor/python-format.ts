// Python's repr() of floats, so log lines read as DeepSpeed's do (`lr=[1e-05, 0.001]`).

/** repr(float): shortest round-trip digits; exponent form below 1e-4 and from 1e16; integral values end in ".0". */
export function pyFloat(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mantissa, expText] = x.toExponential().split('e') as [string, string];
  const exp = Number(expText);
  const sign = mantissa.startsWith('-') ? '-' : '';
  const digits = mantissa.replace('-', '').replace('.', '');
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
  const intPart = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
  const frac = digits.slice(exp + 1);
  return `${sign}${intPart}.${frac || '0'}`;
}

/** A Python list of floats or of float tuples: `[0.001, 0.002]`, `[(0.9, 0.999)]`. */
export function pyList(values: readonly (number | readonly number[])[]): string {
  return `[${values.map((v) => (typeof v === 'number' ? pyFloat(v) : `(${v.map(pyFloat).join(', ')})`)).join(', ')}]`;
}
