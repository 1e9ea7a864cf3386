/** The demo page's building blocks in real Chromium: safe rendering, catalog, manifest and blob checks. */
import { describe, expect, it } from 'vitest';
import type { RecommendResult } from '../../src/client/ranker-api.ts';
import { isLocalrecError } from '../../src/core/errors.ts';
import { verifyBlob } from '../../src/core/blob.ts';
import { encodeMetadataShard } from '../../src/core/metadata.ts';
import { catalogFrom, catalogFromMetadata, searchCatalog } from '../../src/demo/catalog.ts';
import { readManifest } from '../../src/demo/manifest.ts';
import {
  catalogCards,
  formatScore,
  historyRows,
  recommendationRows,
} from '../../src/demo/render.ts';

const HOSTILE = '<img src=x onerror="window.__pwned=1">Heat & <b>Dust</b>';
const catalog = catalogFrom([
  { id: '', title: 'padding', categories: [] },
  { id: 'a', title: HOSTILE, categories: ['Drama', '<script>'] },
  { id: 'b', title: 'Blue Thief', categories: ['Crime'] },
  { id: 'c', title: 'Red River', categories: ['Western', 'Crime'] },
]);
const noop = { pick: () => {}, remove: () => {} };

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

  it('lists recommendations with scores, and without them on a cold start', () => {
    const result: RecommendResult = {
      items: [
        { id: 'c', score: 0.5 },
        { id: 'zz', score: 0.25 },
      ],
      timings: { encodeMs: 1, scoreMs: 1, totalMs: 2 },
      coldStart: false,
      unknownHistory: 0,
      itemsSearched: 3,
    };
    const rows = recommendationRows(result, catalog, noop);
    expect(rows.map((r) => r.querySelector('.rec-title')?.textContent)).toEqual([
      'Red River',
      'item zz',
    ]);
    expect(rows.map((r) => r.querySelector('.score-value')?.textContent)).toEqual([
      '0.500',
      '0.250',
    ]);
    const cold = recommendationRows({ ...result, coldStart: true }, catalog, noop);
    expect(cold[0]?.querySelector('.score-value')).toBeNull();
  });

  it('lists history newest first, and remove names the right item', () => {
    const removed: string[] = [];
    const rows = historyRows(['b', 'c'], catalog, {
      pick: () => {},
      remove: (id) => removed.push(id),
    });
    expect(rows.map((r) => r.querySelector('.hist-title')?.textContent)).toEqual([
      'Red River',
      'Blue Thief',
    ]);
    rows[0]?.querySelector('button')?.click();
    expect(removed).toEqual(['c']);
  });

  it('formats scores compactly', () => {
    expect(formatScore(0.12345)).toBe('0.123');
    expect(formatScore(0)).toBe('0.000');
    expect(formatScore(8.2e36)).toBe('8.2e+36');
    expect(formatScore(-0.0001)).toBe('-1.0e-4');
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

describe('manifest and blobs', () => {
  const hash = 'a'.repeat(64);
  const good = {
    formatVersion: 1,
    modelVersion: 'v1',
    models: { sasrec: { encoder: { sha256: hash, bytes: 10 }, config: { maxLen: 50 } } },
    shards: [{ sha256: hash, bytes: 5 }],
    metadata: [{ sha256: hash, bytes: 7 }],
  };

  it('reads a format-1 manifest and names what is wrong with a bad one', async () => {
    const m = readManifest(good);
    expect(m.maxLen).toBe(50);
    expect(m.metadata).toEqual([{ sha256: hash, bytes: 7 }]);
    expect(readManifest({ ...good, metadata: null }).metadata).toEqual([]);
    expect(
      await codeOf(() => readManifest({ ...good, metadata: { sha256: hash, bytes: 7 } })),
    ).toBe('bad-format');
    expect(await codeOf(() => readManifest({ ...good, formatVersion: 2 }))).toBe(
      'unsupported-version',
    );
    expect(
      await codeOf(() => readManifest({ ...good, shards: [{ sha256: 'XYZ', bytes: 5 }] })),
    ).toBe('bad-format');
    expect(await codeOf(() => readManifest({ ...good, models: {} }))).toBe('bad-format');
  });

  it('accepts a blob matching its sha256 and rejects a tampered one', async () => {
    const bytes = new TextEncoder().encode('abc');
    const ref = {
      sha256: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
      bytes: 3,
    };
    await verifyBlob(ref, bytes);
    expect(await codeOf(verifyBlob(ref, new TextEncoder().encode('abd')))).toBe('integrity');
    expect(await codeOf(verifyBlob(ref, new TextEncoder().encode('abcd')))).toBe('integrity');
  });
});
