/**
 * The demo page's building blocks in real Chromium: safe rendering, the catalog, the site config,
 * the "Your data" view, and the service worker's cache rules.
 */
import { emptyProfile } from '../../src/client/memory/profile.ts';
import { describe, expect, it } from 'vitest';
import type { Contribution, MemorySnapshot, RecommenderStatus } from '../../src/client/api.ts';
import { isLocalrecError } from '../../src/core/errors.ts';
import { catalogItems, decodeMetadataShard, encodeMetadataShard } from '../../src/core/metadata.ts';
import { catalogFrom, searchCatalog } from '../../src/demo/catalog.ts';
import { readOnlyCaches } from '../../src/demo/offline-check.ts';
import { parseSiteConfig } from '../../src/demo/config.ts';
import { ROUTES, sdkBlobPlugin, sdkManifestPlugin } from '../../src/demo/pwa-caches.ts';
import { catalogCards, historyRows, picksFrom } from '../../src/demo/render.ts';
import {
  contributionRows,
  countByType,
  eventRows,
  formatBytes,
  readMemory,
  snapshotFile,
  summaryRows,
  privacyLine,
  trainerLine,
} from '../../src/demo/your-data.ts';

const HOSTILE = '<img src=x onerror="window.__pwned=1">Heat & <b>Dust</b>';
const catalog = catalogFrom([
  { id: '', title: 'padding', categories: [] },
  { id: 'a', title: HOSTILE, categories: ['Drama', '<script>'] },
  { id: 'b', title: 'Blue Thief', categories: ['Crime'] },
  { id: 'c', title: 'Red River', categories: ['Western', 'Crime'] },
]);
const noop = { pick: () => {} };

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    return isLocalrecError(e) ? e.code : `not a LocalrecError: ${String(e)}`;
  }
  return 'no error';
}

describe('rendering', () => {
  it('renders titles and genres as text, never as HTML', async () => {
    const host = document.createElement('ul');
    host.append(...catalogCards(catalog.items, new Set(['b']), noop));
    document.body.append(host);
    await new Promise((r) => setTimeout(r, 50));
    expect(host.querySelector('img, b, script')).toBeNull();
    expect(host.textContent).toContain(HOSTILE);
    expect(host.textContent).toContain('<script>');
    expect((window as { __pwned?: number }).__pwned).toBeUndefined();
    const pressed = [...host.querySelectorAll('button')].map((b) => b.getAttribute('aria-pressed'));
    expect(pressed).toEqual(['false', 'true', 'false']);
    host.remove();
  });

  it('lists picks newest first, each once, leaving out views and dislikes', () => {
    const ev = (type: string, itemId: string, timestamp: number) => ({ type, itemId, timestamp });
    const picks = picksFrom([
      ev('like', 'b', 1),
      ev('view', 'a', 2),
      ev('like', 'c', 3),
      ev('dislike', 'a', 4),
      ev('click', 'b', 5),
      ev('like', 'a', 5), // same time as the click before it, recorded later: newer
    ]);
    expect(picks).toEqual(['a', 'b', 'c']);
    const rows = historyRows(picks, catalog);
    expect(rows.map((r) => r.querySelector('.hist-title')?.textContent)).toEqual([
      HOSTILE,
      'Blue Thief',
      'Red River',
    ]);
    expect(rows[0]?.querySelector('img, b')).toBeNull();
  });
});

describe('catalog', () => {
  it('drops padding rows and searches title and genres by every word', () => {
    expect(catalog.items.map((i) => i.id)).toEqual(['a', 'b', 'c']);
    expect(searchCatalog(catalog, 'crime').map((i) => i.id)).toEqual(['b', 'c']);
    expect(searchCatalog(catalog, 'CRIME red').map((i) => i.id)).toEqual(['c']);
    expect(searchCatalog(catalog, '   ').length).toBe(3);
  });

  it('reads metadata shards in index order and rejects one that is not a metadata shard', async () => {
    // What the page shows: the SDK's catalog() items (catalogItems over the decoded shards).
    const catalogFromMetadata = (blobs: Uint8Array[]) =>
      catalogFrom(catalogItems(blobs.map((b) => decodeMetadataShard(b))));
    const late = encodeMetadataShard(3, [{ id: 'z', title: '', categories: [] }]);
    const early = encodeMetadataShard(1, [
      { id: 'x', title: 'X', categories: ['A'], url: '/x' },
      { id: 'y', title: 'Y', categories: [] },
    ]);
    const c = catalogFromMetadata([late, early]);
    expect(c.items.map((i) => i.id)).toEqual(['x', 'y', 'z']);
    expect(c.byId.get('x')).toEqual({ id: 'x', title: 'X', categories: ['A'], url: '/x' });
    expect(c.byId.get('z')?.title).toBe('z');
    const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
    expect(await codeOf(() => catalogFromMetadata([enc([{ id: 'x' }])]))).toBe('bad-format');
    expect(
      await codeOf(() =>
        catalogFromMetadata([
          enc({
            format: 'localrec-metadata',
            version: 1,
            baseIndex: 1,
            items: [{ id: 'x', title: 'X', categories: [], url: 'javascript:alert(1)' }],
          }),
        ]),
      ),
    ).toBe('bad-format');
  });
});

describe('site config', () => {
  const key = 'A'.repeat(43) + '=';

  it('accepts { server, publicKey } and names a wrong field', async () => {
    expect(parseSiteConfig({ server: '', publicKey: key })).toEqual({ server: '', publicKey: key });
    expect(await codeOf(() => parseSiteConfig({ server: 1, publicKey: key }))).toBe('bad-format');
    expect(await codeOf(() => parseSiteConfig({ server: '', publicKey: 'short' }))).toBe(
      'bad-format',
    );
    expect(await codeOf(() => parseSiteConfig([]))).toBe('bad-format');
  });
});

describe('your data', () => {
  const snapshot = {
    format: 'localrec-memory',
    version: 1,
    exportedAt: Date.UTC(2026, 10, 22, 12),
    events: [
      {
        type: 'like',
        itemId: 'a',
        timestamp: 1_000,
        sessionId: 's1',
        context: { page: 'catalog' },
      },
      { type: 'view', itemId: 'b', timestamp: 2_000, sessionId: 's1', dwellMs: 1500 },
      { type: 'like', itemId: 'c', timestamp: 3_000, sessionId: 's1' },
    ],
    sessions: [{ id: 's1', startedAt: 1_000, lastEventAt: 3_000, events: 3 }],
    profile: emptyProfile(),
    consent: { personalization: true, federated: false, updatedAt: 500 },
    settings: [],
  } as unknown as MemorySnapshot;
  const status = {
    modelVersion: 'v1',
    manifestVersion: 2,
    source: 'cache',
    models: ['sasrec'],
    items: 3,
    totalItems: 3,
    complete: true,
    device: 'wasm',
    kernel: 'wasm-simd',
    consent: snapshot.consent,
  } as RecommenderStatus;

  it('summarises what is stored and lists events newest first, as text', () => {
    const summary = summaryRows({
      snapshot,
      status,
      catalog,
      storage: { usage: 2_500_000, quota: 1e9 },
    });
    const text = summary.map((r) => r.textContent).join('\n');
    expect(text).toContain('3 (like 2 · view 1)');
    expect(text).toContain('personalization on, federated learning off');
    expect(text).toContain('publication 2');
    expect(text).toContain('copy saved on this device');
    expect(text).toContain('2.5 MB of 1.0 GB');
    const rows = eventRows(snapshot, catalog);
    expect(rows.map((r) => r.children[2]?.textContent)).toEqual([
      'Red River',
      'Blue Thief',
      HOSTILE,
    ]);
    expect(rows[1]?.children[1]?.textContent).toBe('view (1.5 s)');
    expect(rows[2]?.children[3]?.textContent).toBe('page: catalog');
    expect(rows[2]?.querySelector('img, b')).toBeNull();
  });

  it('exports exactly the snapshot as a dated JSON file', async () => {
    const { name, blob } = snapshotFile(snapshot);
    expect(name).toBe('localrec-my-data-2026-11-22.json');
    expect(blob.type).toBe('application/json');
    expect(JSON.parse(await blob.text())).toEqual(snapshot);
  });

  it('lists the model updates sent (when, round, size, norm before clipping, status) and what the trainer does', async () => {
    const sent: Contribution = {
      updateId: 'ab'.repeat(16),
      roundId: 4,
      baseModelVersion: 'v1',
      createdAt: Date.UTC(2026, 10, 22, 9, 0),
      sentAt: Date.UTC(2026, 10, 22, 9, 1),
      status: 'sent',
      bytes: 484_512,
      normBeforeClip: 1.23456,
      clipNorm: 1,
      clipped: true,
      device: 'wasm',
      steps: 1,
      items: 12,
      trainMs: 180,
    };
    const waiting: Contribution = {
      ...sent,
      roundId: 5,
      sentAt: null,
      status: 'waiting',
      normBeforeClip: 0.5,
      clipped: false,
    };
    const rows = contributionRows([waiting, sent]);
    const cells = rows.map((r) => [...r.children].map((c) => c.textContent));
    expect(cells[0]).toEqual([expect.any(String), '5', '485 kB', '0.500', 'waiting to be sent']);
    expect(cells[1]!.slice(1)).toEqual(['4', '485 kB', '1.23 (clipped to 1)', 'sent']);
    expect(cells[1]![0]).toContain('2026');
    expect(
      trainerLine({
        state: 'waiting',
        reason: 'no federated round is open now, so nothing is trained or sent',
        round: null,
        contributions: 2,
        privacy: null,
      }),
    ).toBe('Not training now: no federated round is open now, so nothing is trained or sent.');
    expect(privacyLine(null)).toMatch(/not learned from a federated round yet/);
    expect(privacyLine({ epsilon: 2.345678, delta: 1e-6, round: 9 })).toMatch(
      /through round 9\) spend ε = 2.35 at δ = 0.000001 in total/,
    );
    expect(privacyLine({ epsilon: null, delta: 1e-6, round: 2 })).toMatch(/no privacy guarantee/);
    // The export carries them beside the snapshot (importMemory() ignores the extra key).
    const { blob } = snapshotFile(snapshot, [sent]);
    expect(JSON.parse(await blob.text())).toEqual({ ...snapshot, contributions: [sent] });
  });

  it('reads an empty memory after forget() instead of failing', async () => {
    const consent = { personalization: false, federated: false, updatedAt: null };
    const { LocalrecError } = await import('../../src/core/errors.ts');
    const forgotten = {
      exportMemory: async (): Promise<MemorySnapshot> => {
        throw new LocalrecError('not-loaded', 'nothing is stored about this visitor');
      },
      getConsent: async () => consent,
    };
    const empty = await readMemory(forgotten);
    expect(empty).toMatchObject({ events: [], sessions: [], consent });
    expect(summaryRows({ snapshot: empty, status, catalog })[0]?.textContent).toBe('Events0');
    const broken = {
      ...forgotten,
      exportMemory: async (): Promise<MemorySnapshot> => {
        throw new LocalrecError('internal', 'boom');
      },
    };
    expect(await codeOf(readMemory(broken))).toBe('internal');
    expect(await readMemory({ ...forgotten, exportMemory: async () => snapshot })).toBe(snapshot);
  });

  it('formats counts and sizes', () => {
    expect(countByType([{ type: 'view' }, { type: 'like' }, { type: 'view' }])).toBe(
      'view 2 · like 1',
    );
    expect(formatBytes(999)).toBe('999 B');
    expect(formatBytes(12_345)).toBe('12 kB');
    expect(formatBytes(26_800_000)).toBe('27 MB');
  });
});

describe('service worker cache rules', () => {
  const hash = 'ab'.repeat(32);
  const cached = new Response('bytes');

  it('routes blobs, the manifest, ORT and the config, and nothing else', () => {
    const o = 'http://127.0.0.1:8080';
    expect(ROUTES.blob.test(`${o}/v1/blobs/${hash}`)).toBe(true);
    expect(ROUTES.blob.test(`${o}/v1/blobs/${hash}x`)).toBe(false);
    expect(ROUTES.manifest.test(`${o}/v1/manifest`)).toBe(true);
    expect(ROUTES.ortWasm.test(`${o}/assets/ort-wasm-simd-threaded.asyncify-D5D0fo7z.wasm`)).toBe(
      true,
    );
    expect(ROUTES.ortWasm.test(`${o}/assets/index-CuPduIKb.js`)).toBe(false);
    expect(ROUTES.siteConfig.test(`${o}/localrec-config.json`)).toBe(true);
  });

  it('never writes the SDK cache, and a reload of a blob skips it', async () => {
    expect(await sdkBlobPlugin.cacheWillUpdate?.()).toBeNull();
    expect(await sdkManifestPlugin.cacheWillUpdate?.()).toBeNull();
    const use = sdkBlobPlugin.cachedResponseWillBeUsed!;
    expect(await use({ request: new Request('/x'), cachedResponse: cached })).toBe(cached);
    expect(
      await use({ request: new Request('/x', { cache: 'reload' }), cachedResponse: cached }),
    ).toBeNull();
  });

  it('answers the manifest from the cache after a timeout, not after a network failure', async () => {
    const use = sdkManifestPlugin.cachedResponseWillBeUsed!;
    const request = new Request('/v1/manifest');
    expect(await use({ request, cachedResponse: cached, state: {} })).toBe(cached);
    const state: Record<string, unknown> = {};
    await sdkManifestPlugin.fetchDidFail?.({ state });
    expect(await use({ request, cachedResponse: cached, state })).toBeNull();
  });

  it('gives the page a read-only view of the SDK cache', async () => {
    const name = `demo-test-${Math.random()}`;
    const real = await caches.open(name);
    await real.put('/v1/blobs/x', new Response('kept'));
    const view = await readOnlyCaches(caches).open(name);
    expect(await (await view.match('/v1/blobs/x'))?.text()).toBe('kept');
    await view.put('/v1/blobs/y', new Response('no'));
    expect(await view.delete('/v1/blobs/x')).toBe(false);
    expect((await real.keys()).map((r) => new URL(r.url).pathname)).toEqual(['/v1/blobs/x']);
    await caches.delete(name);
  });
});
