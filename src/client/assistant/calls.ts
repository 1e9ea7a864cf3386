/**
 * The recommender's assistant calls (issue #15) — explain() with the LLM, ask(), onboard(), the
 * stated interests, loadLlm() and the LLM's status — over one loaded model version and the
 * visitor's mirror, as recommender/local.ts wires them. ask() applies its constraints through
 * the funnel (recommend() with the filters, so the visitor's taste orders what passes) and over
 * the whole catalog's titles for the free-text query (../language/matching.ts). The
 * conversation (the previous request and what it was understood as) is held here in memory
 * only: it is never written to IndexedDB, and close() or forget() drop it.
 */
import { LocalrecError } from '../../core/errors.ts';
import type { LlmChoice } from '../llm/api.ts';
import { probeLlmDevice, type LlmDevice } from '../llm/capability.ts';
import { startLlmWorker, type LlmWorker } from '../llm/worker-client.ts';
import { interestFrom } from '../funnel/interest.ts';
import { rankForRequest, passesFilters } from '../language/matching.ts';
import type { ActiveModel, ModelManager } from '../recommender/models.ts';
import type { Activity } from '../trainer/activity.ts';
import { MAX_K, bad, explainFacts, remember, type QueryContext } from '../recommender/queries.ts';
import { recommend } from '../recommender/recommend.ts';
import type { RecommenderCalls } from '../api.ts';
import type {
  Explanation,
  RecommendedItem,
  RecommenderChange,
  RecommenderWarning,
} from '../types.ts';
import type { AskOptions, AskResult } from '../types.ts';
import type {
  AskConstraints,
  CategoryInterests,
  ExplainOptions,
  LlmStatus,
  OnboardResult,
} from './api.ts';
import { Assistant, catalogViewCache } from './assistant.ts';
import { checkInterests, interestsFrom, StatedInterests } from './interests.ts';
import { LlmSession, type LlmModelSource } from './llm-session.ts';

/** The `llm` option's values. */
export const LLM_CHOICES: readonly LlmChoice[] = ['auto', 'webgpu', 'wasm', 'off'];

/** Longest request ask() and onboard() take, characters. */
export const MAX_REQUEST_CHARS = 1000;

export interface AssistantCallsOptions {
  /** The `llm` option (default 'auto'). */
  choice?: LlmChoice;
  /** The owner's models (default: none — the recommender reads as having no model). */
  source?: LlmModelSource;
  /** Starts the llm worker (default: workers/llm.worker.ts); tests inject one. */
  startWorker?: () => LlmWorker;
  /** Reads the device (default: ../llm/capability.ts probeLlmDevice); tests inject one. */
  probe?: () => Promise<LlmDevice>;
  /** A generation longer than this is stopped and the template answers (default 60 s). */
  timeoutMs?: number;
  ctx: QueryContext;
  /** Runs calls that use the device (the trainer never runs beside one). */
  activity: Pick<Activity, 'run'>;
  /** Runs a call on the model version in use. */
  models: Pick<ModelManager, 'use'>;
  emit: (change: RecommenderChange) => void;
  warn: (warning: RecommenderWarning) => void;
}

/** Checks the `llm` option. @throws LocalrecError `bad-input` naming the valid choices. */
export function checkLlmChoice(choice: unknown): void {
  if (choice !== undefined && !LLM_CHOICES.includes(choice as LlmChoice))
    throw new LocalrecError(
      'bad-input',
      `unknown llm '${String(choice)}'; valid choices are ${LLM_CHOICES.join(', ')}`,
    );
}

function checkText(what: string, text: unknown): string {
  if (typeof text !== 'string' || text.trim() === '')
    throw bad(`${what}: the request must be a non-empty string`);
  if (text.length > MAX_REQUEST_CHARS)
    throw bad(`${what}: the request is ${text.length} characters, over ${MAX_REQUEST_CHARS}`);
  return text;
}

/** The assistant calls and their lifecycle. */
export function assistantCalls(o: AssistantCallsOptions) {
  const choice = o.choice ?? 'auto';
  const session = new LlmSession({
    choice,
    source: o.source,
    start: o.startWorker ?? (() => startLlmWorker()),
    probe: o.probe ?? probeLlmDevice,
    onStatus: (llm) => o.emit({ kind: 'llm', llm }),
    ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
  });
  const assistant = new Assistant({ session });
  const onWarning = (message: string) => o.warn({ code: 'memory', message });
  const stated = new StatedInterests({
    memory: () => (o.ctx.visitor.personal ? o.ctx.visitor.memory : undefined),
    onWarning,
  });
  o.ctx.stated = () => stated.current;
  const views = catalogViewCache();
  const viewOf = (m: ActiveModel) => views(() => m.catalog.items(), m.catalog, m.catalog.size);
  let conversation: { text: string; constraints: Omit<AskConstraints, 'reply'> } | undefined;

  const calls = {
    /** Reads the stored interests (at start, and after a change from elsewhere). */
    reload: () => stated.reload(),

    /** What another part of the recommender changed: the mirror follows. */
    changed(change: RecommenderChange): void {
      if (change.kind === 'forget') conversation = undefined;
      if (['sync', 'import', 'forget', 'consent'].includes(change.kind))
        stated
          .reload()
          .catch((e: unknown) => onWarning(`reading the stated interests failed: ${String(e)}`));
    },

    status: (): Promise<LlmStatus> => session.status(),

    loadLlm: (): Promise<LlmStatus> => session.load(),

    async explain(
      itemId: string,
      options: ExplainOptions | undefined,
      stream?: (text: string) => void,
    ): Promise<Explanation> {
      if (options !== undefined && (typeof options !== 'object' || options === null))
        throw bad('explain() takes (itemId, { stream?, signal? })');
      const onText = stream ?? options?.stream;
      if (onText !== undefined && typeof onText !== 'function')
        throw bad('explain: stream must be a function');
      const signal = options?.signal;
      if (signal !== undefined && !(signal instanceof AbortSignal))
        throw bad('explain: signal must be an AbortSignal');
      const { template, input, view } = await o.models.use(async (m) => ({
        ...(await explainFacts(o.ctx, m, itemId)),
        view: viewOf(m),
      }));
      return assistant.explain(template, input, view, {
        ...(onText ? { stream: onText } : {}),
        ...(signal ? { signal } : {}),
      });
    },

    async ask(text: string, options: AskOptions = {}): Promise<AskResult> {
      checkText('ask', text);
      if (typeof options !== 'object' || options === null)
        throw bad('ask() takes (text, { k?, context?, exclude?, newConversation? })');
      const k = options.k ?? 10;
      if (!Number.isInteger(k) || k < 0 || k > MAX_K)
        throw bad(`ask: k must be an integer in 0..${MAX_K}, got ${String(k)}`);
      if (options.newConversation) conversation = undefined;
      return o.models.use(async (m) => {
        const view = viewOf(m);
        const r = await assistant.constraints(text, 'ask', view, conversation);
        const { reply, ...c } = r.constraints;
        const slot = options.context?.slot ?? 'ask';
        // The funnel orders what passes the filters by the visitor's taste.
        const funnel = await recommend(o.ctx, m, {
          k: Math.min(MAX_K, Math.max(50, 5 * k)),
          ...(options.exclude ? { exclude: options.exclude } : {}),
          context: { ...options.context, slot },
          filters: {
            categories: { ...(c.include.length ? { include: c.include } : {}), exclude: c.exclude },
            predicate: (item) => passesFilters(item, c),
          },
        });
        const visitor = o.ctx.visitor;
        const exclude = new Set<string>(options.exclude ?? []);
        if (options.context?.itemId !== undefined) exclude.add(options.context.itemId);
        if (visitor.personal) {
          const v = interestFrom(
            visitor.recent,
            visitor.profile.disliked,
            o.ctx.now(),
            visitor.gapMs,
          );
          for (const id of v.seen) exclude.add(id);
          for (const id of v.disliked) exclude.add(id);
        }
        const byId = new Map(funnel.items.map((x) => [x.id, x]));
        const items: RecommendedItem[] = rankForRequest(
          m.catalog.items(),
          c,
          funnel.items.map((x) => x.id),
          exclude,
          k,
        ).map(({ id, match }) => {
          const from = byId.get(id);
          if (from && !c.query) return from;
          const why = c.query ? 'query' : 'popular';
          return {
            ...m.catalog.summary(id),
            score: c.query ? match : (from?.score ?? 0),
            reason: from?.reason ?? why,
            sources: from ? [...from.sources, ...(c.query ? ['query'] : [])] : [why],
          };
        });
        remember(o.ctx, items);
        // The slot showed these items, not the funnel's longer list (skips are counted on it).
        o.ctx.shown.set(slot, { ids: items.map((x) => x.id), at: o.ctx.now() });
        conversation = { text, constraints: c };
        return {
          items,
          reply,
          constraints: r.constraints,
          source: r.source,
          ...(r.fallback ? { fallback: r.fallback } : {}),
          modelVersion: m.plan.modelVersion,
        };
      });
    },

    async onboard(text: string): Promise<OnboardResult> {
      checkText('onboard', text);
      const view = await o.models.use(async (m) => viewOf(m));
      const r = await assistant.constraints(text, 'onboard', view);
      const interests = interestsFrom(r.constraints);
      // A sentence that names no category keeps what was stated before.
      const stored = Object.keys(interests).length > 0 && (await stated.set(interests));
      if (stored) o.emit({ kind: 'profile' });
      return {
        interests,
        reply: r.constraints.reply,
        source: r.source,
        ...(r.fallback ? { fallback: r.fallback } : {}),
        stored,
      };
    },

    interests: async (): Promise<CategoryInterests> => ({ ...stated.current }),

    async setInterests(interests: CategoryInterests): Promise<CategoryInterests> {
      const known = await o.models.use(async (m) => viewOf(m).facets.categories);
      const checked = checkInterests(interests, known);
      if (await stated.set(checked)) o.emit({ kind: 'profile' });
      return { ...stated.current };
    },

    close: () => session.close(),
  };
  /**
   * The recommender's methods: those that use the device (the funnel, the LLM) run as calls the
   * trainer waits for. explain()'s third argument is its stream as the worker's page passes it
   * (comlink proxies only top-level arguments: recommender/page.ts).
   */
  const methods: Pick<
    RecommenderCalls,
    'explain' | 'ask' | 'onboard' | 'interests' | 'setInterests' | 'loadLlm'
  > = {
    explain: (itemId, options, stream?: (text: string) => void) =>
      o.activity.run(() => calls.explain(itemId, options, stream)),
    ask: (text, options) => o.activity.run(() => calls.ask(text, options)),
    onboard: (text) => o.activity.run(() => calls.onboard(text)),
    interests: () => calls.interests(),
    setInterests: (interests) => calls.setInterests(interests),
    loadLlm: () => calls.loadLlm(),
  };
  return { ...calls, calls: methods };
}
