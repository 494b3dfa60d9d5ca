// Per-parameter gradient holders: where a parameter's gradient accumulates across micro-batches.
import { describe, expect, it } from 'vitest';
import { nn, zeros } from '@ds/core';
import { gradHolderOf, setGradHolder } from '@ds/strategy';

describe('setGradHolder / gradHolderOf', () => {
  it('a parameter holds its own gradient until a strategy names a holder of its shape', () => {
    const p = new nn.Parameter(zeros([2, 3]).to('bfloat16'));
    expect(gradHolderOf(p)).toBe(p);
    const master = new nn.Parameter(zeros([2, 3]));
    setGradHolder(p, master);
    expect(gradHolderOf(p)).toBe(master);
    expect(gradHolderOf(master)).toBe(master);
  });

  it('rejects a holder of another shape, naming both', () => {
    const p = new nn.Parameter(zeros([2, 3]));
    expect(() => setGradHolder(p, zeros([6]))).toThrow("setGradHolder: 'holder' has shape [6] but the parameter has shape [2, 3]; they must match");
    expect(gradHolderOf(p)).toBe(p);
  });
});
