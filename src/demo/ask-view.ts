/**
 * The demo's "Ask" panel (issue #15): a request in plain words → `ask()` → its reply, the items it
 * returned (the catalog's cards, so they can be picked) and who answered — the on-device model by
 * name, or the keyword parser — from the SDK's own `source`. While the visitor has no picks, a
 * sibling form takes a sentence of taste → `onboard()` and shows the starting interests it set,
 * each removable through `setInterests()`.
 */
import type { AskResult, CategoryInterests, OnboardResult, Recommender } from '../client/api.ts';
import { answerLabel } from '../embed/answer-label.ts';
import { describe, type Catalog } from './catalog.ts';
import { byId, h, replaceChildren } from './dom.ts';
import { catalogCards } from './render.ts';

/** Items an answer shows. */
const ASK_K = 6;

export interface AskViewOptions {
  recs: () => Recommender | undefined;
  catalog: () => Catalog;
  /** The visitor's picks now (for the marks on the cards, and whether to offer onboarding). */
  picks: () => string[];
  pick: (id: string) => void;
  /** After onboarding changed the interests: the recommendations follow them. */
  onInterests: () => void;
  onError: (e: unknown) => void;
}

export interface AskView {
  /** Enables the forms once the recommender is there. */
  enable(): void;
  /** Re-renders what depends on the picks (the cards' marks, whether onboarding is offered). */
  render(): void;
}

/** Who answered, for the line under the reply. */
export function answeredBy(r: Pick<AskResult, 'source' | 'fallback'>): string {
  const who = answerLabel(r.source, 'keyword parser');
  const by = who === 'keyword parser' ? 'Answered by the keyword parser' : `Answer ${who}`;
  return r.fallback ? `${by} (the model's answer was not used: ${r.fallback})` : by;
}

/** An interest as a chip's text: "Comedy", or "not Horror" for one to avoid. */
export function interestText(category: string, weight: number): string {
  return weight < 0 ? `not ${category}` : category;
}

/** The interests as chips; `remove` (when given) puts a remove button on each. */
export function interestChips(
  interests: CategoryInterests,
  remove?: (category: string) => void,
): HTMLElement[] {
  return Object.entries(interests).map(([category, weight]) => {
    const text = interestText(category, weight);
    const children: Node[] = [h('span', { text })];
    if (remove)
      children.push(
        h('button', {
          class: 'chip-remove',
          text: '×',
          attrs: { type: 'button', 'aria-label': `Remove ${text}` },
          onClick: () => remove(category),
        }),
      );
    return h('li', { class: 'chip' }, children);
  });
}

/** Wires the Ask panel of index.html. */
export function mountAskView(o: AskViewOptions): AskView {
  const ui = {
    form: byId<HTMLFormElement>('ask-form'),
    input: byId<HTMLInputElement>('ask-input'),
    submit: byId<HTMLButtonElement>('ask-submit'),
    answer: byId('ask-answer'),
    reply: byId('ask-reply'),
    by: byId('ask-by'),
    items: byId('ask-items'),
    onboard: byId('onboard'),
    onboardForm: byId<HTMLFormElement>('onboard-form'),
    onboardInput: byId<HTMLInputElement>('onboard-input'),
    onboardSubmit: byId<HTMLButtonElement>('onboard-submit'),
    onboardReply: byId('onboard-reply'),
    interests: byId('interests'),
  };
  let last: AskResult | undefined;
  let stated: { interests: CategoryInterests; stored: boolean } | undefined;

  const renderAnswer = (): void => {
    if (!last) return;
    const catalog = o.catalog();
    const items = last.items.map((i) => describe(catalog, String(i.id)));
    ui.reply.textContent = last.reply;
    ui.by.textContent = answeredBy(last);
    ui.by.dataset['source'] = typeof last.source === 'object' ? 'llm' : 'template';
    replaceChildren(ui.items, catalogCards(items, new Set(o.picks()), { pick: o.pick }));
    ui.answer.hidden = false;
  };

  const renderInterests = (): void => {
    if (!stated) return;
    const { interests, stored } = stated;
    replaceChildren(ui.interests, interestChips(interests, stored ? remove : undefined));
    ui.interests.hidden = Object.keys(interests).length === 0;
  };

  const remove = (category: string): void => {
    const recs = o.recs();
    if (!recs || !stated) return;
    const rest = { ...stated.interests };
    delete rest[category];
    void recs.setInterests(rest).then((now) => {
      stated = { interests: now, stored: true };
      renderInterests();
      o.onInterests();
    }, o.onError);
  };

  const busy = (button: HTMLButtonElement, on: boolean) => {
    button.disabled = on;
    button.setAttribute('aria-busy', String(on));
  };

  ui.form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const recs = o.recs();
    const text = ui.input.value.trim();
    if (!recs || !text) return;
    busy(ui.submit, true);
    void recs
      .ask(text, { k: ASK_K })
      .then((r) => {
        last = r;
        renderAnswer();
      }, o.onError)
      .finally(() => busy(ui.submit, false));
  });

  ui.onboardForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const recs = o.recs();
    const text = ui.onboardInput.value.trim();
    if (!recs || !text) return;
    busy(ui.onboardSubmit, true);
    void recs
      .onboard(text)
      .then((r: OnboardResult) => {
        stated = { interests: r.interests, stored: r.stored };
        const none = Object.keys(r.interests).length === 0;
        ui.onboardReply.textContent = none
          ? `${r.reply} No category of this catalog was named, so nothing changed.`
          : r.stored
            ? `${r.reply} Starting interests (${answerLabel(r.source, 'keyword parser')}):`
            : `${r.reply} Not remembered: turn on “Personalized” to keep these interests.`;
        renderInterests();
        if (r.stored) o.onInterests();
      }, o.onError)
      .finally(() => busy(ui.onboardSubmit, false));
  });

  return {
    enable() {
      for (const el of [ui.input, ui.submit, ui.onboardInput, ui.onboardSubmit])
        el.disabled = false;
    },
    render() {
      // Onboarding is for a visitor with no history; once interests are shown they stay editable.
      ui.onboard.hidden = o.picks().length > 0 && stated === undefined;
      renderAnswer();
    },
  };
}
