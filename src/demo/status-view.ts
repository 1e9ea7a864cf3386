/**
 * The page's status line, error box, update banner and footer stats (device, kernel, the last
 * recommend() time, model version, items, offline readiness): what the SDK reports, shown.
 */
import type { LoadProgress, Recommender } from '../client/api.ts';
import { isLocalrecError } from '../core/errors.ts';
import type { WidgetRecommender } from '../embed/widget.ts';
import { byId } from './dom.ts';
import { ms } from './render.ts';

/** A mounted status view. */
export interface StatusView {
  /** The status line; ignored after a failure, so late progress cannot paint over the error. */
  setStatus(text: string, mode: 'busy' | 'ready' | 'error', fraction?: number): void;
  /** Shows an error (its code and message) and stops the status line. */
  showError(e: unknown): void;
  /** A small non-blocking banner at the bottom: one message, an action, and "later". */
  showBanner(text: string, action: { label: string; run: () => void } | null): void;
  /** Shows load progress on the status line and the footer's item count. */
  onProgress(p: LoadProgress): void;
  /** Reads status() and renders the footer and the status line. */
  render(recs: Recommender): Promise<void>;
  /** The widget's recommender, timing every list it asks for (for the footer). */
  timed(recs: Recommender): WidgetRecommender;
  /** The footer's "offline" stat. */
  setOffline(text: 'ready' | 'not yet' | 'unavailable', title?: string): void;
  /** The device the footer shows ('' before the model is complete). */
  device(): string;
}

const itemsText = (items: number, total: number) =>
  items < total
    ? `${items.toLocaleString('en-US')} of ${total.toLocaleString('en-US')}`
    : items.toLocaleString('en-US');

/** Wires the status elements of index.html. */
export function mountStatusView(): StatusView {
  const ui = {
    statusText: byId('status-text'),
    statusDot: document.querySelector<HTMLElement>('.status-dot')!,
    progress: byId<HTMLProgressElement>('status-progress'),
    error: byId('error'),
    recsEmpty: byId('recs-empty'),
    banner: byId('update-banner'),
    bannerText: byId('update-text'),
    bannerApply: byId<HTMLButtonElement>('update-apply'),
    bannerDismiss: byId<HTMLButtonElement>('update-dismiss'),
    device: byId('stat-device'),
    kernel: byId('stat-kernel'),
    recommendTime: byId('stat-recommend'),
    model: byId('stat-model'),
    items: byId('stat-items'),
    offline: byId('stat-offline'),
  };
  let failed = false;
  ui.bannerDismiss.addEventListener('click', () => (ui.banner.hidden = true));

  const setStatus: StatusView['setStatus'] = (text, mode, fraction) => {
    if (failed && mode !== 'error') return;
    ui.statusText.textContent = text;
    ui.statusText.title = text;
    ui.statusDot.dataset['state'] = mode;
    ui.progress.hidden = fraction === undefined;
    if (fraction !== undefined) ui.progress.value = fraction;
  };

  return {
    setStatus,
    showError(e) {
      const code = isLocalrecError(e) ? e.code : 'internal';
      const message = e instanceof Error ? e.message : String(e);
      ui.error.replaceChildren();
      const strong = document.createElement('strong');
      strong.textContent = code;
      ui.error.append(strong, ` ${message}`);
      ui.error.hidden = false;
      failed = true;
      setStatus('stopped: see the error above', 'error');
      console.error(e);
    },
    showBanner(text, action) {
      ui.bannerText.textContent = text;
      ui.bannerApply.textContent = action?.label ?? 'OK';
      ui.bannerApply.onclick = () => {
        ui.banner.hidden = true;
        action?.run();
      };
      ui.bannerDismiss.hidden = action === null;
      ui.banner.hidden = false;
    },
    onProgress(p) {
      if (p.phase === 'update') setStatus(p.text, 'busy', p.progress);
      else if (p.phase !== 'complete')
        setStatus(p.text, 'busy', p.totalBytes > 0 ? p.progress : undefined);
      if (p.items > 0) ui.items.textContent = itemsText(p.items, p.totalItems);
    },
    async render(recs) {
      const s = await recs.status();
      ui.device.textContent = s.device;
      ui.kernel.textContent = s.kernel;
      ui.model.textContent = s.modelVersion;
      ui.model.title = `${s.modelVersion}${s.manifestVersion !== null ? `, publication ${s.manifestVersion}` : ''}`;
      ui.items.textContent = itemsText(s.items, s.totalItems);
      const offline = s.source === 'cache' || !navigator.onLine;
      const where = offline ? 'offline, from the model saved on this device' : `on ${s.device}`;
      if (s.complete)
        setStatus(`ready ${where} · ${itemsText(s.items, s.totalItems)} items`, 'ready');
      else if (offline) setStatus(`loading ${where}`, 'busy');
    },
    timed(recs) {
      return {
        recommend: async (options) => {
          const r = await recs.recommend(options);
          const t = r.timings;
          ui.recommendTime.textContent = ms(t.totalMs);
          ui.recommendTime.title = `state ${ms(t.stateMs)}, retrieve ${ms(t.retrieveMs)}, rerank ${ms(t.rerankMs)}; ${r.itemsSearched} of ${r.totalItems} items searched`;
          ui.recsEmpty.hidden = true;
          return r;
        },
        track: (event) => recs.track(event),
        explain: (itemId) => recs.explain(itemId),
      };
    },
    setOffline(text, title) {
      ui.offline.textContent = text;
      if (title !== undefined) ui.offline.title = title;
    },
    device: () => ui.device.textContent ?? '',
  };
}
