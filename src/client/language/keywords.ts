/**
 * The keyword parser: what `ask()` and `onboard()` answer with when no LLM runs (issue #15).
 * It reads categories by name or synonym ("comedies", "scary", "sci-fi"), negation ("not
 * horror", "no westerns", "hate war"), decades and years ("90s", "late 80s", "from 1990 to
 * 1995", "before 1980") where the catalog has years, prices with a currency ("under $20") where
 * it has prices, and keeps the other content words as the free-text query — into the same
 * {@link AskConstraints} the LLM's constrained output is checked into, so the funnel applies
 * both alike. A negated decade or price ("not from the 80s") is not understood: it is left out.
 * Pure: tested in Node.
 */
import { checkConstraints, type AskConstraints, type ConstraintOptions } from './constraints.ts';
import type { CatalogFacets } from './facets.ts';
import { listWords } from '../funnel/explain.ts';

/** A word's stem for matching: lower case, no possessive, plural to singular. */
export function stem(word: string): string {
  let w = word
    .toLowerCase()
    .replace(/['’]s$/, '')
    .replace(/['’]/g, '');
  if (w.length > 4 && w.endsWith('ies')) w = `${w.slice(0, -3)}y`;
  else if (w.length > 3 && w.endsWith('s') && !w.endsWith('ss')) w = w.slice(0, -1);
  return w;
}

/** Words of a phrase, stemmed ("Sci-Fi" → ["sci", "fi"], "Children's" → ["children"]). */
const words = (s: string): string[] =>
  s
    .split(/[^\p{L}\p{N}'’]+/u)
    .filter(Boolean)
    .map(stem);

/**
 * Synonyms by the category they stand for, keyed by the category name's stemmed words joined
 * by spaces; they apply only to a category the catalog has.
 */
const SYNONYMS: Record<string, string[]> = {
  comedy: [
    'funny',
    'comedic',
    'humor',
    'humour',
    'lighter',
    'light-hearted',
    'lighthearted',
    'feel-good',
    'feel good',
    'laugh',
  ],
  horror: ['scary', 'creepy', 'gore', 'gory', 'slasher', 'frightening'],
  romance: ['romantic', 'love story', 'love stories', 'romcom', 'rom-com'],
  'sci fi': ['science fiction', 'scifi', 'sf', 'space'],
  'science fiction': ['sci-fi', 'scifi', 'sf', 'space'],
  children: ['kids', 'kid', 'family', 'child'],
  animation: ['animated', 'cartoon', 'anime'],
  documentary: ['docs', 'true story', 'non-fiction', 'nonfiction'],
  thriller: ['suspense', 'suspenseful', 'tense'],
  action: ['explosions', 'fight'],
  drama: ['dramatic', 'serious'],
  war: ['military', 'battle'],
  western: ['cowboy'],
  musical: ['music', 'song', 'singing'],
  mystery: ['whodunit', 'detective'],
  crime: ['gangster', 'heist', 'mafia'],
  fantasy: ['magic', 'magical', 'dragon'],
  'film noir': ['noir'],
  adventure: ['quest'],
};

const NEGATORS = new Set([
  'not',
  'no',
  'without',
  'except',
  'avoid',
  'hate',
  'dislike',
  'nothing',
  'never',
  'dont',
  'doesnt',
  'isnt',
  'nor',
  'exclude',
  'skip',
  'minus',
]);
/** Words that keep a negation going to the next category ("not horror or war"). */
const CONTINUE = new Set([
  'or',
  'and',
  'nor',
  'too',
  'any',
  'anything',
  'like',
  'want',
  'more',
  'much',
  'the',
  'a',
  'an',
  'really',
  'very',
  'of',
  'into',
  'care',
  'for',
  'about',
]);
const STOP = new Set(
  (
    'a an the i im me my we us you your want wanna would like love enjoy prefer looking look for with from ' +
    'of in on at to and or but please show give recommend recommendation find movie film item thing stuff ' +
    'good great nice best really very too more less maybe something anything some any kind sort type that ' +
    'this these those is are was be it its into about watch watching see get got can could should me just ' +
    'also than then so what which who how much many lot bit little mostly mainly usually often all every ' +
    'one ones others other fan big huge into taste tastes stuff prefer preferably under over ' +
    'below above cheap cheaper expensive price priced cost costs year years old older new newer'
  ).split(' '),
);
const TENS: Record<string, number> = {
  twentie: 20,
  thirtie: 30,
  fortie: 40,
  fiftie: 50,
  sixtie: 60,
  seventie: 70,
  eightie: 80,
  ninetie: 90,
};

/** A two-digit decade's century: 00s–20s are this century's, 30s–90s the last's. */
const century = (yy: number) => (yy <= 20 ? 2000 : 1900) + yy;

interface Found {
  constraints: Partial<AskConstraints>;
  /** The text with what was understood blanked out (for the query). */
  rest: string;
}

const CURRENCY = String.raw`(?:[$€£]\s*(\d+(?:[.,]\d{1,2})?)|(\d+(?:[.,]\d{1,2})?)\s*(?:[$€£]|dollars?|euros?|pounds?|bucks?|usd|eur|gbp)\b)`;

/** Years and prices out of `text` (lower case), each match blanked from `rest`. */
function rangesOf(text: string, facets: CatalogFacets): Found {
  const c: Partial<AskConstraints> = {};
  let rest = text;
  const take = (re: RegExp, f: (m: RegExpExecArray) => void) => {
    rest = rest.replace(re, (...args) => {
      f(args.slice(0, -2) as unknown as RegExpExecArray);
      return ' ';
    });
  };
  const num = (s: string | undefined) => Number((s ?? '').replace(',', '.'));
  // Years and prices are matched either way, so their words never become the query; they are
  // kept only where the catalog has the field.
  const hasYear = facets.year !== undefined;
  const hasPrice = facets.price !== undefined;
  {
    const year = (lo: number, hi: number) => {
      if (!hasYear) return;
      c.yearMin = Math.min(c.yearMin ?? lo, lo);
      c.yearMax = Math.max(c.yearMax ?? hi, hi);
    };
    take(/\b(?:from|between)\s+(\d{4})\s*(?:to|and|-|–|until|till)\s*(\d{4})\b/g, (m) =>
      year(+m[1]!, +m[2]!),
    );
    take(/\b(\d{4})\s*(?:-|–|to)\s*(\d{4})\b/g, (m) => year(+m[1]!, +m[2]!));
    take(/\b(early|mid|late)[\s-]+(?:(\d{2})(\d{2})|'?(\d{2}))s\b/g, (m) => {
      const start = m[2] ? +m[2] * 100 + +m[3]! - (+m[3]! % 10) : century(+m[4]! - (+m[4]! % 10));
      const [a, b] = m[1] === 'early' ? [0, 3] : m[1] === 'mid' ? [4, 6] : [7, 9];
      year(start + a, start + b);
    });
    take(/\b(1[89]\d0|20\d0)s\b/g, (m) => year(+m[1]!, +m[1]! + 9));
    take(/(?:^|\s)'?(\d)0s\b/g, (m) => year(century(+m[1]! * 10), century(+m[1]! * 10) + 9));
    take(/\b(twent|thirt|fort|fift|sixt|sevent|eight|ninet)ies\b/g, (m) => {
      const d = century(TENS[`${m[1]!}ie`]!);
      year(d, d + 9);
    });
    take(/\b(?:before|earlier than|older than|pre-?)\s*(\d{4})\b/g, (m) => {
      if (hasYear) c.yearMax = +m[1]! - 1;
    });
    take(/\b(?:after|later than|newer than|post-?)\s*(\d{4})\b/g, (m) => {
      if (hasYear) c.yearMin = +m[1]! + 1;
    });
    take(/\b(?:since|from)\s+(\d{4})\b/g, (m) => {
      if (hasYear) c.yearMin = +m[1]!;
    });
    take(/\b(?:in|of)\s+(\d{4})\b/g, (m) => year(+m[1]!, +m[1]!));
  }
  {
    const p = (m: RegExpExecArray, i: number) => num(m[i] ?? m[i + 1]);
    take(new RegExp(String.raw`\bbetween\s+${CURRENCY}\s*(?:and|to|-)\s*${CURRENCY}`, 'g'), (m) => {
      if (hasPrice) c.priceMin = p(m, 1);
      if (hasPrice) c.priceMax = p(m, 3);
    });
    take(new RegExp(`${CURRENCY}\\s*(?:-|–|to)\\s*${CURRENCY}`, 'g'), (m) => {
      if (hasPrice) c.priceMin = p(m, 1);
      if (hasPrice) c.priceMax = p(m, 3);
    });
    take(
      new RegExp(
        String.raw`\b(?:under|below|less than|cheaper than|up to|at most|max(?:imum)?|no more than)\s*${CURRENCY}`,
        'g',
      ),
      (m) => {
        if (hasPrice) c.priceMax = p(m, 1);
      },
    );
    take(
      new RegExp(
        String.raw`\b(?:over|above|more than|at least|min(?:imum)?|from)\s*${CURRENCY}`,
        'g',
      ),
      (m) => {
        if (hasPrice) c.priceMin = p(m, 1);
      },
    );
  }
  return { constraints: c, rest };
}

/** Phrases (stemmed words) that name each catalog category, longest first. */
function phrasesOf(categories: readonly string[]): { words: string[]; category: string }[] {
  const out: { words: string[]; category: string }[] = [];
  for (const category of categories) {
    const own = words(category);
    if (own.length === 0) continue;
    out.push({ words: own, category });
    if (own.length > 1) out.push({ words: [own.join('')], category }); // "scifi", "filmnoir"
    for (const s of SYNONYMS[own.join(' ')] ?? []) out.push({ words: words(s), category });
  }
  return out.sort((a, b) => b.words.length - a.words.length);
}

/**
 * The constraints a request in plain words states, for this catalog.
 *
 * @param purpose - `onboard` keeps categories only (a taste, not a search).
 */
export function parseKeywords(
  text: string,
  options: ConstraintOptions,
): Omit<AskConstraints, 'reply'> {
  const { facets } = options;
  const ask = (options.purpose ?? 'ask') === 'ask';
  const lower = text.toLowerCase().normalize('NFKC');
  const found = ask ? rangesOf(lower, facets) : { constraints: {}, rest: lower };
  // Tokens and clause breaks: "," ";" "." "!" "?" and "but" end a negation.
  const tokens = found.rest.match(/[\p{L}\p{N}'’-]+|[,;.!?]/gu) ?? [];
  const stems = tokens.map((t) => (/^[,;.!?]$/.test(t) ? t : stem(t.replace(/-/g, ''))));
  const split = tokens.map((t) => words(t));
  const phrases = phrasesOf(facets.categories);
  const include: string[] = [];
  const exclude: string[] = [];
  const query: string[] = [];
  let negating = 0; // tokens a negation still reaches
  for (let i = 0; i < tokens.length;) {
    const s = stems[i]!;
    if (/^[,;.!?]$/.test(s) || s === 'but') {
      negating = 0;
      i++;
      continue;
    }
    if (NEGATORS.has(s) || (s === 'anything' && stems[i + 1] === 'but')) {
      negating = 4;
      i += s === 'anything' ? 2 : 1;
      continue;
    }
    // The longest phrase at i, over the token's own words ("sci-fi") or the stems in a row.
    const flat = [...split[i]!, ...split.slice(i + 1, i + 4).flat()];
    const hit =
      phrases.find((p) => p.words.length === 1 && p.words[0] === s) ??
      phrases.find((p) => p.words.every((w, j) => flat[j] === w));
    if (hit) {
      const target = negating > 0 ? exclude : include;
      const other = negating > 0 ? include : exclude;
      if (!target.includes(hit.category) && !other.includes(hit.category))
        target.push(hit.category);
      negating = negating > 0 ? 4 : 0;
      // Tokens the phrase covered: its words minus what tokens after the first supplied.
      let covered = split[i]!.length;
      let n = 1;
      while (covered < hit.words.length && i + n < tokens.length) covered += split[i + n++]!.length;
      i += n;
      continue;
    }
    if (negating > 0 && !CONTINUE.has(s)) negating--;
    const plain = tokens[i]!.toLowerCase().replace(/s$/, '');
    if (ask && !STOP.has(s) && !STOP.has(plain) && s.length >= 3 && !/^\d+$/.test(s))
      query.push(tokens[i]!);
    i++;
  }
  const out: Omit<AskConstraints, 'reply'> = { include, exclude, ...found.constraints };
  const q = query
    .join(' ')
    .slice(0, options.maxQueryChars ?? 80)
    .trim();
  if (q) out.query = q;
  // What the parser makes passes the same check as the model's output.
  const { reply: _, ...checked } = checkConstraints({ ...out, reply: '' }, options);
  return checked;
}

/** "from 1990–1999", "from 1990 on", "up to 1979" (years); "priced …" (prices). */
function range(lo: number | undefined, hi: number | undefined, price: boolean): string {
  const head = price ? 'priced ' : 'from ';
  if (lo !== undefined && hi !== undefined) return `${head}${lo === hi ? lo : `${lo}–${hi}`}`;
  if (lo !== undefined) return price ? `${head}${lo} or more` : `${head}${lo} on`;
  if (hi !== undefined) return price ? `${head}up to ${hi}` : `up to ${hi}`;
  return '';
}

/** One sentence saying what the constraints ask for (the reply without an LLM). */
export function describeConstraints(
  c: Omit<AskConstraints, 'reply'>,
  purpose: 'ask' | 'onboard' = 'ask',
): string {
  if (purpose === 'onboard') {
    if (!c.include.length && !c.exclude.length)
      return 'I could not tell which kinds of items you like; pick some categories to start.';
    const likes = c.include.length ? `you like ${listWords(c.include)}` : '';
    const not = c.exclude.length ? `you would rather avoid ${listWords(c.exclude)}` : '';
    return `Noted: ${[likes, not].filter(Boolean).join(', and ')}. You can change this at any time.`;
  }
  const parts: string[] = [];
  parts.push(c.include.length ? listWords(c.include) : 'Picks');
  const years = range(c.yearMin, c.yearMax, false);
  if (years) parts.push(years);
  const price = range(c.priceMin, c.priceMax, true);
  if (price) parts.push(price);
  if (c.query) parts.push(`matching “${c.query}”`);
  if (c.exclude.length) parts.push(`without ${listWords(c.exclude)}`);
  return `${parts.join(' ')}.`.replace(/^Picks\.$/, 'Here are some picks for you.');
}
