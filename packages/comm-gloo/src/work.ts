// The gloo backend's Work handle. The binding reports a call's outcome through a callback on
// the JS thread: from the event loop when nobody waits for it, or from inside waitFor(), which
// blocks the JS thread until the comm thread has finished the call. wait() takes the second
// path, so isCompleted() is true as soon as wait() returns, even inside synchronous code (ZeRO-3
// gathers parameters in module hooks and must have them before the hook returns).
import type { BackendWork } from '@ds/comm';
import type { NativeGroup, OnDone } from './native.js';

export class GlooWork implements BackendWork {
  readonly done: Promise<void>;
  readonly #native: NativeGroup;
  readonly #wrap: (err: Error) => unknown;
  readonly #onSuccess: (() => void) | undefined;
  #ticket = -1;
  #completed = false;
  #resolve!: () => void;
  #reject!: (err: unknown) => void;

  /**
   * Issues a call: `issue` hands the binding the completion callback and returns its ticket.
   * `wrap` turns the binding's error into @ds/comm's; `onSuccess` finishes the result on the JS
   * thread (copies into the caller's tensors) before the work counts as completed.
   */
  static start(native: NativeGroup, issue: (onDone: OnDone) => number, wrap: (err: Error) => unknown, onSuccess?: () => void): GlooWork {
    const work = new GlooWork(native, wrap, onSuccess);
    // A call rejected before it was queued settles inside issue(); its ticket is then not waitable.
    work.#ticket = issue(work.#settle);
    return work;
  }

  private constructor(native: NativeGroup, wrap: (err: Error) => unknown, onSuccess: (() => void) | undefined) {
    this.#native = native;
    this.#wrap = wrap;
    this.#onSuccess = onSuccess;
    this.done = new Promise<void>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.done.catch(() => {}); // the error is reported by wait() (or the awaited promise)
  }

  /** Blocks until the call has finished, then returns its settled promise. */
  wait(): Promise<void> {
    if (!this.#completed && this.#ticket >= 0) this.#native.waitFor(this.#ticket);
    return this.done;
  }

  isCompleted(): boolean {
    return this.#completed;
  }

  readonly #settle = (err: Error | null): void => {
    if (this.#completed) return;
    this.#completed = true;
    if (err) {
      this.#reject(this.#wrap(err));
      return;
    }
    try {
      this.#onSuccess?.();
      this.#resolve();
    } catch (e) {
      this.#reject(e);
    }
  };
}
