/**
 * What the recommender asks of the on-device LLM, and what answers when it cannot (issue #15):
 * a grounded explanation or the template, and a request's constraints from the LLM or from
 * the keyword parser. Every path answers: no model, a model not loaded yet, malformed output,
 * evidence outside what was given, a title it was not given, a timeout — each ends in the
 * template or the keyword parser, and the answer says who wrote it (and why not the LLM).
 */
import type { ItemInfo } from '../../core/types.ts';
import type { Explanation } from '../types.ts';
import { groundedSpec, parseGrounded } from '../llm/grounded.ts';
import type { AnswerSource, AskConstraints, ExplainOptions } from './api.ts';
import { parseConstraints, constraintSpec } from '../language/constraints.ts';
import { catalogFacets, type CatalogFacets } from '../language/facets.ts';
import { TitleIndex, ungroundedTitles } from '../language/grounding.ts';
import { describeConstraints, parseKeywords } from '../language/keywords.ts';
import type { LlmSession } from './llm-session.ts';
import {
  askPrompt,
  explainPrompt,
  onboardPrompt,
  promptBudget,
  type ExplainPromptInput,
  type Prompt,
  type PromptLimits,
} from '../language/prompts.ts';

/** Longest LLM explanation, characters. */
export const MAX_REASON_CHARS = 160;

/** The catalog as the assistant reads it. */
export interface CatalogView {
  facets: CatalogFacets;
  titles: TitleIndex;
}

/** A catalog's view, rebuilt only when its metadata grew (shards arrive one by one). */
export function catalogViewCache(): (
  items: () => Iterable<ItemInfo>,
  key: object,
  size: number,
) => CatalogView {
  let last: { key: object; size: number; view: CatalogView } | undefined;
  return (items, key, size) => {
    if (last?.key === key && last.size === size) return last.view;
    const all = [...items()];
    const view = { facets: catalogFacets(all), titles: new TitleIndex(all.map((i) => i.title)) };
    last = { key, size, view };
    return view;
  };
}

/**
 * The text of the `reason` string as the JSON streams in (`{"reason": "…` comes first: the
 * grammar fixes the order), escapes decoded; silent once the string ends.
 */
export function reasonStreamer(onText: (text: string) => void): (piece: string) => void {
  let raw = '';
  let sent = 0;
  let done = false;
  return (piece) => {
    if (done) return;
    raw += piece;
    const m = /^\s*\{\s*"reason"\s*:\s*"/.exec(raw);
    if (!m) return;
    let out = '';
    let i = m[0].length;
    for (; i < raw.length; i++) {
      const ch = raw[i]!;
      if (ch === '"') {
        done = true;
        break;
      }
      if (ch !== '\\') {
        out += ch;
        continue;
      }
      const next = raw[i + 1];
      if (next === undefined) break; // the escape's rest is still to come
      if (next === 'u') {
        const hex = raw.slice(i + 2, i + 6);
        if (hex.length < 4) break;
        out += String.fromCharCode(parseInt(hex, 16));
        i += 5;
      } else {
        out +=
          ({ n: '\n', t: '\t', r: '\r', b: '\b', f: '\f' } as Record<string, string>)[next] ?? next;
        i += 1;
      }
    }
    if (out.length > sent) {
      const text = out.slice(sent);
      sent = out.length;
      onText(text);
    }
  };
}

const why = (e: unknown) => (e instanceof Error ? e.message : String(e));

export class Assistant {
  constructor(
    private readonly o: {
      session: LlmSession;
      limits?: Omit<PromptLimits, 'maxPromptChars'>;
    },
  ) {}

  /** A generation for `prompt` within the loaded model's context. */
  private async generate(
    prompt: Prompt,
    constraint: { gbnf: string; jsonSchema: Record<string, unknown>; maxTokens: number },
    options: { signal?: AbortSignal; onToken?: (t: string) => void },
  ): Promise<string> {
    const answerTokens = Math.min(constraint.maxTokens, Math.floor(this.o.session.contextSize / 2));
    const g = await this.o.session.generate({
      ...prompt,
      constraint: { gbnf: constraint.gbnf, jsonSchema: constraint.jsonSchema },
      maxTokens: answerTokens,
      temperature: 0.2,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onToken ? { onToken: options.onToken } : {}),
    });
    return g.text;
  }

  /** The prompt budget of the loaded model for an answer of up to `maxTokens`. */
  private budget(maxTokens: number): number {
    const ctx = this.o.session.contextSize;
    return promptBudget(ctx, Math.min(maxTokens, Math.floor(ctx / 2)));
  }

  /**
   * The LLM's grounded explanation, or `template` (at once when no model is loaded).
   *
   * @throws the signal's reason when `options.signal` aborts.
   */
  async explain(
    template: Omit<Explanation, 'source'>,
    input: ExplainPromptInput,
    catalog: CatalogView,
    options: ExplainOptions = {},
  ): Promise<Explanation> {
    const fallback = (reason?: string): Explanation => ({
      ...template,
      source: 'template',
      ...(reason ? { fallback: reason } : {}),
    });
    const session = this.o.session;
    if (!session.ready) return fallback();
    const source = session.source;
    // The grammar's bound is known before the prompt: the prompt takes what is left.
    const probe = explainPrompt(input, { ...this.o.limits, maxPromptChars: Infinity });
    if (!probe) return fallback('there is no history item the LLM could cite');
    const bound = groundedSpec({ ids: probe.ids, maxReasonChars: MAX_REASON_CHARS }).maxTokens;
    const prompt = explainPrompt(input, { ...this.o.limits, maxPromptChars: this.budget(bound) });
    if (!prompt) return fallback("the prompt does not fit the model's context");
    const spec = groundedSpec({ ids: prompt.ids, maxReasonChars: MAX_REASON_CHARS });
    let text: string;
    try {
      text = await this.generate(
        prompt,
        { gbnf: spec.gbnf, jsonSchema: spec.schema, maxTokens: spec.maxTokens },
        {
          ...(options.signal ? { signal: options.signal } : {}),
          ...(options.stream ? { onToken: reasonStreamer(options.stream) } : {}),
        },
      );
    } catch (e) {
      // The caller's own abort rejects (with its reason, whatever the worker hop made of it).
      if (options.signal?.aborted) throw options.signal.reason;
      return fallback(`the LLM failed: ${why(e)}`);
    }
    let answer;
    try {
      answer = parseGrounded(text, { ids: prompt.ids, maxReasonChars: MAX_REASON_CHARS });
    } catch (e) {
      return fallback(why(e));
    }
    const made = ungroundedTitles(answer.reason, prompt.titles, catalog.titles);
    if (made.length)
      return fallback(
        `the LLM named ${made.map((t) => `"${t}"`).join(', ')}, which it was not given`,
      );
    const reason = answer.reason.trim();
    if (!reason) return fallback('the LLM wrote an empty reason');
    const titleOf = new Map(input.history.map((h) => [h.id, h.title]));
    return {
      ...template,
      text: reason,
      becauseOf: answer.evidence.map((id) => ({ id, title: titleOf.get(id) ?? id })),
      source,
    };
  }

  /**
   * The constraints of a request: from the LLM when one is loaded (checked against the
   * catalog), else — or when its answer fails the check — from the keyword parser.
   */
  async constraints(
    text: string,
    purpose: 'ask' | 'onboard',
    catalog: CatalogView,
    previous?: { text: string; constraints: Omit<AskConstraints, 'reply'> },
  ): Promise<{ constraints: AskConstraints; source: AnswerSource; fallback?: string }> {
    const options = { facets: catalog.facets, purpose } as const;
    const keywords = (fallback?: string) => {
      const c = parseKeywords(text, options);
      return {
        constraints: { ...c, reply: describeConstraints(c, purpose) },
        source: 'template' as const,
        ...(fallback ? { fallback } : {}),
      };
    };
    const session = this.o.session;
    if (!session.ready) return keywords();
    const source = session.source;
    const spec = constraintSpec(options);
    const limits = { ...this.o.limits, maxPromptChars: this.budget(spec.maxTokens) };
    const prompt =
      purpose === 'ask'
        ? askPrompt(text, catalog.facets, previous, limits)
        : onboardPrompt(text, catalog.facets, limits);
    try {
      const out = parseConstraints(await this.generate(prompt, spec, {}), options);
      const { reply, ...c } = out;
      return { constraints: { ...c, reply: reply || describeConstraints(c, purpose) }, source };
    } catch (e) {
      return keywords(`the LLM's answer was not used: ${why(e)}`);
    }
  }
}
