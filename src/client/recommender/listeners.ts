/**
 * The listeners of `Recommender.onChange`, for each face of the SDK: a listener that throws is
 * reported and never stops the others, nor the change that was announced.
 */
import type { RecommenderChange } from '../types.ts';

type Listener = (change: RecommenderChange) => void;

export class ChangeListeners {
  private readonly listeners = new Set<Listener>();

  /** @param onThrow - hears what a listener threw. */
  constructor(private readonly onThrow: (error: unknown) => void) {}

  /** Adds a listener (`undefined` adds none); returns the unsubscribe function. */
  add(listener: Listener | undefined): () => void {
    if (listener) this.listeners.add(listener);
    return () => void (listener && this.listeners.delete(listener));
  }

  /** Calls every listener with `change`. */
  emit(change: RecommenderChange): void {
    for (const l of [...this.listeners]) {
      try {
        l(change);
      } catch (e) {
        this.onThrow(e);
      }
    }
  }

  clear(): void {
    this.listeners.clear();
  }
}
