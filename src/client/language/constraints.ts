/**
 * What `ask()` and `onboard()` turn a request in plain words into (issue #15): categories to
 * include or exclude — from the catalog only — a year or price range where the catalog has one
 * (./facets.ts), a free-text query, and one short reply. {@link constraintSpec} is the
 * constraint handed to the engine (a llama.cpp GBNF grammar for wllama, a JSON schema for
 * web-llm), so even a model with random weights writes JSON in this form; {@link checkConstraints}
 * validates what comes back (and what the keyword parser makes), rejecting anything outside it.
 * Pure: tested in Node.
 */
import { LocalrecError } from '../../core/errors.ts';
import type { LlmConstraint } from '../llm/api.ts';
import { GBNF_JSON_CHAR, gbnfLiteral } from '../llm/grounded.ts';
import type { AskConstraints } from '../assistant/api.ts';
import type { CatalogFacets } from './facets.ts';

export type { AskConstraints };

/** What a constraint may contain. */
export interface ConstraintOptions {
  facets: CatalogFacets;
  /** `onboard`: categories and the reply only (a taste, not a search). Default `ask`. */
  purpose?: 'ask' | 'onboard';
  /** Most categories in each list. Default 5. */
  maxCategories?: number;
  /** Longest query, characters. Default 80. */
  maxQueryChars?: number;
  /** Longest reply, characters. Default 160. */
  maxReplyChars?: number;
}

const NUMERIC = ['yearMin', 'yearMax', 'priceMin', 'priceMax'] as const;
type NumericKey = (typeof NUMERIC)[number];

/** Years a constraint may name (a 4-digit year; the facet range is not a bound: nothing matches). */
const YEAR_BOUNDS = { min: 1000, max: 2999 };
const MAX_PRICE = 9_999_999;

function resolved(o: ConstraintOptions) {
  const maxCategories = o.maxCategories ?? 5;
  const maxQueryChars = o.maxQueryChars ?? 80;
  const maxReplyChars = o.maxReplyChars ?? 160;
  for (const [name, v, hi] of [
    ['maxCategories', maxCategories, 50],
    ['maxQueryChars', maxQueryChars, 500],
    ['maxReplyChars', maxReplyChars, 1000],
  ] as const)
    if (!Number.isInteger(v) || v < 1 || v > hi)
      throw new LocalrecError('bad-input', `${name} must be an integer in 1..${hi}, got ${v}`);
  const ask = (o.purpose ?? 'ask') === 'ask';
  const numeric: NumericKey[] = [];
  if (ask && o.facets.year) numeric.push('yearMin', 'yearMax');
  if (ask && o.facets.price) numeric.push('priceMin', 'priceMax');
  return {
    categories: o.facets.categories,
    maxCategories: Math.min(maxCategories, Math.max(1, o.facets.categories.length)),
    maxQueryChars,
    maxReplyChars,
    numeric,
    query: ask,
  };
}

/** The keys a constraint may have, in the order the grammar writes them. */
export function constraintKeys(options: ConstraintOptions): string[] {
  const o = resolved(options);
  return ['include', 'exclude', ...o.numeric, ...(o.query ? ['query'] : []), 'reply'];
}

/** `[` up to `max` comma-separated `item`s `]`. */
const listRule = (item: string, max: number) =>
  max === 1 ? `"[" ( ${item} )? "]"` : `"[" ( ${item} ( "," ws ${item} ){0,${max - 1}} )? "]"`;

/**
 * The grammar and schema of a constraint for this catalog: categories only from
 * `facets.categories`, year and price fields only where the catalog has them.
 */
export function constraintSpec(options: ConstraintOptions): LlmConstraint & {
  jsonSchema: Record<string, unknown>;
  /** Tokens a complete answer may take at most (every token writes at least one byte). */
  maxTokens: number;
} {
  const o = resolved(options);
  const key = (k: string) => gbnfLiteral(`"${k}":`);
  const cats = o.categories.length
    ? o.categories.map((c) => gbnfLiteral(JSON.stringify(c))).join(' | ')
    : '"\\"\\""'; // no category: the lists can only be empty (the rule is never used)
  const fields = [
    `${key('include')} ws ${o.categories.length ? listRule('cat', o.maxCategories) : '"[]"'}`,
    `${key('exclude')} ws ${o.categories.length ? listRule('cat', o.maxCategories) : '"[]"'}`,
  ];
  const optional = [
    ...o.numeric.map((k) => `( ${key(k)} ws ${k.startsWith('year') ? 'year' : 'price'} "," ws )?`),
    ...(o.query ? [`( ${key('query')} ws "\\"" char{1,${o.maxQueryChars}} "\\"" "," ws )?`] : []),
  ];
  const gbnf = [
    `root ::= "{" ws ${fields.join(' "," ws ')} "," ws ${optional.join(' ')} ${key('reply')} ws "\\"" char{0,${o.maxReplyChars}} "\\"" ws "}"`,
    `cat ::= ${cats}`,
    ...(o.numeric.includes('yearMin') ? ['year ::= [12] [0-9]{3}'] : []),
    ...(o.numeric.includes('priceMin') ? ['price ::= [0-9]{1,7} ( "." [0-9]{1,2} )?'] : []),
    GBNF_JSON_CHAR,
    'ws ::= " "?',
  ].join('\n');
  const list = {
    type: 'array',
    items: { type: 'string', enum: o.categories },
    maxItems: o.maxCategories,
    uniqueItems: true,
  };
  const properties: Record<string, unknown> = { include: list, exclude: list };
  for (const k of o.numeric)
    properties[k] = k.startsWith('year')
      ? { type: 'integer', minimum: YEAR_BOUNDS.min, maximum: YEAR_BOUNDS.max }
      : { type: 'number', minimum: 0, maximum: MAX_PRICE };
  if (o.query) properties['query'] = { type: 'string', minLength: 1, maxLength: o.maxQueryChars };
  properties['reply'] = { type: 'string', maxLength: o.maxReplyChars };
  const jsonSchema = {
    type: 'object',
    properties,
    required: ['include', 'exclude', 'reply'],
    additionalProperties: false,
  };
  // Longest answer in bytes: keys and separators, every category list full of the longest
  // names, each string character as a 6-byte \u escape.
  const utf8 = new TextEncoder();
  const longest = o.categories
    .map((c) => utf8.encode(JSON.stringify(c)).length)
    .sort((a, b) => b - a)
    .slice(0, o.maxCategories)
    .reduce((a, b) => a + b + 2, 0);
  const keys = constraintKeys(options).reduce((a, k) => a + k.length + 6, 4);
  const numbers = o.numeric.length * 10;
  const strings = 6 * ((o.query ? o.maxQueryChars : 0) + o.maxReplyChars);
  return { gbnf, jsonSchema, maxTokens: keys + 2 * longest + numbers + strings + 1 };
}

const refuse = (msg: string) => new LocalrecError('bad-format', `the constraints ${msg}`);

/**
 * Checks a constraint object against the catalog: only known keys; categories from the catalog
 * only, each list without repeats (a category in both lists is dropped from both); numbers where the catalog has
 * the field, in range and min ≤ max; strings within their lengths. Returns a clean copy (query
 * trimmed, empty query dropped).
 *
 * @throws LocalrecError `bad-format` saying what is wrong; `bad-input` for bad options.
 */
export function checkConstraints(value: unknown, options: ConstraintOptions): AskConstraints {
  const o = resolved(options);
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw refuse('are not a JSON object');
  const v = value as Record<string, unknown>;
  const allowed = new Set(constraintKeys(options));
  for (const k of Object.keys(v))
    if (!allowed.has(k))
      throw refuse(
        `have the key ${JSON.stringify(k)}, which this catalog does not offer (allowed: ${[...allowed].join(', ')})`,
      );
  const known = new Set(o.categories);
  const list = (k: 'include' | 'exclude'): string[] => {
    const x = v[k];
    if (!Array.isArray(x)) throw refuse(`have ${k} that is not an array`);
    if (x.length > o.maxCategories)
      throw refuse(`have ${x.length} categories in ${k}, over ${o.maxCategories}`);
    const out: string[] = [];
    for (const c of x) {
      if (typeof c !== 'string' || !known.has(c))
        throw refuse(`name ${JSON.stringify(c)} in ${k}, which is not a category of the catalog`);
      if (!out.includes(c)) out.push(c);
    }
    return out;
  };
  const out: AskConstraints = { include: list('include'), exclude: list('exclude'), reply: '' };
  // A category both wanted and not (the grammar cannot rule it out) says nothing: drop it.
  const both = new Set(out.include.filter((c) => out.exclude.includes(c)));
  if (both.size) {
    out.include = out.include.filter((c) => !both.has(c));
    out.exclude = out.exclude.filter((c) => !both.has(c));
  }
  for (const k of o.numeric) {
    const x = v[k];
    if (x === undefined) continue;
    const year = k.startsWith('year');
    const ok =
      typeof x === 'number' &&
      Number.isFinite(x) &&
      (year
        ? Number.isInteger(x) && x >= YEAR_BOUNDS.min && x <= YEAR_BOUNDS.max
        : x >= 0 && x <= MAX_PRICE);
    if (!ok) throw refuse(`have ${k} ${JSON.stringify(x)}, not a ${year ? 'year' : 'price'}`);
    out[k] = x as number;
  }
  for (const [lo, hi] of [
    ['yearMin', 'yearMax'],
    ['priceMin', 'priceMax'],
  ] as const)
    if (out[lo] !== undefined && out[hi] !== undefined && out[lo] > out[hi])
      throw refuse(`have ${lo} ${out[lo]} above ${hi} ${out[hi]}`);
  if (v['query'] !== undefined) {
    if (typeof v['query'] !== 'string') throw refuse('have a query that is not a string');
    const q = v['query'].trim();
    if ([...q].length > o.maxQueryChars)
      throw refuse(`have a query of ${[...q].length} characters, over ${o.maxQueryChars}`);
    if (q) out.query = q;
  }
  if (typeof v['reply'] !== 'string') throw refuse('have no reply string');
  if ([...v['reply']].length > o.maxReplyChars)
    throw refuse(`have a reply of ${[...v['reply']].length} characters, over ${o.maxReplyChars}`);
  out.reply = v['reply'].trim();
  return out;
}

/** Parses a model's output (JSON text) and checks it with {@link checkConstraints}. */
export function parseConstraints(text: string, options: ConstraintOptions): AskConstraints {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new LocalrecError(
      'bad-format',
      `the model's constraints are not JSON (${text.length} characters)`,
    );
  }
  return checkConstraints(value, options);
}
