/**
 * The demo's line about the on-device LLM and its download button (issue #15): what
 * `status().llm` says — which model answers, or why none does — and, only when the manifest
 * offers a model this device can run that is not loaded yet, a button stating the download size.
 * Nothing is fetched before the click; `loadLlm()` then downloads and loads it, its progress
 * arriving as the SDK's `llm` changes.
 */
import type { LlmStatus, Recommender } from '../client/api.ts';
import { byId } from './dom.ts';
import { mb } from './render.ts';

export interface LlmView {
  /** Shows an LLM status (from status().llm or an `llm` change). */
  show(llm: LlmStatus): void;
  /** Reads status().llm and shows it. */
  render(recs: Recommender): Promise<void>;
}

/** The status line: who answers the Ask box and the reasons, and why. */
export function llmLine(llm: LlmStatus): string {
  switch (llm.state) {
    case 'ready':
      return `Answers are written on your device by ${llm.model ?? 'the LLM'} (${llm.engine}, ${llm.device}).`;
    case 'loading':
      return `Loading ${llm.model ?? 'the LLM'}… ${Math.round((llm.progress ?? 0) * 100)}%`;
    default:
      return `Answers use the templates and the keyword parser: ${llm.reason}.`;
  }
}

/** The download button's label, with the size when the SDK knows it. */
export function downloadLabel(llm: LlmStatus): string {
  const what = `Use the on-device model ${llm.model ?? ''}`.trimEnd();
  if (llm.downloadBytes === undefined) return what;
  return llm.downloadBytes > 0
    ? `${what} (download ${mb(llm.downloadBytes)} MB)`
    : `${what} (downloaded)`;
}

/** Wires the LLM line and button of index.html; the click calls `loadLlm()`. */
export function mountLlmView(o: {
  recs: () => Recommender | undefined;
  onError: (e: unknown) => void;
}): LlmView {
  const ui = {
    line: byId('llm-line'),
    button: byId<HTMLButtonElement>('llm-download'),
    progress: byId<HTMLProgressElement>('llm-progress'),
  };
  const show = (llm: LlmStatus): void => {
    ui.line.textContent = llmLine(llm);
    ui.line.dataset['state'] = llm.state;
    ui.button.hidden = llm.state !== 'not-loaded' && llm.state !== 'failed';
    ui.button.textContent = llm.state === 'failed' ? 'Try the download again' : downloadLabel(llm);
    ui.button.disabled = false;
    ui.progress.hidden = llm.state !== 'loading';
    if (llm.state === 'loading') ui.progress.value = llm.progress ?? 0;
  };
  ui.button.addEventListener('click', () => {
    const recs = o.recs();
    if (!recs) return;
    ui.button.disabled = true;
    ui.progress.hidden = false;
    ui.progress.removeAttribute('value'); // indeterminate until the first progress arrives
    void recs.loadLlm().then(show, o.onError);
  });
  return {
    show,
    async render(recs) {
      show((await recs.status()).llm);
    },
  };
}
