/**
 * Tabs (and workers) with a recommender over the same memory hear of each other's changes
 * through a BroadcastChannel (`localrec:<name>`). A message carries only what kind of change it
 * was, never the data: a tab that hears one reads IndexedDB itself.
 */

/** How long a burst of other tabs' changes is gathered before the listener hears it once. */
export const SYNC_DEBOUNCE_MS = 100;

/** What one tab tells the others. */
export type SyncMessage = { kind: 'changed' } | { kind: 'forget' };

/** What a tab does when it hears another. */
export interface SyncListener {
  /** Another tab changed the memory (a burst of changes is heard once). */
  changed(): void;
  /** Another tab is deleting the memory: let go of it and of every copy of its data. */
  forget(): void;
}

export class TabSync {
  private readonly channel: BroadcastChannel | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(name: string, listener: SyncListener) {
    if (typeof BroadcastChannel === 'undefined') return;
    this.channel = new BroadcastChannel(`localrec:${name}`);
    this.channel.onmessage = (ev: MessageEvent<SyncMessage>) => {
      this.cancel();
      if (ev.data?.kind === 'forget') listener.forget();
      else if (ev.data?.kind === 'changed')
        this.timer = setTimeout(() => {
          this.timer = undefined;
          listener.changed();
        }, SYNC_DEBOUNCE_MS);
    };
  }

  /** Tells the other tabs. */
  tell(kind: SyncMessage['kind']): void {
    try {
      this.channel?.postMessage({ kind } satisfies SyncMessage);
    } catch {
      // A closed channel (after close()) has nobody to tell.
    }
  }

  private cancel(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  close(): void {
    this.cancel();
    this.channel?.close();
  }
}
