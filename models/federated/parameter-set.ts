/**
 * The federated parameter set: which weights of a SASRec (single model or ensemble) a round's
 * delta covers, in which order, as slices of which shapes. It is fixed when the model is
 * exported and is **the same for every client**: every transformer weight, the position
 * embeddings, and the item-embedding rows of a public, fixed list of items (the whole catalog
 * when it is at most `maxItemRows` items, else the most popular items of the training data).
 * A delta's shape and slice index therefore say nothing about which items a visitor touched;
 * history items outside the list still train the transformer weights through their inputs.
 *
 * Slice names are the checkpoint's tensor names, with `[rows]` for the item-row subset of a
 * per-item tensor (`item_emb[rows]`, `m1.item_emb[rows]`). Pure: arrays in, arrays out.
 */
import { LocalrecError } from '../../src/core/errors.ts';
import type { SasrecConfig } from '../sasrec/config.ts';
import { weightShapes } from '../sasrec/model.ts';
import type { WeightArrays } from '../weights.ts';

/** Suffix of a per-item tensor's row-subset slice. */
const ROWS = '[rows]';

/** Tensors with one row per item (index 0 = padding): a slice covers only `rows` of them. */
const PER_ITEM = /(^|\.)(item_emb|item_bias)$/;

/** Training-only tensors that never ship (baked into item_emb before export). */
const NOT_SHIPPED = /(^|\.)item_feat$/;

/** One slice of the set: a whole tensor, or the listed rows of a per-item tensor. */
export interface ParameterSlice {
  /** The round's slice name: the tensor name, plus `[rows]` for a row subset. */
  name: string;
  /** The checkpoint tensor it is cut from. */
  tensor: string;
  shape: number[];
  /** True when the slice holds only the set's `rows` of a per-item tensor. */
  itemRows: boolean;
}

/** A federated parameter set (what the trainable blob's meta and the round spec describe). */
export interface ParameterSet {
  slices: ParameterSlice[];
  /** Internal item indices (1..numItems) whose rows the per-item slices hold, ascending. */
  rows: Int32Array;
}

/** The JSON form kept in the trainable blob's checkpoint meta (`federated`). */
export interface ParameterSetJson {
  slices: { name: string; tensor: string; shape: number[]; itemRows: boolean }[];
  rows: number[];
}

/** Default cap on item rows: every item of catalogs up to this size is in the set. */
export const DEFAULT_MAX_ITEM_ROWS = 20_000;

/**
 * The set for a model: all its shipped tensors, per-item tensors cut to the `maxItemRows` most
 * popular items (ties broken by index; all items when the catalog is that small).
 *
 * @param popularity - per internal index (length numItems + 1, index 0 ignored): training
 *   interactions; needed only when the catalog is larger than `maxItemRows`.
 */
export function defineParameterSet(
  c: SasrecConfig,
  popularity?: ArrayLike<number>,
  maxItemRows = DEFAULT_MAX_ITEM_ROWS,
): ParameterSet {
  if (!Number.isInteger(maxItemRows) || maxItemRows < 1)
    throw new LocalrecError('bad-input', `maxItemRows must be an integer ≥ 1, got ${maxItemRows}`);
  let rows: Int32Array;
  if (c.numItems <= maxItemRows) {
    rows = Int32Array.from({ length: c.numItems }, (_, i) => i + 1);
  } else {
    if (!popularity || popularity.length !== c.numItems + 1)
      throw new LocalrecError(
        'bad-input',
        `the catalog has ${c.numItems} items, over maxItemRows ${maxItemRows}: the set needs each item's popularity (numItems + 1 counts)`,
      );
    const order = Array.from({ length: c.numItems }, (_, i) => i + 1).sort(
      (a, b) => popularity[b]! - popularity[a]! || a - b,
    );
    rows = Int32Array.from(order.slice(0, maxItemRows)).sort();
  }
  const slices: ParameterSlice[] = [];
  for (const [tensor, shape] of Object.entries(weightShapes(c))) {
    if (NOT_SHIPPED.test(tensor)) continue;
    if (PER_ITEM.test(tensor))
      slices.push({
        name: tensor + ROWS,
        tensor,
        shape: [rows.length, ...shape.slice(1)],
        itemRows: true,
      });
    else slices.push({ name: tensor, tensor, shape: [...shape], itemRows: false });
  }
  return { slices, rows };
}

/** Values in one slice. */
export function sliceSize(s: { shape: readonly number[] }): number {
  return s.shape.reduce((a, b) => a * b, 1);
}

/** Values in the whole set (the length of a round's sum). */
export function parameterCount(set: ParameterSet): number {
  return set.slices.reduce((a, s) => a + sliceSize(s), 0);
}

/** The round spec's slice list: names and shapes, in order. */
export function roundSlices(set: ParameterSet): { name: string; shape: number[] }[] {
  return set.slices.map((s) => ({ name: s.name, shape: [...s.shape] }));
}

export function parameterSetToJson(set: ParameterSet): ParameterSetJson {
  return {
    slices: set.slices.map((s) => ({ ...s, shape: [...s.shape] })),
    rows: Array.from(set.rows),
  };
}

/**
 * Reads a set from its JSON form, checking it against the model it belongs to.
 *
 * @throws LocalrecError `bad-format` naming the first thing that does not fit the config.
 */
export function parameterSetFromJson(json: unknown, c: SasrecConfig): ParameterSet {
  const bad = (m: string) => new LocalrecError('bad-format', `federated parameter set: ${m}`);
  const j = json as Partial<ParameterSetJson> | null;
  if (!j || !Array.isArray(j.slices) || !Array.isArray(j.rows)) throw bad('slices or rows missing');
  const rows = Int32Array.from(j.rows as number[]);
  for (let i = 0; i < rows.length; i++)
    if (rows[i]! < 1 || rows[i]! > c.numItems || (i > 0 && rows[i]! <= rows[i - 1]!))
      throw bad(`rows must be ascending item indices in 1..${c.numItems}`);
  const shapes = weightShapes(c);
  const slices = j.slices.map((s, i) => {
    const want = shapes[s?.tensor];
    if (!want) throw bad(`slice ${i} names tensor '${String(s?.tensor)}', which the model lacks`);
    const shape = s.itemRows ? [rows.length, ...want.slice(1)] : want;
    if (!Array.isArray(s.shape) || s.shape.join('x') !== shape.join('x'))
      throw bad(`slice ${s.name} has shape ${String(s.shape)}, the model needs ${shape.join('x')}`);
    return { name: s.name, tensor: s.tensor, shape: [...shape], itemRows: Boolean(s.itemRows) };
  });
  return { slices, rows };
}

function tensorOf(w: WeightArrays, s: ParameterSlice) {
  const t = w[s.tensor];
  if (!t) throw new LocalrecError('bad-format', `the weights lack ${s.tensor} (slice ${s.name})`);
  return t;
}

/** Width of one row of a tensor (1 for a vector). */
const rowWidth = (shape: readonly number[]) => shape.slice(1).reduce((a, b) => a * b, 1);

/** The set's values cut from whole weights: one array per slice. */
export function sliceValues(set: ParameterSet, w: WeightArrays): Float32Array[] {
  return set.slices.map((s) => {
    const t = tensorOf(w, s);
    if (!s.itemRows) return t.data.slice();
    const width = rowWidth(t.shape);
    const out = new Float32Array(set.rows.length * width);
    set.rows.forEach((r, i) => out.set(t.data.subarray(r * width, (r + 1) * width), i * width));
    return out;
  });
}

/**
 * Weights with `update` (every slice concatenated in order, e.g. a round's aggregate) added:
 * `w + update` on the set's values, everything else copied unchanged. `w` is not modified.
 */
export function addToWeights(
  set: ParameterSet,
  w: WeightArrays,
  update: ArrayLike<number>,
): WeightArrays {
  const total = parameterCount(set);
  if (update.length !== total)
    throw new LocalrecError(
      'bad-input',
      `an update of ${update.length} values does not fit a parameter set of ${total}`,
    );
  const out: WeightArrays = {};
  for (const [name, t] of Object.entries(w))
    out[name] = { data: t.data.slice(), shape: [...t.shape] };
  let at = 0;
  for (const s of set.slices) {
    const t = out[s.tensor] ?? tensorOf(w, s);
    if (!s.itemRows) {
      for (let i = 0; i < t.data.length; i++) t.data[i]! += update[at + i]!;
    } else {
      const width = rowWidth(t.shape);
      set.rows.forEach((r, i) => {
        for (let j = 0; j < width; j++) t.data[r * width + j]! += update[at + i * width + j]!;
      });
    }
    at += sliceSize(s);
  }
  return out;
}
