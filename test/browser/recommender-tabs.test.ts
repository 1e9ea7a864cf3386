/**
 * Two recommenders over one visitor memory — as two tabs of a site, or a page and its "your
 * data" page — in real Chromium: each hears the other's changes (BroadcastChannel) and reloads
 * its view, and a forget() in one drops the other's copy at once.
 */
import { expect, inject, it } from 'vitest';
import { localRecommender, memoryNames } from './sdk-fixture.ts';
import type { Recommender, RecommenderChange } from '../../src/client/api.ts';

const fx = inject('recommenderFixture');
const name = memoryNames('tabs-test')();

function tab(changes: RecommenderChange[]): Promise<Recommender> {
  return localRecommender({
    rerank: { seed: 4, explorationPer10: 0 },
    name,
    onChange: (c) => changes.push(c),
  });
}

it("a tab sees another tab's events and consent, and forget() anywhere forgets everywhere", async () => {
  const heardA: RecommenderChange[] = [];
  const heardB: RecommenderChange[] = [];
  const a = await tab(heardA);
  const b = await tab(heardB);
  await a.setConsent({ personalization: true });
  await expect
    .poll(async () => (await b.getConsent()).personalization, { timeout: 10_000 })
    .toBe(true);

  // Six items of the catalog's most common first genre.
  const byGenre = new Map<string, typeof fx.items>();
  for (const i of fx.items.slice(1))
    byGenre.set(i.categories[0]!, [...(byGenre.get(i.categories[0]!) ?? []), i]);
  const liked = [...byGenre.values()].sort((x, y) => y.length - x.length)[0]!.slice(0, 6);
  expect(liked.length).toBeGreaterThan(3);
  const cold = await b.recommend({ k: 10 });
  expect(cold.coldStart).toBe(true);
  for (const [i, item] of liked.entries())
    await a.track({
      type: 'view',
      itemId: item.id,
      dwellMs: 20_000,
      timestamp: Date.now() - 1000 + i,
    });
  // b never tracked anything, yet its next list is personal: it read a's events.
  await expect
    .poll(async () => (await b.recommend({ k: 10 })).coldStart, { timeout: 10_000 })
    .toBe(false);
  expect(heardB.some((c) => c.kind === 'sync')).toBe(true);
  // Every event of a reaches b (its reloads may come in more than one burst): none of them is
  // recommended by b, as seen items are excluded.
  const likedIds = liked.map((d) => d.id);
  await expect
    .poll(async () => (await b.recommend({ k: 10 })).items.filter((x) => likedIds.includes(x.id)), {
      timeout: 10_000,
    })
    .toEqual([]);

  await a.forget();
  await expect.poll(() => heardB.some((c) => c.kind === 'forget'), { timeout: 10_000 }).toBe(true);
  const after = await b.recommend({ k: 10 });
  expect(after.coldStart).toBe(true);
  expect((await b.getConsent()).personalization).toBe(false);
  expect((await b.track({ type: 'view', itemId: liked[0]!.id })).stored).toBe(false);
  await expect(b.exportMemory()).rejects.toThrow(/nothing is stored/);
  expect((await indexedDB.databases()).map((d) => d.name)).not.toContain(name);
  await a.close();
  await b.close();
});
