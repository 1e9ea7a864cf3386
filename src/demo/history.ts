/**
 * The visitor's history for the demo: external item ids, oldest first, in localStorage.
 * A later issue moves memory to IndexedDB (src/client); this stays deliberately small.
 */

const KEY = 'localrec-demo:history:v1';
/** Enough for any encoder we ship (maxLen ≤ 200) with room to spare; older picks fall off. */
const MAX_ITEMS = 500;

/** Reads the stored history; anything unreadable counts as empty rather than breaking the page. */
export function loadHistory(): string[] {
  try {
    const v: unknown = JSON.parse(localStorage.getItem(KEY) ?? '[]');
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

function save(history: string[]): string[] {
  const kept = history.slice(-MAX_ITEMS);
  try {
    localStorage.setItem(KEY, JSON.stringify(kept));
  } catch {
    // Storage full or disabled (private mode): the history still works for this visit.
  }
  return kept;
}

/**
 * Appends `id` as the newest event. A repeat moves the item to the end instead of listing it
 * twice, so the visible list stays readable and the encoder sees it as the latest pick.
 */
export function addToHistory(history: string[], id: string): string[] {
  return save([...history.filter((x) => x !== id), id]);
}

/** Removes every occurrence of `id`. */
export function removeFromHistory(history: string[], id: string): string[] {
  return save(history.filter((x) => x !== id));
}

/** Forgets everything. */
export function clearHistory(): string[] {
  return save([]);
}
