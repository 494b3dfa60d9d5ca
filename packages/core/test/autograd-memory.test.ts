// Backward must not keep alive what its caller has let go: a gradient dropped by a
// post-accumulate hook (ZeRO frees each one once reduced) and, after backward, the activations
// the freed graph saved. Checked with WeakRefs and a forced full GC.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { functional as F, type Tensor } from '../src/index.js';
import { leafOf } from './unit-helpers.js';

setFlagsFromString('--expose-gc');
// Free array buffers inside gc() itself: by default a background thread frees them later, which
// on a loaded machine lands after the readings below.
setFlagsFromString('--no-concurrent-array-buffer-sweeping');
const gc = runInNewContext('gc') as () => void;

async function collected(ref: WeakRef<object>): Promise<boolean> {
  for (let i = 0; i < 5 && ref.deref(); i++) {
    await new Promise((r) => setTimeout(r, 0));
    gc();
  }
  return ref.deref() === undefined;
}

describe('autograd memory', () => {
  it('gradients post-accumulate hooks drop are freed while backward is still running', () => {
    // A chain of 24 parameters of 1 MiB: each accumulates in turn and its hook drops the
    // gradient; the last hook measures the array-buffer memory still live against before the
    // backward. A backward that holds every gradient it handed out keeps ~24 MiB more.
    const n = 256 * 1024;
    const params = Array.from({ length: 24 }, (_, p) => leafOf(Array.from({ length: n }, (_, i) => 1 + ((i + p) % 7) / 100)));
    let h = params[0]!;
    for (const p of params.slice(1)) h = F.mul(h, p);
    const loss = F.sum(h);
    let seen = 0;
    let extra = Number.NaN;
    gc();
    const before = process.memoryUsage().arrayBuffers;
    for (const p of params) {
      p.registerPostAccumulateGradHook((t: Tensor) => {
        t.grad = null;
        if (++seen === params.length) {
          gc();
          extra = process.memoryUsage().arrayBuffers - before;
        }
      });
    }
    loss.backward();
    expect(seen).toBe(params.length);
    expect(extra).toBeLessThan(6 * n * 4);
  });

  it('after backward, the output no longer holds the activations its graph saved', async () => {
    const x = leafOf(Array.from({ length: 4096 }, (_, i) => Math.sin(i)));
    let saved: WeakRef<object>;
    const loss = (() => {
      const h = F.exp(x); // exp saves its output for the backward
      saved = new WeakRef(h.storage as object);
      return F.sum(F.mul(h, h));
    })();
    loss.backward();
    expect(await collected(saved!)).toBe(true);
    expect(loss.gradFn?.name).toBeTruthy();
    expect(() => loss.backward()).toThrow(/a second time/);
  });
});
