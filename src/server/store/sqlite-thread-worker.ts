/**
 * The worker-thread side of {@link ThreadedRoundStore} (sqlite-thread.ts): one SqliteRoundStore
 * whose synchronous SQLite work (commits wait for fsync) runs here, off the server's event loop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { crc32 } from 'node:zlib';
import { decodeDelta } from '../../core/delta.ts';
import { LocalrecError } from '../../core/errors.ts';
import { checkDelta, roundLayout, type RoundLayout } from '../delta-check.ts';
import type { RoundStore, UpdateInput } from './round-store.ts';
import { SqliteRoundStore, type SqliteSynchronous } from './sqlite-round-store.ts';
import {
  toWireError,
  type PostedUpdate,
  type StoreCall,
  type StoreReply,
  type WirePostedOutcome,
  type WireUpdate,
} from './sqlite-thread.ts';

const port = parentPort!;
const { path, synchronous } = workerData as { path: string; synchronous: SqliteSynchronous };

function fromWire(u: WireUpdate): UpdateInput {
  const { body, values, ...rest } = u;
  if (!body) return { ...rest, values: values! };
  const delta = decodeDelta(body, { crc32 });
  return {
    ...rest,
    encoded: { body, delta },
    get values(): Float64Array {
      throw new Error('the threaded store adds the encoded delta, never its values');
    },
  };
}

let store: SqliteRoundStore | undefined;
let failure: unknown;
try {
  store = new SqliteRoundStore(path, { synchronous });
} catch (e) {
  failure = e;
}

/** Round parameters never change once opened: looked up once per round. */
const layouts = new Map<number, RoundLayout>();
async function layoutOf(s: RoundStore, id: number): Promise<RoundLayout> {
  let l = layouts.get(id);
  if (!l) {
    const round = await s.getRound(id);
    if (!round) throw new LocalrecError('not-found', `no round ${id}`);
    l = roundLayout(round);
    layouts.set(id, l);
  }
  return l;
}

/** Checks each posted delta, then counts those that passed in one transaction. */
async function checkAndApply(
  s: RoundStore,
  batch: PostedUpdate[],
  now: number,
): Promise<WirePostedOutcome[]> {
  const results: WirePostedOutcome[] = new Array<WirePostedOutcome>(batch.length);
  const inputs: UpdateInput[] = [];
  const at: number[] = [];
  for (const [i, p] of batch.entries()) {
    try {
      inputs.push(checkDelta(await layoutOf(s, p.roundId), p.body, p.ticket).input);
      at.push(i);
    } catch (e) {
      results[i] = { error: toWireError(e) };
    }
  }
  const out = inputs.length > 0 ? await s.applyUpdates(inputs, now) : [];
  out.forEach((outcome, k) => (results[at[k]!] = { updateId: inputs[k]!.updateId, outcome }));
  return results;
}

const methods: Record<string, (s: RoundStore, args: unknown[]) => Promise<unknown>> = {
  applyUpdates: (s, [batch, now]) =>
    s.applyUpdates((batch as WireUpdate[]).map(fromWire), now as number),
  checkAndApply: (s, [batch, now]) => checkAndApply(s, batch as PostedUpdate[], now as number),
};

function errorReply(id: number, e: unknown): StoreReply {
  return { id, error: toWireError(e) };
}

port.on('message', (m: StoreCall) => {
  void (async () => {
    let reply: StoreReply;
    try {
      if (!store) throw failure;
      const run = methods[m.method];
      const result = run
        ? await run(store, m.args)
        : await (
            store[m.method as keyof RoundStore] as (...a: unknown[]) => Promise<unknown>
          ).apply(store, m.args);
      reply = { id: m.id, result };
    } catch (e) {
      reply = errorReply(m.id, e);
    }
    // A round's sums (3.9 MB for 480k values) move to the main thread rather than being copied.
    const sums = (reply.result as { sums?: unknown } | undefined)?.sums;
    port.postMessage(reply, sums instanceof Float64Array ? [sums.buffer as ArrayBuffer] : []);
  })();
});
// Id 0 says the store opened (or why it did not).
port.postMessage(store ? ({ id: 0, result: true } satisfies StoreReply) : errorReply(0, failure));
