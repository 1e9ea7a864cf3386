/**
 * The SDK benchmark page (scripts/bench-client.mjs serves it from the real server, next to the
 * API, and drives it with Playwright). Two modes, from the query string:
 *
 * - `mode=first`: time from this script's start to the first recommendation (worker start,
 *   manifest check, blobs from cache or network with their sha256 checks, ONNX session, memory
 *   open, one recommend()).
 * - `mode=speed`: once the whole model is in, a visitor with a history; then `warmup + calls`
 *   rounds of "track one event (not timed), recommend() (timed)", reporting the worker's own
 *   end-to-end time per call (memory state, encoders, retrieval over every item, blend, rerank)
 *   and the page's round trip.
 *
 * The result is `window.benchResult`, a promise the script awaits.
 */
import type { Recommendation } from '../../src/client/api.ts';
import { createRecommender } from '../../src/client/recommender/page.ts';

const scriptStart = performance.now();

/** What the page reports. */
export interface ClientBenchResult {
  mode: 'first' | 'speed';
  firstRecMs: number;
  /** performance.now() at the first recommendation: time since navigation started. */
  firstRecSinceNavigationMs: number;
  source: string;
  cachedBytes: number;
  totalBytes: number;
  items: number;
  device: string;
  kernel: string;
  /** When each load phase began, in page time since the script started. */
  timeline: string[];
  /** Script start to the whole model loaded (encoder attached, every shard in). */
  completeMs?: number;
  speed?: {
    calls: number;
    /** Worker-side end-to-end recommend() time. */
    totalMs: number[];
    /** Page round trip (postMessage both ways included). */
    roundTripMs: number[];
    stateMs: number[];
    retrieveMs: number[];
    rerankMs: number[];
  };
}

declare global {
  interface Window {
    benchResult: Promise<ClientBenchResult>;
  }
}

const params = new URLSearchParams(location.search);
const mode = params.get('mode') === 'speed' ? 'speed' : 'first';

async function run(): Promise<ClientBenchResult> {
  let cachedBytes = 0;
  const timeline: string[] = [];
  let lastPhase = '';
  let totalBytes = 0;
  const recs = await createRecommender({
    server: location.origin,
    publicKey: params.get('key') ?? '',
    name: 'bench',
    device: 'wasm',
    consent: { personalization: true },
    refreshIntervalMs: 0,
    rerank: { seed: 1 },
    onProgress: (p) => {
      if (p.phase !== lastPhase)
        timeline.push(`${p.phase} at ${(performance.now() - scriptStart).toFixed(0)} ms`);
      lastPhase = p.phase;
      cachedBytes = p.cachedBytes;
      totalBytes = p.totalBytes;
    },
  });
  const first = await recs.recommend({ k: 10 });
  const firstAt = performance.now();
  const status = await recs.status();
  const result: ClientBenchResult = {
    mode,
    firstRecMs: firstAt - scriptStart,
    firstRecSinceNavigationMs: firstAt,
    source: status.source,
    cachedBytes,
    totalBytes,
    items: status.items,
    device: status.device,
    kernel: status.kernel,
    timeline,
  };
  if (mode === 'first') {
    await recs.whenComplete(); // leave a complete cache behind for the next (warm) visit
    result.completeMs = performance.now() - scriptStart;
    await recs.close();
    return result;
  }

  const complete = await recs.whenComplete();
  result.items = complete.items;
  result.device = complete.device;
  const calls = Number(params.get('calls') ?? 60);
  const warmup = Number(params.get('warmup') ?? 10);
  // A visitor with a history: 20 interactions with items the lists offered.
  let list: Recommendation = first;
  for (let i = 0; i < 20; i++) {
    const item = list.items[i % list.items.length]!;
    await recs.track(
      i % 4 === 3
        ? { type: 'click', itemId: item.id }
        : { type: 'view', itemId: item.id, dwellMs: 6000 },
    );
    if (i % 5 === 4) list = await recs.recommend({ k: 10 });
  }
  const speed = {
    calls,
    totalMs: [] as number[],
    roundTripMs: [] as number[],
    stateMs: [] as number[],
    retrieveMs: [] as number[],
    rerankMs: [] as number[],
  };
  for (let i = 0; i < warmup + calls; i++) {
    const item = list.items[(i * 3) % list.items.length]!;
    await recs.track(
      i % 3 === 0
        ? { type: 'click', itemId: item.id }
        : { type: 'view', itemId: item.id, dwellMs: 4000 },
    );
    const t0 = performance.now();
    list = await recs.recommend({ k: 10 });
    const rt = performance.now() - t0;
    if (i < warmup) continue;
    speed.roundTripMs.push(rt);
    speed.totalMs.push(list.timings.totalMs);
    speed.stateMs.push(list.timings.stateMs);
    speed.retrieveMs.push(list.timings.retrieveMs);
    speed.rerankMs.push(list.timings.rerankMs);
  }
  await recs.forget(); // the next run starts from a fresh visitor, and nothing is left behind
  await recs.close();
  return { ...result, speed };
}

window.benchResult = run();
