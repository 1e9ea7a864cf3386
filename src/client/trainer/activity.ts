/**
 * The recommender's calls as the trainer sees them: whether one is running, when the last one
 * ended, and a signal when one starts — so fine-tuning starts only after the recommender has
 * been idle for a while, and stops the moment `recommend()` (or any other call) needs the
 * device. Pure bookkeeping, no timers.
 */
export class Activity {
  private running = 0;
  private last: number;
  private readonly listeners = new Set<() => void>();

  constructor(private readonly now: () => number) {
    this.last = now();
  }

  /** Calls in progress. */
  get busy(): number {
    return this.running;
  }

  /** When the last call ended (or started, while one runs), ms. */
  get lastActiveAt(): number {
    return this.running > 0 ? this.now() : this.last;
  }

  /** Ms since the last call ended (0 while one runs). */
  idleFor(): number {
    return this.running > 0 ? 0 : Math.max(0, this.now() - this.last);
  }

  /** Hears every call's start; returns the unsubscribe function. */
  onStart(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /** Runs `f` as a call: counted from before it starts until it settles. */
  async run<T>(f: () => Promise<T>): Promise<T> {
    this.running++;
    this.last = this.now();
    for (const l of [...this.listeners]) {
      try {
        l();
      } catch {
        // A listener (the trainer stopping its run) must not fail the call.
      }
    }
    try {
      return await f();
    } finally {
      this.running--;
      this.last = this.now();
    }
  }
}

/** In a page, waits for the browser's idle callback (at most 2 s); in a worker, returns at once. */
export function idleCallback(): Promise<void> {
  const ric = (
    globalThis as {
      requestIdleCallback?: (cb: () => void, o?: { timeout: number }) => number;
    }
  ).requestIdleCallback;
  return ric
    ? new Promise((resolve) => ric(() => resolve(), { timeout: 2_000 }))
    : Promise.resolve();
}
