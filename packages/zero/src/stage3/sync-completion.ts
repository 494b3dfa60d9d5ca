// ZeRO-3 gathers parameters inside module and autograd hooks, which are synchronous. Whether a
// collective can be finished there depends on the backend: Work.wait() of the in-process and
// Gloo backends blocks until the operation is done (Work.isCompleted() is then true); a backend
// whose Work.wait() only returns a promise that the event loop settles cannot finish one until
// the hook has returned. These helpers ask the Work contract which case applies.
import type { ProcessGroup, Work } from '@ds/comm';

const probed = new WeakMap<ProcessGroup, boolean>();

/**
 * Whether `group`'s collectives complete inside synchronous code. A barrier is issued to find
 * out, so every member must call this at the same point (it is collective over the group).
 */
export function completesSynchronously(group: ProcessGroup): boolean {
  if (group.size === 1) return true;
  const known = probed.get(group);
  if (known !== undefined) return known;
  const work = group.barrier({ async: true, logName: 'zero3_sync_probe' });
  void work.wait().catch(() => {});
  const sync = work.isCompleted();
  probed.set(group, sync);
  return sync;
}

/**
 * Finish `work` before returning. Its rejection (if any) arrives through the event loop, so
 * it is handed to `onError` rather than thrown here; callers surface it at their next async step.
 */
export function completeNow(work: Work, what: string, onError: (e: unknown) => void): void {
  const done = work.wait();
  done.catch(onError);
  if (!work.isCompleted()) {
    throw new Error(
      `ZeRO-3: the ${what} could not complete inside a synchronous hook: this process group's backend finishes ` +
        'collectives only through the event loop. Stage 3 should have kept every parameter gathered for such a backend; ' +
        'this is a bug in the stage-3 coordinator',
    );
  }
}
