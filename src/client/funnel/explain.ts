/**
 * Template-based explanations: one sentence per item from why the funnel picked it (its
 * strongest source, or exploration), the categories it shares with the visitor's recent
 * history, and the recent items most like it. The on-device LLM (../assistant/assistant.ts) is
 * given the same facts and its sentence replaces this one only when it passes the grounding
 * check. Pure: tested in Node.
 */
import type { Explanation, ItemSummary, ReasonCode } from '../api.ts';

/** What {@link explanationText} builds a sentence from. */
export interface ExplainInputs {
  item: ItemSummary;
  reason: ReasonCode | 'unknown';
  /** Categories of the item that recent history items also have, most frequent first. */
  sharedCategories: string[];
  /** Recent history items most like this one, most similar first. */
  becauseOf: { id: string; title: string }[];
}

/** "A", "A and B", "A, B and C". */
export function listWords(words: readonly string[]): string {
  if (words.length <= 1) return words[0] ?? '';
  return `${words.slice(0, -1).join(', ')} and ${words[words.length - 1]}`;
}

const quoted = (items: readonly { title: string }[]) => listWords(items.map((i) => i.title));

/**
 * Categories of `item` that the history items have, ordered by how many history items have them
 * (ties: the item's own order).
 */
export function sharedCategories(
  item: readonly string[],
  history: readonly (readonly string[])[],
): string[] {
  const count = new Map<string, number>();
  for (const cats of history) for (const c of new Set(cats)) count.set(c, (count.get(c) ?? 0) + 1);
  return item
    .filter((c, i) => (count.get(c) ?? 0) > 0 && item.indexOf(c) === i)
    .map((c, i) => ({ c, i, n: count.get(c)! }))
    .sort((a, b) => b.n - a.n || a.i - b.i)
    .map((x) => x.c);
}

/** The sentence for one item. */
export function explanationText(x: ExplainInputs): string {
  const cats = listWords(x.sharedCategories.slice(0, 2));
  const own = x.item.categories[0];
  const because = x.becauseOf.slice(0, 2);
  switch (x.reason) {
    case 'sasrec':
      if (because.length)
        return `Because you recently looked at ${quoted(because)}${cats ? `: more ${cats}` : ''}.`;
      return `A likely next step after what you looked at in this visit${cats ? ` (${cats})` : ''}.`;
    case 'long-term':
    case 'two-tower':
      return `In line with what you have liked over time${cats ? `: ${cats}` : ''}${because.length ? `, such as ${quoted(because)}` : ''}.`;
    case 'categories':
      return `Because you often choose ${listWords(x.sharedCategories.slice(0, 2)) || own || 'this kind of item'}${because.length ? `, like ${quoted(because)}` : ''}.`;
    case 'similar':
      return because.length
        ? `Similar to ${quoted(because)}.`
        : `Similar to this item${own ? ` (${own})` : ''}.`;
    case 'popular':
      return `Popular with other visitors${own ? ` in ${own}` : ''}.`;
    case 'fresh':
      return `New in the catalog${own ? `: ${own}` : ''}.`;
    case 'query':
      return `Matches what you asked for${own ? ` (${own})` : ''}.`;
    case 'explore':
      return `Something different${own ? ` from ${own}` : ''}, to learn what you like.`;
    default:
      if (because.length) return `Like ${quoted(because)}, which you looked at.`;
      if (cats) return `From ${cats}, which you often look at.`;
      return own ? `From ${own}.` : `From the catalog.`;
  }
}

/** The whole {@link Explanation}. */
export function explain(x: ExplainInputs): Explanation {
  return {
    itemId: x.item.id,
    text: explanationText(x),
    reason: x.reason,
    sharedCategories: x.sharedCategories,
    becauseOf: x.becauseOf,
    source: 'template',
  };
}
