/**
 * The assistant's pure parts (issue #15), in Node: the catalog's facets, the ask/onboarding
 * constraint (grammar, schema, validator), the keyword parser that answers without an LLM, the
 * prompts (what goes in, what never does, length limits), the grounding check of an
 * explanation's titles, the lexical match of ask()'s query, and the stated interests' math.
 */
import { describe, expect, it } from 'vitest';
import type { ItemInfo } from '../../src/core/types.ts';
import {
  checkConstraints,
  constraintKeys,
  constraintSpec,
  parseConstraints,
} from '../../src/client/language/constraints.ts';
import { bareTitle, catalogFacets, yearOf } from '../../src/client/language/facets.ts';
import { TitleIndex, ungroundedTitles } from '../../src/client/language/grounding.ts';
import { describeConstraints, parseKeywords, stem } from '../../src/client/language/keywords.ts';
import { passesFilters, rankForRequest } from '../../src/client/language/matching.ts';
import {
  askPrompt,
  explainPrompt,
  onboardPrompt,
  promptBudget,
  type ExplainPromptInput,
} from '../../src/client/language/prompts.ts';
import {
  checkInterests,
  interestsFrom,
  strongestStated,
  withStated,
} from '../../src/client/assistant/interests.ts';
import { sourceWeights } from '../../src/client/funnel/blend.ts';
import { refusal } from '../setup/refusal.ts';

const CATALOG: ItemInfo[] = [
  {
    id: '1',
    title: 'Toy Story (1995)',
    categories: ['Animation', "Children's", 'Comedy'],
    popularity: 452,
  },
  {
    id: '2',
    title: 'GoldenEye (1995)',
    categories: ['Action', 'Adventure', 'Thriller'],
    popularity: 131,
  },
  { id: '3', title: 'Heat (1995)', categories: ['Action', 'Crime', 'Thriller'], popularity: 200 },
  { id: '4', title: 'Scream (1996)', categories: ['Horror', 'Thriller'], popularity: 478 },
  {
    id: '5',
    title: 'Star Wars (1977)',
    categories: ['Action', 'Sci-Fi', 'Romance'],
    popularity: 583,
  },
  {
    id: '6',
    title: 'Star Wars: Episode I (1999)',
    categories: ['Action', 'Sci-Fi'],
    popularity: 90,
  },
  { id: '7', title: 'Clueless (1995)', categories: ['Comedy', 'Romance'], popularity: 170 },
  { id: '8', title: 'Airplane! (1980)', categories: ['Comedy'], popularity: 187 },
  { id: '9', title: 'Alien (1979)', categories: ['Horror', 'Sci-Fi'], popularity: 291 },
  { id: '10', title: 'Fargo (1996)', categories: ['Crime', 'Drama', 'Thriller'], popularity: 508 },
  { id: '11', title: 'It (1990)', categories: ['Horror'], popularity: 10 },
];
const FACETS = catalogFacets(CATALOG);
const ASK = { facets: FACETS } as const;
const ONBOARD = { facets: FACETS, purpose: 'onboard' } as const;

describe('catalog facets', () => {
  it('lists categories by item count and reads years from "(YYYY)" titles', () => {
    expect(FACETS.categories.slice(0, 3)).toEqual(['Action', 'Thriller', 'Comedy']);
    expect(FACETS.categories).toHaveLength(11);
    expect(FACETS.year).toEqual({ min: 1977, max: 1999 });
    expect(FACETS.price).toBeUndefined();
    expect(yearOf('Heat (1995)')).toBe(1995);
    expect(yearOf('Heat')).toBeUndefined();
    expect(yearOf('Blade Runner 2049')).toBeUndefined();
    expect(bareTitle('Star Wars (1977)')).toBe('Star Wars');
  });

  it('offers no year range when most titles name none', () => {
    const f = catalogFacets([
      { title: 'A (1990)', categories: ['x'] },
      { title: 'B', categories: ['x'] },
      { title: 'C', categories: ['y'] },
    ]);
    expect(f).toEqual({ categories: ['x', 'y'] });
  });
});

describe('the ask and onboarding constraint', () => {
  it('admits only catalog categories and the fields the catalog has', () => {
    const spec = constraintSpec(ASK);
    const cat = spec.gbnf.split('\n').find((l) => l.startsWith('cat ::='))!;
    expect(cat.split(' | ')).toHaveLength(FACETS.categories.length);
    expect(cat).toContain('"\\"Sci-Fi\\""');
    expect(cat).toContain('"\\"Children\'s\\""');
    expect(spec.gbnf).toContain('"\\"yearMin\\":"');
    expect(spec.gbnf).not.toContain('price');
    expect(constraintKeys(ASK)).toEqual([
      'include',
      'exclude',
      'yearMin',
      'yearMax',
      'query',
      'reply',
    ]);
    expect(constraintKeys(ONBOARD)).toEqual(['include', 'exclude', 'reply']);
    expect(constraintSpec(ONBOARD).gbnf).not.toContain('year');
    const schema = spec.jsonSchema as {
      properties: Record<string, { items?: { enum: string[] } }>;
      additionalProperties: boolean;
    };
    expect(schema.properties['include']!.items!.enum).toEqual(FACETS.categories);
    expect(Object.keys(schema.properties)).toEqual(constraintKeys(ASK));
    expect(schema.additionalProperties).toBe(false);
    // With prices in the catalog the price fields join.
    expect(constraintKeys({ facets: { ...FACETS, price: { min: 1, max: 9 } } })).toContain(
      'priceMax',
    );
  });

  it('bounds the answer so that maxTokens never cuts a complete one', () => {
    const spec = constraintSpec(ASK);
    const longest = JSON.stringify({
      include: FACETS.categories.slice(0, 5),
      exclude: FACETS.categories.slice(5, 10),
      yearMin: 1990,
      yearMax: 1999,
      query: '\u0001'.repeat(80),
      reply: '\u0001'.repeat(160),
    });
    expect(new TextEncoder().encode(longest).length).toBeLessThan(spec.maxTokens);
  });

  it('checks what comes back against the catalog', () => {
    const ok = checkConstraints(
      {
        include: ['Comedy', 'Comedy'],
        exclude: ['Horror'],
        yearMin: 1990,
        yearMax: 1999,
        query: '  toy ',
        reply: 'Sure.',
      },
      ASK,
    );
    expect(ok).toEqual({
      include: ['Comedy'],
      exclude: ['Horror'],
      yearMin: 1990,
      yearMax: 1999,
      query: 'toy',
      reply: 'Sure.',
    });
    const bad = (v: unknown, o: Parameters<typeof checkConstraints>[1] = ASK) =>
      refusal(() => checkConstraints(v, o));
    const base = { include: [], exclude: [], reply: '' };
    expect(bad({ ...base, include: ['Western'] })).toMatchObject({
      code: 'bad-format',
      message: expect.stringContaining('"Western" in include, which is not a category'),
    });
    expect(bad({ ...base, priceMax: 20 }).message).toContain(
      '"priceMax", which this catalog does not offer',
    );
    expect(bad({ ...base, yearMin: 1990 }, ONBOARD).message).toContain('"yearMin"');
    expect(
      checkConstraints({ ...base, include: ['Comedy', 'Drama'], exclude: ['Comedy'] }, ASK),
    ).toEqual({ include: ['Drama'], exclude: [], reply: '' });
    expect(bad({ ...base, yearMin: 1999, yearMax: 1990 }).message).toContain(
      'yearMin 1999 above yearMax 1990',
    );
    expect(bad({ ...base, yearMin: 1990.5 }).message).toContain('not a year');
    expect(bad({ ...base, reply: 'x'.repeat(161) }).message).toContain('over 160');
    expect(bad({ include: [], exclude: [] }).message).toContain('no reply');
    expect(bad([]).message).toContain('not a JSON object');
    expect(bad({ ...base, include: FACETS.categories.slice(0, 6) }).message).toContain('over 5');
    expect(refusal(() => parseConstraints('{"include": [', ASK)).code).toBe('bad-format');
  });
});

describe('the keyword parser', () => {
  const kw = (text: string, o: Parameters<typeof parseKeywords>[1] = ASK) => parseKeywords(text, o);

  it('reads the issue’s example: lighter from the 90s, not horror', () => {
    expect(kw('something lighter from the 90s, not horror')).toEqual({
      include: ['Comedy'],
      exclude: ['Horror'],
      yearMin: 1990,
      yearMax: 1999,
    });
  });

  it('reads categories by name, plural and synonym, and negation up to a clause break', () => {
    expect(kw('sci-fi or action from 1975 to 1985')).toEqual({
      include: ['Sci-Fi', 'Action'],
      exclude: [],
      yearMin: 1975,
      yearMax: 1985,
    });
    expect(kw('no horror or thrillers please')).toEqual({
      include: [],
      exclude: ['Horror', 'Thriller'],
    });
    expect(kw('funny kids movies, nothing scary')).toEqual({
      include: ['Comedy', "Children's"],
      exclude: ['Horror'],
    });
    expect(kw('not horror, comedies')).toEqual({ include: ['Comedy'], exclude: ['Horror'] });
    expect(kw('I like comedy but not romance')).toEqual({
      include: ['Comedy'],
      exclude: ['Romance'],
    });
    expect(kw('science fiction')).toEqual({ include: ['Sci-Fi'], exclude: [] });
    expect(stem('Comedies')).toBe('comedy');
  });

  it('reads years and decades only where the catalog has years', () => {
    expect(kw('before 1980')).toEqual({ include: [], exclude: [], yearMax: 1979 });
    expect(kw('after 1995')).toEqual({ include: [], exclude: [], yearMin: 1996 });
    expect(kw('late 80s drama')).toEqual({
      include: ['Drama'],
      exclude: [],
      yearMin: 1987,
      yearMax: 1989,
    });
    expect(kw('the 1970s')).toEqual({ include: [], exclude: [], yearMin: 1970, yearMax: 1979 });
    expect(kw('nineties crime')).toEqual({
      include: ['Crime'],
      exclude: [],
      yearMin: 1990,
      yearMax: 1999,
    });
    const noYears = { facets: { categories: FACETS.categories } };
    expect(kw('comedy from the 90s', noYears)).toEqual({ include: ['Comedy'], exclude: [] });
  });

  it('reads prices with a currency only where the catalog has prices', () => {
    const priced = { facets: { ...FACETS, price: { min: 1, max: 100 } } };
    expect(kw('comedy under $20', priced)).toEqual({
      include: ['Comedy'],
      exclude: [],
      priceMax: 20,
    });
    expect(kw('between €10 and €15', priced)).toEqual({
      include: [],
      exclude: [],
      priceMin: 10,
      priceMax: 15,
    });
    expect(kw('from $5 to $12.50', priced)).toEqual({
      include: [],
      exclude: [],
      priceMin: 5,
      priceMax: 12.5,
    });
    expect(kw('comedy under $20')).toEqual({ include: ['Comedy'], exclude: [] });
  });

  it('keeps the other content words as the query', () => {
    expect(kw('something like star wars')).toEqual({
      include: [],
      exclude: [],
      query: 'star wars',
    });
    expect(kw('toy story, no horror')).toEqual({
      include: [],
      exclude: ['Horror'],
      query: 'toy story',
    });
  });

  it('keeps categories only for onboarding', () => {
    expect(kw('I love sci-fi and comedies but hate horror and war from the 90s', ONBOARD)).toEqual({
      include: ['Sci-Fi', 'Comedy'],
      exclude: ['Horror'],
    });
  });

  it('describes what it understood', () => {
    expect(describeConstraints(kw('something lighter from the 90s, not horror'))).toBe(
      'Comedy from 1990–1999 without Horror.',
    );
    expect(describeConstraints({ include: [], exclude: [] })).toBe('Here are some picks for you.');
    expect(describeConstraints({ include: ['Comedy'], exclude: ['Horror'] }, 'onboard')).toBe(
      'Noted: you like Comedy, and you would rather avoid Horror. You can change this at any time.',
    );
  });
});

describe('prompts', () => {
  const input = (n: number): ExplainPromptInput => ({
    candidate: { id: '6', title: 'Star Wars: Episode I (1999)', categories: ['Action', 'Sci-Fi'] },
    reason: 'sasrec',
    sources: ['sasrec', 'popular'],
    sharedCategories: ['Sci-Fi'],
    history: Array.from({ length: n }, (_, i) => ({
      id: `h${i}`,
      title: i === 0 ? 'A'.repeat(200) : `History item ${i} (1990)`,
      categories: ['Sci-Fi'],
      similarity: 0.9 - i / 100,
      // What a careless caller might pass along: none of it may reach the prompt.
      ...({
        timestamp: 1_700_000_123_456,
        sessionId: 'sess-42',
        dwellMs: 98765,
        visitorId: 'v-7',
      } as object),
    })),
  });

  it('explain: the candidate, the funnel’s signals and ≤ N history items with ids', () => {
    const p = explainPrompt(input(10), { maxHistory: 4, maxTitleChars: 40 })!;
    expect(p.ids).toEqual(['h0', 'h1', 'h2', 'h3']);
    expect(p.user).toContain('"Star Wars: Episode I (1999)"');
    expect(p.user).toContain('the next-item model');
    expect(p.user).toContain('also popular with other visitors');
    expect(p.user).toContain('"h3": "History item 3 (1990)" (Sci-Fi; 0.87)');
    expect(p.user).not.toContain('"h4"');
    expect(p.user).toContain(`"${'A'.repeat(39)}…"`);
    expect(p.titles[1]).toBe(`${'A'.repeat(39)}…`);
    for (const secret of ['1700000123456', 'sess-42', '98765', 'v-7', 'timestamp', 'session'])
      expect(`${p.system}\n${p.user}`).not.toContain(secret);
  });

  it('explain: drops the least similar items to fit the budget, or gives up', () => {
    const full = explainPrompt(input(6))!;
    const budget = full.system.length + full.user.length - 1;
    const cut = explainPrompt(input(6), { maxPromptChars: budget })!;
    expect(cut.ids).toEqual(['h0', 'h1', 'h2', 'h3', 'h4']);
    expect(cut.system.length + cut.user.length).toBeLessThanOrEqual(budget);
    expect(explainPrompt(input(6), { maxPromptChars: 200 })).toBeNull();
    expect(explainPrompt(input(0))).toBeNull();
    expect(promptBudget(2048, 500)).toBe(1516);
    expect(promptBudget(64, 100)).toBe(0);
  });

  it('ask and onboarding: the catalog’s categories and ranges as the allowed values', () => {
    const p = askPrompt('lighter, 90s', FACETS, {
      text: 'comedies',
      constraints: { include: ['Comedy'], exclude: [] },
    });
    expect(p.user).toContain('Categories: "Action", "Thriller", "Comedy", "Horror"');
    expect(p.user).toContain('Years: 1977 to 1999.');
    expect(p.user).toContain('Previous request: comedies');
    expect(p.user).toContain('Request: lighter, 90s');
    expect(p.system).toContain('include, exclude, yearMin, yearMax, query, reply');
    const o = onboardPrompt('I like sci-fi', FACETS);
    expect(o.user).not.toContain('Years');
    expect(o.user).toContain('Visitor: I like sci-fi');
    const small = askPrompt('x'.repeat(1000), FACETS, undefined, {
      maxPromptChars: 700,
      maxRequestChars: 100,
    });
    expect(small.system.length + small.user.length).toBeLessThanOrEqual(700);
    expect(small.user).toContain(`${'x'.repeat(99)}…`);
  });
});

describe('the grounding check of titles', () => {
  const index = new TitleIndex(CATALOG.map((i) => i.title));
  const given = ['Star Wars: Episode I (1999)', 'Alien (1979)'];

  it('passes a reason that names only given titles', () => {
    expect(
      ungroundedTitles('Because you liked Alien and Star Wars: Episode I.', given, index),
    ).toEqual([]);
    // "Star Wars" (another catalog title) inside the given "Star Wars: Episode I" does not count.
    expect(ungroundedTitles('More Star Wars: Episode I for you.', given, index)).toEqual([]);
    // A word that is also a title, in lower case, is not a title.
    expect(ungroundedTitles('It brings the heat, like Alien.', given, index)).toEqual([]);
  });

  it('finds catalog titles the model was not given', () => {
    expect(ungroundedTitles('Like Heat and Star Wars, and Alien.', given, index)).toEqual([
      'Heat',
      'Star Wars',
    ]);
    expect(ungroundedTitles('Fans of Fargo (1996) love it.', given, index)).toEqual(['Fargo']);
  });
});

describe('ask(): filters and the lexical query', () => {
  const c = { include: ['Comedy'], exclude: ['Romance'], yearMin: 1990, yearMax: 1999 };

  it('filters by category and year', () => {
    expect(CATALOG.filter((i) => passesFilters(i, c)).map((i) => i.id)).toEqual(['1']);
    expect(passesFilters(CATALOG[0]!, { include: [], exclude: [], priceMax: 10 })).toBe(false);
  });

  it('ranks by query match, then the funnel’s order, then popularity', () => {
    const q = { include: [], exclude: [], query: 'star wars' };
    expect(rankForRequest(CATALOG, q, ['6'], new Set(), 5)).toEqual([
      { id: '6', match: 1 },
      { id: '5', match: 1 },
    ]);
    expect(rankForRequest(CATALOG, q, [], new Set(['5']), 5)).toEqual([{ id: '6', match: 1 }]);
    const none = { include: ['Horror'], exclude: [] };
    expect(rankForRequest(CATALOG, none, ['9'], new Set(), 5).map((x) => x.id)).toEqual([
      '9',
      '4',
      '11',
    ]);
  });
});

describe('stated interests', () => {
  it('checks what a page sets', () => {
    expect(checkInterests({ Comedy: 1, Horror: -0.5, Drama: 0 }, FACETS.categories)).toEqual({
      Comedy: 1,
      Horror: -0.5,
    });
    expect(refusal(() => checkInterests({ Western: 1 }, FACETS.categories)).message).toContain(
      '"Western" is not a category',
    );
    expect(refusal(() => checkInterests({ Comedy: 2 })).message).toContain('[-1, 1]');
    expect(refusal(() => checkInterests([1])).code).toBe('bad-input');
  });

  it('come from onboarding and steer the affinities and the cold start', () => {
    const i = interestsFrom({ include: ['Comedy'], exclude: ['Horror'] });
    expect(i).toEqual({ Comedy: 1, Horror: -1 });
    const a = withStated(new Map([['Drama', 0.3]]), i);
    expect(a.get('Comedy')).toBeCloseTo(Math.tanh(0.5), 6);
    expect(a.get('Horror')).toBeCloseTo(-Math.tanh(0.5), 6);
    expect(a.get('Drama')).toBe(0.3);
    expect(withStated(new Map([['Comedy', 0.5]]), i).get('Comedy')).toBeCloseTo(
      Math.tanh(Math.atanh(0.5) + 0.5),
      6,
    );
    expect(strongestStated(i)).toBe(1);
    const cold = { personal: false, historyLength: 0, sinceLastMs: null };
    expect(sourceWeights(cold)).toEqual({ popular: 1, fresh: 0.4 });
    expect(sourceWeights({ ...cold, strongestStated: 1 })).toEqual({
      popular: 1,
      fresh: 0.4,
      categories: 0.6,
    });
  });
});
