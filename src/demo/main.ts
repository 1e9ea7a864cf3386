/**
 * The demo page, on the real SDK: `createRecommender()` verifies the signed model against the
 * key pinned in localrec-config.json and keeps the visitor's memory in IndexedDB; the embeddable
 * widget (src/embed/widget.ts) shows the recommendations. The page adds a catalog browser, the
 * visitor's picks, a "Your data" view, visible consent, and the PWA shell: a service worker that
 * makes the next load work offline and a banner when a new app or model version is in.
 *
 * Nothing about the visitor is sent anywhere: the page's requests are its own files, the config,
 * the manifest and the blobs it names.
 */
import './styles.css';
import { DEVICE_CHOICES, type DeviceChoice } from '../client/ranker/device.ts';
import { createRecommender } from '../client/recommender/page.ts';
import type {
  Consent,
  LoadProgress,
  Recommender,
  RecommenderChange,
  StoredEvent,
} from '../client/api.ts';
import { LocalrecError } from '../core/errors.ts';
import { mountWidget, type Widget } from '../embed/widget.ts';
import { mountAskView } from './ask-view.ts';
import { catalogFrom, searchCatalog, type Catalog } from './catalog.ts';
import { loadSiteConfig, type SiteConfig } from './config.ts';
import { byId, replaceChildren } from './dom.ts';
import { offlineReady } from './offline-check.ts';
import { startServiceWorker } from './pwa.ts';
import { mountLlmView } from './llm-view.ts';
import { catalogCards, historyRows, picksFrom } from './render.ts';
import { mountStatusView } from './status-view.ts';
import { readMemory } from './your-data.ts';
import { mountYourDataView } from './your-data-view.ts';

/** Cards rendered per "show more": enough to browse, few enough that a 50k catalog stays fast. */
const PAGE = 60;
/** Recommendations in the widget. */
const K = 8;
/** Picks listed in the side panel. */
const PICKS_SHOWN = 30;

const ui = {
  browse: byId('view-browse'),
  data: byId('view-your-data'),
  nav: [...document.querySelectorAll<HTMLAnchorElement>('.nav a')],
  callout: byId('consent-callout'),
  accept: byId<HTMLButtonElement>('consent-accept'),
  decline: byId<HTMLButtonElement>('consent-decline'),
  search: byId<HTMLInputElement>('search'),
  hint: byId('hint'),
  grid: byId('catalog-grid'),
  count: byId('catalog-count'),
  more: byId<HTMLButtonElement>('show-more'),
  personalize: byId<HTMLInputElement>('personalize'),
  widgetHost: byId('recs-widget'),
  history: byId('history'),
  historyEmpty: byId('history-empty'),
  consentPersonalization: byId<HTMLInputElement>('consent-personalization'),
  consentFederated: byId<HTMLInputElement>('consent-federated'),
};

/** Where the encoders run, once the model is complete: the service worker warms only its ORT. */
let onDevice: (device: string) => void = () => {};
const deviceReady = new Promise<string>((resolve) => (onDevice = resolve));

const state = {
  config: undefined as SiteConfig | undefined,
  recs: undefined as Recommender | undefined,
  widget: undefined as Widget | undefined,
  catalog: catalogFrom([]) as Catalog,
  events: [] as StoredEvent[],
  consent: { personalization: false, federated: false, updatedAt: null } as Consent,
  /** The last consent change on its way to the memory: picks wait for it. */
  consentWrite: Promise.resolve() as Promise<unknown>,
  /** Picks on their way to the memory, shown at once (the worker may be busy loading). */
  pending: new Set<string>(),
  limit: PAGE,
  complete: false,
  swReady: false,
};

const yourData = mountYourDataView({
  recs: () => state.recs,
  catalog: () => state.catalog,
  onError: (e) => showError(e),
});

const status = mountStatusView();
const { setStatus, showError, showBanner } = status;

const ask = mountAskView({
  recs: () => state.recs,
  catalog: () => state.catalog,
  picks: () => currentPicks(),
  pick: (id) => void pick(id),
  onInterests: () => void state.widget?.refresh(),
  onError: (e) => showError(e),
});
const llm = mountLlmView({ recs: () => state.recs, onError: (e) => showError(e) });

// ---- catalog and picks -------------------------------------------------------------------

/** Picks newest first: those still being stored, then the memory's. */
function currentPicks(): string[] {
  return [...new Set([...[...state.pending].reverse(), ...picksFrom(state.events)])];
}

function renderCatalog(): void {
  const matches = searchCatalog(state.catalog, ui.search.value);
  const shown = matches.slice(0, state.limit);
  const picked = new Set(currentPicks());
  replaceChildren(ui.grid, catalogCards(shown, picked, { pick: (id) => void pick(id) }));
  const total = state.catalog.items.length;
  // Before the catalog arrives there is nothing to count; "0 items" would read as an empty shop.
  ui.count.textContent =
    total === 0
      ? ''
      : matches.length === total
        ? `${total} items`
        : `${matches.length} of ${total} items`;
  ui.more.hidden = matches.length <= shown.length;
  ui.more.textContent = `Show more (${matches.length - shown.length} left)`;
}

function renderPicks(): void {
  const picks = currentPicks();
  replaceChildren(ui.history, historyRows(picks.slice(0, PICKS_SHOWN), state.catalog));
  ui.historyEmpty.hidden = picks.length > 0;
  renderCatalog();
  ask.render();
}

async function pick(itemId: string): Promise<void> {
  const recs = state.recs;
  if (!recs) return;
  await state.consentWrite;
  const remembered = state.consent.personalization;
  if (remembered) {
    state.pending.delete(itemId);
    state.pending.add(itemId);
    renderPicks();
  }
  try {
    const { stored } = await recs.track({ type: 'like', itemId, context: { page: 'catalog' } });
    if (!stored) {
      // Without consent nothing is remembered: say so where the visitor is looking.
      ui.hint.textContent =
        'Not remembered: turn on “Personalized” to let this browser keep your picks.';
      ui.callout.hidden = false;
    }
  } catch (e) {
    showError(e);
  } finally {
    // Stored picks arrived through onChange('track') before track() resolved.
    state.pending.delete(itemId);
    if (remembered) renderPicks();
  }
  await state.widget?.refresh();
}

// ---- consent ------------------------------------------------------------------------------

function renderConsent(): void {
  const c = state.consent;
  ui.personalize.checked = c.personalization;
  ui.consentPersonalization.checked = c.personalization;
  ui.consentFederated.checked = c.federated;
  // Asked once, visibly: until the visitor chose either way.
  ui.callout.hidden = c.personalization || c.updatedAt !== null;
  if (c.personalization)
    ui.hint.textContent = 'Pick a few things you like; each pick updates the recommendations.';
}

function setConsent(flags: Partial<Pick<Consent, 'personalization' | 'federated'>>): void {
  const recs = state.recs;
  if (!recs) return;
  // Shown at once; picks made meanwhile wait for the write (consentWrite).
  state.consent = { ...state.consent, ...flags, updatedAt: Date.now() };
  renderConsent();
  state.consentWrite = recs
    .setConsent(flags)
    .then((c) => (state.consent = c), showError)
    .finally(renderConsent);
}

// ---- status and footer ---------------------------------------------------------------------

function onProgress(p: LoadProgress): void {
  status.onProgress(p);
  // The first load's end is awaited in boot(); this covers a model update's end.
  if (p.phase === 'complete' && state.complete) void renderStatus();
}

async function renderStatus(): Promise<void> {
  if (state.recs) await status.render(state.recs);
}

async function afterComplete(): Promise<void> {
  state.complete = true;
  await renderStatus();
  onDevice(status.device());
  void checkOffline();
}

/**
 * "offline: ready" once the service worker controls the page and everything an offline start
 * reads is stored: the app shell (precached), config and ORT (runtime caches), and the SDK's
 * manifest and every blob of the current version (offline-check.ts).
 */
async function checkOffline(): Promise<void> {
  if (!state.swReady || !state.complete || !state.config) return;
  if (await offlineReady(state.config)) {
    status.setOffline('ready', 'This page and its model load without a network');
    document.documentElement.dataset['offline'] = 'ready';
  } else status.setOffline('not yet');
}

// ---- views --------------------------------------------------------------------------------

function currentView(): 'browse' | 'your-data' {
  return location.hash === '#/your-data' ? 'your-data' : 'browse';
}

function route(): void {
  const view = currentView();
  ui.browse.hidden = view !== 'browse';
  ui.data.hidden = view !== 'your-data';
  for (const a of ui.nav) {
    if (a.dataset['view'] === view) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (view === 'your-data') void yourData.render().catch(showError);
}

// ---- changes from the SDK ------------------------------------------------------------------

/** The catalog browser's items: every item of the current model, from the SDK (verified). */
async function reloadCatalog(): Promise<void> {
  if (!state.recs) return;
  state.catalog = catalogFrom((await state.recs.catalog()).items);
  ui.search.disabled = false;
  renderPicks();
}

function onChange(c: RecommenderChange): void {
  switch (c.kind) {
    case 'track':
      state.events.push(c.event);
      if (c.event.type !== 'view') renderPicks();
      break;
    case 'consent':
      state.consent = c.consent;
      renderConsent();
      void state.widget?.refresh();
      break;
    case 'forget':
    case 'import':
    case 'sync':
      void (async () => {
        const recs = state.recs;
        if (!recs) return;
        const snapshot = await readMemory(recs);
        state.events = snapshot.events;
        state.consent = snapshot.consent;
        renderConsent();
        renderPicks();
        await state.widget?.refresh();
      })().catch(showError);
      break;
    case 'model':
      showBanner(`The recommendations now use a new model (${c.modelVersion}).`, null);
      void reloadCatalog().catch(showError);
      void state.widget?.refresh();
      void renderStatus();
      // A new version may offer another LLM (or none).
      if (state.recs) void llm.render(state.recs).catch(showError);
      break;
    case 'llm':
      llm.show(c.llm);
      break;
    case 'profile':
    case 'outbox':
    case 'contribution':
      break;
  }
  if (currentView() === 'your-data') void yourData.render().catch(showError);
}

// ---- start --------------------------------------------------------------------------------

function deviceFromUrl(): DeviceChoice {
  const v = new URLSearchParams(location.search).get('device') ?? 'auto';
  if (!(DEVICE_CHOICES as readonly string[]).includes(v)) {
    throw new LocalrecError(
      'bad-input',
      `?device=${v} is not a device; use one of ${DEVICE_CHOICES.join(', ')}`,
    );
  }
  return v as DeviceChoice;
}

async function boot(): Promise<void> {
  route();
  renderPicks();
  const sw = startServiceWorker({
    device: deviceReady,
    onUpdateWaiting: (apply) =>
      showBanner('A new version of this app is ready.', { label: 'Reload', run: apply }),
    onOfflineReady: () => {
      state.swReady = true;
      void checkOffline();
    },
    onError: (message) => {
      status.setOffline('unavailable', message);
      console.warn(`[demo] ${message}`);
    },
  });
  if (!sw) status.setOffline('unavailable');

  const device = deviceFromUrl();
  setStatus('reading the site config', 'busy');
  const config = (state.config = await loadSiteConfig());
  const recs = await createRecommender({
    server: config.server,
    publicKey: config.publicKey,
    device,
    onProgress,
    onChange,
    onWarning: (w) => console.warn(`[localrec] ${w.code}: ${w.message}`),
  });
  state.recs = recs;

  const [snapshot] = await Promise.all([readMemory(recs), reloadCatalog()]);
  state.events = snapshot.events;
  state.consent = snapshot.consent;
  renderConsent();
  renderPicks();
  for (const el of [ui.personalize, ui.consentPersonalization, ui.consentFederated])
    el.disabled = false;
  yourData.enable();
  ask.enable();
  void llm.render(recs).catch(showError);

  const widget = mountWidget(ui.widgetHost, status.timed(recs), {
    k: K,
    title: '',
    slot: 'demo',
    onError: (e) => console.warn('[demo] widget:', e),
  });
  state.widget = widget;
  // Cards without a link (a catalog without urls) pick the item, like the catalog's cards do.
  widget.root.addEventListener('click', (ev) => {
    const card = (ev.target as Element | null)?.closest?.('[data-item-id]');
    if (card instanceof HTMLElement && !(card instanceof HTMLAnchorElement) && card.dataset.itemId)
      void pick(card.dataset.itemId);
  });
  void recs.whenComplete().then(afterComplete, showError);
  await widget.ready;
  await renderStatus();
  if (currentView() === 'your-data') await yourData.render();
  // The SDK checks hourly; coming back online is a good moment too.
  window.addEventListener('online', () => {
    void recs.refresh().catch(() => undefined);
    void renderStatus();
  });
  window.addEventListener('offline', () => void renderStatus());
}

ui.search.addEventListener('input', () => {
  state.limit = PAGE;
  renderCatalog();
});
ui.more.addEventListener('click', () => {
  state.limit += PAGE;
  renderCatalog();
});
ui.accept.addEventListener('click', () => setConsent({ personalization: true }));
ui.decline.addEventListener('click', () => setConsent({ personalization: false }));
ui.personalize.addEventListener('change', () =>
  setConsent({ personalization: ui.personalize.checked }),
);
ui.consentPersonalization.addEventListener('change', () =>
  setConsent({ personalization: ui.consentPersonalization.checked }),
);
ui.consentFederated.addEventListener('change', () =>
  setConsent({ federated: ui.consentFederated.checked }),
);
window.addEventListener('hashchange', route);
// "/" jumps to search, as on most catalog sites.
document.addEventListener('keydown', (ev) => {
  if (ev.key === '/' && document.activeElement !== ui.search && !ui.search.disabled) {
    ev.preventDefault();
    ui.search.focus();
  }
});

boot().catch(showError);
