/**
 * The demo page: downloads the model from the server, verifies it, starts the ranker worker
 * and recommends from a history kept in this browser. Nothing about the visitor is sent
 * anywhere: the only requests are the manifest and the blobs it names.
 */
import './styles.css';
import { transfer, wrap, type Remote } from 'comlink';
import { isLocalrecError, LocalrecError } from '../core/errors.ts';
import { DEVICE_CHOICES, type DeviceChoice } from '../client/device.ts';
import { registerErrorTransfer } from '../client/errors-transfer.ts';
import type { Ranker, RecommendResult } from '../client/ranker-api.ts';
import { catalogFrom, catalogFromMetadata, searchCatalog, type Catalog } from './catalog.ts';
import { byId, replaceChildren } from './dom.ts';
import { downloadBlobs } from './download.ts';
import { addToHistory, clearHistory, loadHistory, removeFromHistory } from './history.ts';
import { readManifest, type DemoManifest } from './manifest.ts';
import {
  catalogCards,
  historyRows,
  mb,
  ms,
  recommendationRows,
  type ListActions,
} from './render.ts';

/** Cards rendered per "show more": enough to browse, few enough that a 50k catalog stays fast. */
const PAGE = 60;
const K = 10;

const ui = {
  statusText: byId('status-text'),
  statusDot: document.querySelector<HTMLElement>('.status-dot')!,
  progress: byId<HTMLProgressElement>('status-progress'),
  error: byId('error'),
  search: byId<HTMLInputElement>('search'),
  grid: byId('catalog-grid'),
  count: byId('catalog-count'),
  more: byId<HTMLButtonElement>('show-more'),
  recs: byId('recs'),
  recsEmpty: byId('recs-empty'),
  recsNote: byId('recs-note'),
  history: byId('history'),
  historyEmpty: byId('history-empty'),
  clear: byId<HTMLButtonElement>('clear-history'),
  device: byId('stat-device'),
  encode: byId('stat-encode'),
  score: byId('stat-score'),
  model: byId('stat-model'),
  items: byId('stat-items'),
};

const state = {
  catalog: catalogFrom([]) as Catalog,
  history: loadHistory(),
  ranker: undefined as Remote<Ranker> | undefined,
  limit: PAGE,
  /** Bumped per recommend call so a slow answer never overwrites a newer one. */
  seq: 0,
  failed: false,
};

function setStatus(text: string, mode: 'busy' | 'ready' | 'error', fraction?: number): void {
  // After a failure, late progress callbacks must not paint over the error state.
  if (state.failed && mode !== 'error') return;
  ui.statusText.textContent = text;
  ui.statusText.title = text;
  ui.statusDot.dataset['state'] = mode;
  ui.progress.hidden = fraction === undefined;
  if (fraction !== undefined) ui.progress.value = fraction;
}

function showError(e: unknown): void {
  const code = isLocalrecError(e) ? e.code : 'internal';
  const message = e instanceof Error ? e.message : String(e);
  ui.error.replaceChildren();
  const strong = document.createElement('strong');
  strong.textContent = code;
  ui.error.append(strong, ` ${message}`);
  ui.error.hidden = false;
  state.failed = true;
  setStatus('stopped: see the error above', 'error');
  console.error(e);
}

const actions: ListActions = {
  pick: (id) => {
    state.history = addToHistory(state.history, id);
    renderHistoryAndCatalog();
    void recommend();
  },
  remove: (id) => {
    state.history = removeFromHistory(state.history, id);
    renderHistoryAndCatalog();
    void recommend();
  },
};

function renderCatalog(): void {
  const matches = searchCatalog(state.catalog, ui.search.value);
  const shown = matches.slice(0, state.limit);
  replaceChildren(ui.grid, catalogCards(shown, new Set(state.history), actions));
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

function renderHistoryAndCatalog(): void {
  replaceChildren(ui.history, historyRows(state.history, state.catalog, actions));
  ui.historyEmpty.hidden = state.history.length > 0;
  ui.clear.disabled = state.history.length === 0;
  renderCatalog();
}

function renderRecommendations(result: RecommendResult): void {
  replaceChildren(ui.recs, recommendationRows(result, state.catalog, actions));
  ui.recsEmpty.hidden = result.items.length > 0;
  ui.recsEmpty.textContent = 'Nothing left to recommend.';
  const notes: string[] = [];
  if (result.coldStart)
    notes.push('Starter picks in catalog order: choose something you like to personalise them.');
  if (result.unknownHistory > 0)
    notes.push(
      `${result.unknownHistory} history item${result.unknownHistory > 1 ? 's' : ''} not in this model`,
    );
  ui.recsNote.hidden = notes.length === 0;
  ui.recsNote.textContent = notes.join(' · ');
  ui.encode.textContent = ms(result.timings.encodeMs);
  ui.score.textContent = ms(result.timings.scoreMs);
}

async function recommend(): Promise<void> {
  const ranker = state.ranker;
  if (!ranker) return;
  const seq = ++state.seq;
  try {
    const result = await ranker.recommend({ history: state.history, k: K });
    if (seq === state.seq) renderRecommendations(result);
  } catch (e) {
    showError(e);
  }
}

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

async function fetchManifest(): Promise<DemoManifest> {
  const res = await fetch('/v1/manifest');
  if (!res.ok) {
    const body = (await res.json().catch(() => null)) as { error?: { message?: string } } | null;
    throw new LocalrecError(
      res.status === 503 ? 'not-loaded' : 'internal',
      `the server has no model to give: ${body?.error?.message ?? `HTTP ${res.status}`}`,
    );
  }
  return readManifest(await res.json());
}

/** Catalog for an export without metadata: ids from the shards' own id tables, titles = ids. */
async function catalogFromShards(shards: Uint8Array[]): Promise<Catalog> {
  // Loaded only on this rare path, keeping the shard codec out of the main bundle.
  const { decodeShard } = await import('../core/shard.ts');
  return catalogFrom(
    shards.flatMap((s) => decodeShard(s).ids.map((id) => ({ id, title: id, categories: [] }))),
  );
}

function startWorker(): Remote<Ranker> {
  registerErrorTransfer();
  const worker = new Worker(new URL('../../workers/ranker.worker.ts', import.meta.url), {
    type: 'module',
  });
  // A worker that fails to load never answers comlink calls; surface it instead of hanging.
  worker.addEventListener('error', (ev) =>
    showError(
      new LocalrecError(
        'internal',
        `the ranker worker failed: ${ev.message || 'it could not be loaded'}`,
      ),
    ),
  );
  return wrap<Ranker>(worker);
}

async function boot(): Promise<void> {
  renderHistoryAndCatalog();
  const device = deviceFromUrl();
  setStatus('fetching manifest', 'busy');
  const manifest = await fetchManifest();
  ui.model.textContent = manifest.modelVersion;
  ui.model.title = manifest.modelVersion;

  const refs = [manifest.encoder, ...manifest.shards, ...manifest.metadata];
  const blobs = await downloadBlobs(refs, ({ loaded, total }) => {
    setStatus(
      `downloading model ${mb(loaded)}/${mb(total)} MB`,
      'busy',
      total > 0 ? loaded / total : 1,
    );
  });
  const [encoder, ...rest] = blobs;
  const shards = rest.slice(0, manifest.shards.length);
  const metadata = rest.slice(manifest.shards.length);
  if (!encoder) throw new LocalrecError('internal', 'the encoder download went missing');

  state.catalog =
    metadata.length > 0 ? catalogFromMetadata(metadata) : await catalogFromShards(shards);
  ui.search.disabled = false;
  renderHistoryAndCatalog();

  setStatus('starting worker', 'busy');
  const ranker = startWorker();
  setStatus(`loading model (device ${device})`, 'busy');
  // Transferred, not copied: the page has no further use for these bytes.
  const buffers = [encoder, ...shards].map((b) => b.buffer as ArrayBuffer);
  const loaded = await ranker.load(
    transfer({ encoder, shards, device, maxLen: manifest.maxLen }, buffers),
  );
  state.ranker = ranker;

  setStatus(`ready on ${loaded.device} (${loaded.reason})`, 'ready');
  ui.device.textContent = loaded.device;
  ui.device.title = loaded.reason;
  ui.items.textContent = loaded.items.toLocaleString('en-US');
  await recommend();
}

ui.search.addEventListener('input', () => {
  state.limit = PAGE;
  renderCatalog();
});
ui.more.addEventListener('click', () => {
  state.limit += PAGE;
  renderCatalog();
});
ui.clear.addEventListener('click', () => {
  state.history = clearHistory();
  renderHistoryAndCatalog();
  void recommend();
});
// "/" jumps to search, as on most catalog sites.
document.addEventListener('keydown', (ev) => {
  if (ev.key === '/' && document.activeElement !== ui.search && !ui.search.disabled) {
    ev.preventDefault();
    ui.search.focus();
  }
});

boot().catch(showError);
