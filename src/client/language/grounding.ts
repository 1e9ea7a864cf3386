/**
 * The grounding check of an LLM explanation (issue #15): its evidence must be a subset of the
 * history ids it was given (../llm/grounded.ts parseGrounded checks that and the form), and its
 * reason may name only titles it was given — a title of any other catalog item in the sentence
 * means the model made something up, and the template is used instead.
 *
 * Titles are matched on their words with their capitals as the catalog writes them ("Heat" the
 * film, not "heat"), the "(1995)" suffix left off, at word boundaries; a catalog title found
 * inside a longer given title ("Star Wars" inside "Star Wars: Episode I") does not count.
 * The check errs towards the template: a one-word title that is also a capitalised word of the
 * sentence rejects it (titles of one or two letters are not looked for). Pure: tested in Node.
 */
import { bareTitle } from './facets.ts';

/** Words of a title or sentence, case kept. */
const wordsOf = (s: string): string[] => s.split(/[^\p{L}\p{N}]+/u).filter(Boolean);

/** An index of catalog titles by their first word, built once per catalog state. */
export class TitleIndex {
  private readonly byFirst = new Map<string, string[][]>();

  /** @param titles - every catalog title (duplicates are fine). */
  constructor(titles: Iterable<string>) {
    for (const t of titles) {
      const w = wordsOf(bareTitle(t));
      // "It", "Up": a one- or two-letter title would reject every sentence starting with it.
      if (w.length === 0 || (w.length === 1 && w[0]!.length <= 2)) continue;
      const list = this.byFirst.get(w[0]!) ?? [];
      if (!list.some((x) => x.join(' ') === w.join(' '))) list.push(w);
      this.byFirst.set(w[0]!, list);
    }
  }

  /** Title word-sequences that occur in `words` starting at `i`. */
  matchesAt(words: readonly string[], i: number): string[][] {
    return (this.byFirst.get(words[i]!) ?? []).filter((t) => t.every((w, j) => words[i + j] === w));
  }
}

/**
 * Catalog titles the sentence names that are not among `given` (as the prompt showed them),
 * in the order they occur; empty when the reason is grounded.
 */
export function ungroundedTitles(
  reason: string,
  given: readonly string[],
  index: TitleIndex,
): string[] {
  const words = wordsOf(reason);
  const allowed = new Set(given.map((t) => wordsOf(bareTitle(t.replace(/…$/, ''))).join(' ')));
  // Spans of the sentence covered by given titles (a truncated one counts by its shown words).
  const covered = new Array<boolean>(words.length).fill(false);
  for (let i = 0; i < words.length; i++)
    for (const g of allowed) {
      const w = g.split(' ');
      if (w.length && w.every((x, j) => words[i + j] === x))
        for (let j = 0; j < w.length; j++) covered[i + j] = true;
    }
  const out: string[] = [];
  for (let i = 0; i < words.length; i++)
    for (const t of index.matchesAt(words, i)) {
      const name = t.join(' ');
      if (allowed.has(name)) continue;
      if (t.every((_, j) => covered[i + j])) continue;
      if (!out.includes(name)) out.push(name);
    }
  return out;
}
