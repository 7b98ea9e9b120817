/**
 * Per-model call ordering: calls on one model take effect in the order they were made, whether or
 * not the caller awaited the previous one (two fit() calls end with the second corpus's model).
 *
 * An exclusive call (fit, load, train, setParameters, …) starts once every earlier exclusive call
 * has settled; a shared call (n-gram evaluate, sample, …: reads that the engine runs on a snapshot
 * of the model) waits for the earlier exclusive calls only. A call that finds nothing to wait for
 * starts at once, synchronously, so the engine copies its inputs at call time (native/addon); a call
 * that must wait gets a copy of its input arrays from the caller (`snapshot`) for the same reason:
 * what the caller does to its arrays after the call never changes the result.
 */
export class CallQueue {
  /** Settles after every exclusive call made so far. */
  #exclusive: Promise<unknown> = Promise.resolve();
  /** Settles after every call made so far. */
  #all: Promise<unknown> = Promise.resolve();
  #pendingExclusive = 0;
  #pendingAll = 0;

  /** Whether a call of this kind made now would have to wait. */
  mustWait(exclusive: boolean): boolean {
    return exclusive ? this.#pendingAll > 0 : this.#pendingExclusive > 0;
  }

  /** Runs `job` after the earlier calls it depends on; rejections pass through unchanged. */
  run<T>(exclusive: boolean, job: () => Promise<T>): Promise<T> {
    const wait = this.mustWait(exclusive);
    let p: Promise<T>;
    if (!wait) {
      try {
        p = Promise.resolve(job());
      } catch (err) {
        p = Promise.reject(err);
      }
    } else {
      const after = exclusive ? this.#all : this.#exclusive;
      p = after.then(job, job);
    }
    const settled = p.then(
      () => undefined,
      () => undefined,
    );
    this.#pendingAll++;
    this.#all = Promise.all([this.#all, settled]);
    void settled.then(() => this.#pendingAll--);
    if (exclusive) {
      this.#pendingExclusive++;
      this.#exclusive = Promise.all([this.#exclusive, settled]);
      void settled.then(() => this.#pendingExclusive--);
    }
    return p;
  }
}

/** A copy of a typed array when `copy` is true (inputs of a call that has to wait). */
export function snapshot<A extends Uint32Array | Float32Array>(a: A, copy: boolean): A {
  return copy ? (a.slice() as A) : a;
}
