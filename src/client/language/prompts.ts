/**
 * The prompts the on-device LLM gets (issue #15), built from what each feature needs and
 * nothing more: explain() gets the candidate's title and categories, which stage of the funnel
 * proposed it, the categories it shares with the history and at most N history items (id, title,
 * categories, similarity) — never a timestamp, a dwell time, an event type, a session or visitor
 * id; ask() and onboard() get the visitor's words and the catalog's categories and ranges.
 * Every part is cut to a length limit and the whole prompt to a budget in characters, which
 * {@link promptBudget} derives from the model's context size. Pure: tested in Node.
 */
import type { ReasonCode } from '../api.ts';
import type { AskConstraints } from './constraints.ts';
import type { CatalogFacets } from './facets.ts';

/** A prompt for the engine (../llm/api.ts LlmGenerateRequest's system and user turns). */
export interface Prompt {
  system: string;
  user: string;
}

/** One history item as explain() may show it. */
export interface PromptItem {
  id: string;
  title: string;
  categories: readonly string[];
}

/** What explain() hands the LLM. */
export interface ExplainPromptInput {
  candidate: PromptItem;
  /** The source that contributed most (the stage that proposed it), or `unknown`. */
  reason: ReasonCode | 'unknown';
  /** Every source that proposed it, strongest first. */
  sources: readonly string[];
  /** Its categories that the recent history shares. */
  sharedCategories: readonly string[];
  /** Recent history items, most similar to the candidate first, with the cosine. */
  history: readonly (PromptItem & { similarity: number })[];
}

/** Length limits of the prompts. */
export interface PromptLimits {
  /** History items explain() shows at most (N). Default 6. */
  maxHistory?: number;
  /** Longest title shown, characters (longer ones end in "…"). Default 80. */
  maxTitleChars?: number;
  /** Longest request text shown, characters. Default 300. */
  maxRequestChars?: number;
  /** Longest whole prompt (system + user), characters. Default 3000. */
  maxPromptChars?: number;
}

/** The explain() prompt, and what it gave the model (for the grounding check). */
export interface ExplainPrompt extends Prompt {
  /** Ids of the history items shown: the evidence may cite only these. */
  ids: string[];
  /** Titles shown (the candidate's and the history items'), as the model saw them. */
  titles: string[];
}

/**
 * Characters a prompt may take for a model of `contextSize` tokens that must also write
 * `answerTokens`: one character per token, which holds for any tokenizer that writes at least a
 * byte a token (a byte-level vocabulary as the tiny test model's); a BPE model just gets a
 * shorter prompt than it could take. 32 tokens are left for the chat template.
 */
export function promptBudget(contextSize: number, answerTokens: number): number {
  return Math.max(0, Math.floor(contextSize - answerTokens - 32));
}

const cut = (s: string, n: number) => {
  const chars = [...s.replace(/\s+/g, ' ').trim()];
  return chars.length <= n ? chars.join('') : `${chars.slice(0, Math.max(0, n - 1)).join('')}…`;
};

/** Why a source proposes items, in words the model can pass on. */
const SOURCE_WORDS: Record<string, string> = {
  sasrec: 'the next-item model, from what the visitor looked at in this visit',
  'two-tower': 'the retrieval model, from the whole history',
  'long-term': "the visitor's long-term taste",
  categories: 'categories the visitor keeps choosing',
  popular: 'popular with other visitors',
  fresh: 'new in the catalog',
  similar: 'similar to an item the visitor looked at',
  explore: 'an exploration slot: something different, to learn what the visitor likes',
  query: 'what the visitor asked for',
};

const EXPLAIN_SYSTEM =
  'You explain to a visitor, in one short friendly sentence, why an item was recommended. ' +
  'Use only the facts given. Name no title other than those given. ' +
  'Answer as JSON: {"reason": sentence, "evidence": [ids of the history items the sentence relies on]}.';

/**
 * The explain() prompt: the candidate, the funnel's own signals and the most similar history
 * items that fit the budget (at most `maxHistory`; items drop from the least similar end).
 *
 * @returns null when not even the candidate and one history item fit `maxPromptChars` (the
 *   caller answers with the template), or when there is no history item to cite.
 */
export function explainPrompt(
  x: ExplainPromptInput,
  limits: PromptLimits = {},
): ExplainPrompt | null {
  const maxHistory = limits.maxHistory ?? 6;
  const titleChars = limits.maxTitleChars ?? 80;
  const budget = limits.maxPromptChars ?? 3000;
  const title = (t: string) => cut(t, titleChars);
  const cats = (c: readonly string[]) =>
    c.length
      ? c
          .slice(0, 4)
          .map((s) => cut(s, 40))
          .join(', ')
      : 'none';
  // Only the fields named here reach the prompt, whatever else the objects carry.
  const history = x.history.slice(0, maxHistory).map((h) => ({
    id: String(h.id),
    title: title(h.title),
    categories: cats(h.categories),
    similarity: Number.isFinite(h.similarity) ? h.similarity.toFixed(2) : '?',
  }));
  if (history.length === 0) return null;
  const sources = x.sources.filter((s) => s !== x.reason).map((s) => SOURCE_WORDS[s] ?? s);
  const head = [
    `Recommended item: "${title(x.candidate.title)}" (categories: ${cats(x.candidate.categories)}).`,
    `Proposed by: ${SOURCE_WORDS[x.reason] ?? 'the recommender'}${sources.length ? `; also ${sources.join('; ')}` : ''}.`,
    `Categories it shares with the visitor's recent items: ${cats(x.sharedCategories)}.`,
    'Recent items of the visitor, most similar first (id, title, categories, similarity):',
  ].join('\n');
  const line = (h: (typeof history)[number]) =>
    `- ${JSON.stringify(h.id)}: "${h.title}" (${h.categories}; ${h.similarity})`;
  for (let n = history.length; n >= 1; n--) {
    const shown = history.slice(0, n);
    const user = `${head}\n${shown.map(line).join('\n')}`;
    if (EXPLAIN_SYSTEM.length + user.length <= budget)
      return {
        system: EXPLAIN_SYSTEM,
        user,
        ids: shown.map((h) => h.id),
        titles: [title(x.candidate.title), ...shown.map((h) => h.title)],
      };
  }
  return null;
}

/** The facets as the model reads them, cut to `chars` (categories are listed most items first). */
function facetLines(facets: CatalogFacets, chars: number, withRanges: boolean): string {
  const lines: string[] = [];
  if (withRanges && facets.year) lines.push(`Years: ${facets.year.min} to ${facets.year.max}.`);
  if (withRanges && facets.price) lines.push(`Prices: ${facets.price.min} to ${facets.price.max}.`);
  let cats = '';
  for (const c of facets.categories) {
    const next = cats ? `${cats}, ${JSON.stringify(c)}` : JSON.stringify(c);
    if (next.length + 12 > chars - lines.join('\n').length) break;
    cats = next;
  }
  return [`Categories: ${cats || 'none'}.`, ...lines].join('\n');
}

/**
 * The ask() prompt: the catalog's categories and ranges as the allowed values, the previous
 * turn of this conversation (its request and constraints: it lives in memory only), the request.
 */
export function askPrompt(
  text: string,
  facets: CatalogFacets,
  previous: { text: string; constraints: Omit<AskConstraints, 'reply'> } | undefined,
  limits: PromptLimits = {},
): Prompt {
  const requestChars = limits.maxRequestChars ?? 300;
  const budget = limits.maxPromptChars ?? 3000;
  const fields = ['include', 'exclude'];
  if (facets.year) fields.push('yearMin', 'yearMax');
  if (facets.price) fields.push('priceMin', 'priceMax');
  fields.push('query', 'reply');
  const system =
    "You turn a visitor's request for recommendations into filters for a catalog. " +
    `Answer as JSON with the keys ${fields.join(', ')}: categories to include or exclude (only from the list), ` +
    `${facets.year || facets.price ? 'ranges only when asked, ' : ''}a short search query of title words when the request names some, ` +
    'and a one-sentence reply to the visitor.';
  const request = `Request: ${cut(text, requestChars)}`;
  const before = previous
    ? `Previous request: ${cut(previous.text, requestChars)}\nIts filters: ${JSON.stringify(previous.constraints)}\n`
    : '';
  const room = budget - system.length - request.length - before.length - 1;
  return { system, user: `${facetLines(facets, Math.max(0, room), true)}\n${before}${request}` };
}

/** The onboarding prompt: a sentence of taste → category interests from the catalog. */
export function onboardPrompt(
  text: string,
  facets: CatalogFacets,
  limits: PromptLimits = {},
): Prompt {
  const budget = limits.maxPromptChars ?? 3000;
  const system =
    'A new visitor describes their taste. Answer as JSON with the keys include (categories they like), ' +
    'exclude (categories they dislike), both only from the list, and reply (one sentence confirming it).';
  const request = `Visitor: ${cut(text, limits.maxRequestChars ?? 300)}`;
  const room = budget - system.length - request.length - 1;
  return { system, user: `${facetLines(facets, Math.max(0, room), false)}\n${request}` };
}
