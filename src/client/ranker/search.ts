/**
 * Search: the ranker's questions answered over one loaded model — its catalog (catalog.ts) and,
 * when it has one, its encoder session (encoder.ts). Requests are checked here, so every way in
 * (the worker, the in-process ranker) gets the same errors.
 */
import { LocalrecError } from '../../core/errors.ts';
import type {
  ItemVectors,
  ItemVectorsRequest,
  ModelName,
  RecommendRequest,
  RecommendResult,
  ScoredItem,
  SearchResult,
  SearchVectorRequest,
} from './api.ts';
import { firstItems, readRow, type Catalog } from './catalog.ts';
import type { EncoderSession } from './encoder.ts';

/** One loaded model: its items, and its encoder once it has one. */
export interface LoadedModel extends Catalog {
  name: ModelName;
  /** Null for a model loaded with loadItems() until attachEncoder() gives it one. */
  encoder: EncoderSession | null;
}

/** Encodes a history of internal indices with the model's encoder. Returns (dim). */
export type Encode = (
  encoder: EncoderSession,
  indices: number[],
  context: RecommendRequest['context'],
  what: string,
) => Promise<Float32Array>;

/** The encoder of `m`, or a `not-loaded` error saying how to give it one. */
export function encoderOf(m: LoadedModel): EncoderSession {
  if (!m.encoder)
    throw new LocalrecError(
      'not-loaded',
      `model '${m.name}' has items but no encoder yet: call attachEncoder() (or load())`,
    );
  return m.encoder;
}

/** The internal indices of the history ids the model knows, oldest first. */
export function knownIndices(
  m: Catalog,
  history: string[],
): { indices: number[]; unknown: number } {
  if (!Array.isArray(history))
    throw new LocalrecError('bad-input', '`history` must be an array of item ids, oldest first');
  const indices: number[] = [];
  let unknown = 0;
  for (const id of history) {
    const i = m.indexOf.get(id);
    if (i === undefined) unknown++;
    else indices.push(i);
  }
  return { indices, unknown };
}

function checkK(k: unknown, what: string): void {
  if (!Number.isInteger(k) || (k as number) < 0)
    throw new LocalrecError('bad-input', `${what}: k must be a non-negative integer, got ${k}`);
}

/** A request's `exclude`, checked (absent: none). */
function checkExclude(exclude: unknown): string[] {
  if (exclude !== undefined && !Array.isArray(exclude))
    throw new LocalrecError('bad-input', '`exclude` must be an array of item ids');
  return (exclude as string[] | undefined) ?? [];
}

/** The internal indices of `exclude` (unknown ids are ignored), added to `into`. */
function excluded(m: Catalog, exclude: string[], into = new Set<number>()): Set<number> {
  for (const id of exclude) {
    const i = m.indexOf.get(id);
    if (i !== undefined) into.add(i);
  }
  return into;
}

const scored = (m: Catalog, indices: Int32Array, scores: Float32Array): ScoredItem[] =>
  Array.from(indices, (i, n) => ({ id: m.idOf[i]!, score: scores[n]! }));

/** The model's best `k` items for a history (in shard order on a cold start). */
export async function recommendFrom(
  m: LoadedModel,
  req: RecommendRequest,
  encode: Encode,
): Promise<RecommendResult> {
  const t0 = performance.now();
  checkK(req.k, 'recommend');
  const exclude = checkExclude(req.exclude);
  const { indices, unknown } = knownIndices(m, req.history);
  const skip = new Set<number>();
  if (req.excludeHistory !== false) for (const i of indices) skip.add(i);
  excluded(m, exclude, skip);

  const coldStart = indices.length === 0;
  let encodeMs = 0;
  let items: ScoredItem[];
  let scoreStart = performance.now();
  if (coldStart) {
    items = firstItems(m, req.k, skip).map((i) => ({ id: m.idOf[i]!, score: 0 }));
  } else {
    const user = await encode(encoderOf(m), indices, req.context, 'recommend');
    encodeMs = performance.now() - scoreStart;
    scoreStart = performance.now();
    const best = await m.engine.search(user, req.k, { exclude: skip });
    items = scored(m, best.indices, best.scores);
  }
  const t3 = performance.now();
  return {
    items,
    coldStart,
    unknownHistory: unknown,
    itemsSearched: m.indexOf.size,
    timings: { encodeMs, scoreMs: t3 - scoreStart, totalMs: t3 - t0 },
  };
}

/** The model's best `k` items for a caller-made query vector. */
export async function searchVectorIn(
  m: LoadedModel,
  req: SearchVectorRequest,
): Promise<SearchResult> {
  const t0 = performance.now();
  checkK(req.k, 'searchVector');
  if (!(req.vector instanceof Float32Array) || req.vector.length !== m.dim)
    throw new LocalrecError(
      'bad-input',
      `searchVector: vector must be a Float32Array of the model's dim (${m.dim})`,
    );
  const skip = excluded(m, checkExclude(req.exclude));
  const t1 = performance.now();
  const best = await m.engine.search(req.vector, req.k, { exclude: skip });
  const t2 = performance.now();
  return {
    items: scored(m, best.indices, best.scores),
    itemsSearched: m.indexOf.size,
    timings: { scoreMs: t2 - t1, totalMs: t2 - t0 },
  };
}

/** The embeddings of the requested ids the model holds, as the kernels score them. */
export function itemVectorsOf(m: LoadedModel, req: ItemVectorsRequest): ItemVectors {
  const ids: string[] = [];
  const missing: string[] = [];
  const vectors = new Float32Array(req.ids.length * m.dim);
  for (const id of req.ids) {
    if (typeof id !== 'string')
      throw new LocalrecError('bad-input', 'itemVectors: ids must be strings');
    const i = m.indexOf.get(id);
    if (i !== undefined && readRow(m, i, vectors, ids.length * m.dim)) ids.push(id);
    else missing.push(id);
  }
  return { dim: m.dim, ids, vectors: vectors.slice(0, ids.length * m.dim), missing };
}
