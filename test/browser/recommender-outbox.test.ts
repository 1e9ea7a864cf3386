/**
 * The SDK's federated outbox and consent in real Chromium (real IndexedDB, the real server for
 * the model): contribute() keeps deltas only with federated consent and without Global Privacy
 * Control, posts exactly the delta bytes, keeps them across an offline spell and a reload, and
 * deletes them when consent is withdrawn. Update posts go to an injected fetch (the fixture's
 * servers run without federated intake; test/unit/outbox.test.ts posts to a real round).
 */
import { expect, inject, it } from 'vitest';
import { localRecommender, memoryNames } from './sdk-fixture.ts';
import type { Recommender, RecommenderChange, RecommenderWarning } from '../../src/client/api.ts';
import { type LocalRecommenderOptions } from '../../src/client/recommender/local.ts';
import { encodeDelta, randomUpdateId } from '../../src/core/delta.ts';
import { isLocalrecError } from '../../src/core/errors.ts';

const fx = inject('recommenderFixture');
const uniqueName = memoryNames('outbox-test');

function delta(roundId = 3): { bytes: Uint8Array; updateId: string } {
  const updateId = randomUpdateId();
  const bytes = encodeDelta({
    roundId,
    baseVersion: fx.modelVersions.v1,
    updateId,
    clipNorm: 1,
    slices: [{ index: 0, scale: 0.01, values: Int8Array.from([1, -2, 3, 4]) }],
  });
  return { bytes, updateId };
}

/** A round ticket as the server issues them (43 base64url characters). */
const TICKET = 'T'.repeat(40) + 'abc';

/**
 * Manifest and blobs from the real server; ticket requests and update posts answered here
 * (201 with {@link TICKET} and 202, or a network failure while `down`).
 */
function network() {
  const posts: { url: string; body: Uint8Array; headers: Headers }[] = [];
  const tickets: string[] = [];
  const state = { down: false };
  const f = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input);
    if (init?.method === 'POST') {
      if (state.down) throw new TypeError('Failed to fetch');
      if (url.endsWith('/tickets')) {
        tickets.push(url);
        return new Response(JSON.stringify({ ticket: TICKET, expiresAt: '2099-01-01T00:00:00Z' }), {
          status: 201,
        });
      }
      posts.push({
        url,
        body: new Uint8Array(init.body as Uint8Array),
        headers: new Headers(init.headers),
      });
      return new Response('{}', { status: 202 });
    }
    return fetch(input, init);
  }) as typeof fetch;
  return { fetch: f, posts, tickets, state };
}

function open(name: string, options: Partial<LocalRecommenderOptions>): Promise<Recommender> {
  return localRecommender({ name, ...options });
}

it('without federated consent nothing is kept; with it the exact bytes are posted', async () => {
  const net = network();
  const changes: RecommenderChange[] = [];
  const rec = await open(uniqueName(), {
    fetch: net.fetch,
    consent: { personalization: true },
    onChange: (c) => changes.push(c),
  });
  const first = delta();
  expect(await rec.contribute(first.bytes)).toEqual({ queued: false, pending: 0 });
  await rec.flushOutbox();
  expect(net.posts).toEqual([]);

  await rec.setConsent({ federated: true });
  const second = delta();
  const r = await rec.contribute(second.bytes.buffer as ArrayBuffer);
  expect(r.queued).toBe(true);
  expect(r.updateId).toBe(second.updateId);
  await rec.flushOutbox();
  expect(net.posts).toHaveLength(1);
  expect(net.posts[0]!.url).toBe(`${fx.servers.a}/v1/rounds/3/updates`);
  expect(net.tickets).toEqual([`${fx.servers.a}/v1/rounds/3/tickets`]);
  expect(Array.from(net.posts[0]!.body)).toEqual(Array.from(second.bytes));
  expect([...net.posts[0]!.headers.keys()]).toEqual(['authorization', 'content-type']);
  expect(net.posts[0]!.headers.get('authorization')).toBe(`Ticket ${TICKET}`);
  expect((await rec.status()).pendingUpdates).toBe(0);
  expect(changes).toContainEqual({ kind: 'outbox', posted: 1, dropped: 0, pending: 0 });
  await rec.close();
});

it('bad bytes are a clear error and nothing is queued', async () => {
  const rec = await open(uniqueName(), { consent: { personalization: true, federated: true } });
  const bad = delta().bytes.slice();
  bad[0] = 0;
  const e = await rec.contribute(bad).catch((x: unknown) => x);
  expect(isLocalrecError(e) && e.code).toBe('bad-format');
  expect(String((e as Error).message)).toMatch(/magic/);
  const e2 = await rec.contribute('nope' as unknown as Uint8Array).catch((x: unknown) => x);
  expect(isLocalrecError(e2) && e2.code).toBe('bad-input');
  expect((await rec.status()).pendingUpdates).toBe(0);
  await rec.close();
});

it('offline deltas wait in IndexedDB across a reload and go out when the network is back', async () => {
  const name = uniqueName();
  const net = network();
  net.state.down = true;
  const rec = await open(name, {
    fetch: net.fetch,
    consent: { personalization: true, federated: true },
  });
  const d = delta();
  await rec.contribute(d.bytes);
  expect(await rec.flushOutbox()).toMatchObject({ posted: 0, pending: 1, stopped: 'retry' });
  await rec.close();

  net.state.down = false;
  const again = await open(name, { fetch: net.fetch });
  expect((await again.status()).pendingUpdates).toBe(1);
  // The start-up flush sends it without being asked.
  await expect.poll(() => net.posts.length, { timeout: 10_000 }).toBe(1);
  expect(Array.from(net.posts[0]!.body)).toEqual(Array.from(d.bytes));
  await expect.poll(async () => (await again.status()).pendingUpdates, { timeout: 10_000 }).toBe(0);
  await again.close();
});

it('withdrawing federated consent deletes what is queued', async () => {
  const net = network();
  net.state.down = true;
  const rec = await open(uniqueName(), {
    fetch: net.fetch,
    consent: { personalization: true, federated: true },
  });
  await rec.contribute(delta().bytes);
  await rec.contribute(delta().bytes);
  await rec.flushOutbox();
  expect((await rec.status()).pendingUpdates).toBe(2);
  await rec.setConsent({ federated: false });
  expect((await rec.status()).pendingUpdates).toBe(0);
  net.state.down = false;
  await rec.flushOutbox();
  expect(net.posts).toEqual([]);
  await rec.close();
});

it('Global Privacy Control keeps federated learning off whatever consent says', async () => {
  const net = network();
  const warnings: RecommenderWarning[] = [];
  const rec = await open(uniqueName(), {
    fetch: net.fetch,
    globalPrivacyControl: true,
    consent: { personalization: true },
    onWarning: (w) => warnings.push(w),
  });
  const consent = await rec.setConsent({ federated: true });
  expect(consent.federated).toBe(false);
  expect(consent.personalization).toBe(true);
  expect(warnings.map((w) => w.code)).toContain('consent');
  const status = await rec.status();
  expect(status.globalPrivacyControl).toBe(true);
  expect(status.consent.federated).toBe(false);
  expect(await rec.contribute(delta().bytes)).toMatchObject({ queued: false });
  await rec.flushOutbox();
  expect(net.posts).toEqual([]);
  // Personalization, which sends nothing, still works.
  expect((await rec.track({ type: 'view', itemId: fx.items[5]!.id })).stored).toBe(true);
  await rec.close();
});
