/**
 * The in-process ranker: user encoding with ONNX Runtime Web (WebGPU or WASM) and retrieval
 * over item-embedding shards with the top-k engine of src/core/topk-engine.ts. Several models
 * (SASRec, two-tower) load side by side, each with its own encoder, shards and id table, and
 * shards can arrive after the encoder (progressive loading). See api.ts for the contract.
 *
 * This file keeps the models and the order of calls; the parts with one job each are
 * runtime.ts (device and ONNX Runtime build), encoder.ts (encoder sessions), catalog.ts (shards,
 * kernels) and search.ts (the questions asked of one model).
 */
import { LocalrecError } from '../../core/errors.ts';
import type {
  AddShardsOptions,
  AddShardsResult,
  AttachEncoderOptions,
  EncodeContext,
  ItemVectors,
  ItemVectorsRequest,
  KernelChoice,
  LoadItemsOptions,
  LoadItemsResult,
  ModelName,
  Ranker,
  RankerLoadOptions,
  RankerLoadResult,
  RecommendRequest,
  RecommendResult,
  SearchResult,
  SearchVectorRequest,
} from './api.ts';
import { addToCatalog, checkKernel, decodeAll, newCatalog, toU8 } from './catalog.ts';
import { createEncoder, runEncoder, type EncoderSession, type OrtGate } from './encoder.ts';
import type { RuntimeOptions } from './runtime.ts';
import {
  encoderOf,
  itemVectorsOf,
  knownIndices,
  recommendFrom,
  searchVectorIn,
  type Encode,
  type LoadedModel,
} from './search.ts';

/**
 * Options of {@link createRanker}: how to reach ONNX Runtime, not what to load. ORT's settings
 * are global to the JavaScript realm (one per worker) and fixed by its first session, so in
 * one realm the first ranker to load decides them.
 */
export interface RankerOptions extends RuntimeOptions {
  /** The retrieval kernel of every load that names none (default `'auto'`; see {@link KernelChoice}). */
  kernel?: KernelChoice;
}

const DEFAULT_MODEL = 'sasrec';

/** A promise chain that runs calls one at a time, in order (a failure does not stop the chain). */
function gate(): OrtGate {
  let queue: Promise<unknown> = Promise.resolve();
  return <T>(f: () => Promise<T>): Promise<T> => {
    const p = queue.then(f);
    queue = p.catch(() => undefined);
    return p;
  };
}

function checkObject(o: unknown, usage: string): void {
  if (!o || typeof o !== 'object') throw new LocalrecError('bad-input', usage);
}

const releaseModel = async (m: LoadedModel): Promise<void> => {
  m.engine.dispose();
  await m.encoder?.session.release();
};

/**
 * Creates an in-process ranker. Nothing is loaded until {@link Ranker.load}.
 *
 * Calls are serialized: ORT sessions do not allow overlapping `run()`s, and a `load()` or
 * `addShards()` in flight must not be observed half-done.
 */
export function createRanker(options: RankerOptions = {}): Ranker {
  const models = new Map<ModelName, LoadedModel>();
  const defaultKernel = checkKernel(options.kernel ?? 'auto', 'createRanker');
  const serial = gate();
  // ONNX Runtime work (session creation, runs) one at a time, apart from the queue above:
  // attachEncoder() creates its session (seconds, the first time: ORT compiles its WebAssembly)
  // without holding up searches of the items already loaded.
  const withOrt = gate();
  const encode: Encode = (encoder, indices, context, what) =>
    runEncoder(encoder, indices, context, what, withOrt);
  const newEncoder = (
    bytes: RankerLoadOptions['encoder'],
    spec: Pick<RankerLoadOptions, 'device' | 'maxLen' | 'context'>,
    target: { dim: number; ranges: { start: number }[] },
    what: string,
  ) => createEncoder(bytes, spec, target.dim, target.ranges[0]?.start ?? 1, what, options, withOrt);

  /** Puts a model in place of any of the same name, releasing the old one. */
  const replace = async (m: LoadedModel): Promise<void> => {
    const previous = models.get(m.name);
    models.set(m.name, m);
    if (previous) await releaseModel(previous);
  };

  const modelName = (name: unknown, what: string): ModelName => {
    if (name === undefined) return DEFAULT_MODEL;
    if (typeof name !== 'string' || name === '')
      throw new LocalrecError('bad-input', `${what}: model must be a non-empty string`);
    return name;
  };

  const loaded = (what: string, name: ModelName): LoadedModel => {
    const m = models.get(name);
    if (!m) {
      const have = [...models.keys()];
      throw new LocalrecError(
        'not-loaded',
        have.length === 0
          ? `${what}() needs a model: call load({ encoder, shards, maxLen }) first`
          : `${what}(): no model '${name}' is loaded (loaded: ${have.join(', ')})`,
      );
    }
    return m;
  };

  const loadResult = (m: LoadedModel, enc: EncoderSession, t0: number): RankerLoadResult => ({
    model: m.name,
    kernel: m.engine.kernel.name,
    device: enc.device,
    reason: enc.reason,
    items: m.indexOf.size,
    dim: m.dim,
    loadMs: performance.now() - t0,
  });

  return {
    load: (opts: RankerLoadOptions): Promise<RankerLoadResult> =>
      serial(async () => {
        const t0 = performance.now();
        checkObject(opts, 'load() takes { model?, encoder, shards, device?, maxLen }');
        const name = modelName(opts.model, 'load');
        if (!Number.isInteger(opts.maxLen) || opts.maxLen < 1) {
          throw new LocalrecError(
            'bad-input',
            `load: maxLen must be a positive integer (the encoder's training maxLen), got ${opts.maxLen}`,
          );
        }
        toU8(opts.encoder, 'encoder');
        const { catalog } = await newCatalog(opts.shards, opts.kernel ?? defaultKernel, 'load');
        let enc: EncoderSession & { probe: Float32Array };
        try {
          enc = await newEncoder(opts.encoder, opts, catalog, 'load');
        } catch (e) {
          catalog.engine.dispose();
          throw e;
        }
        const { probe, ...encoder } = enc;
        const m: LoadedModel = { ...catalog, name, encoder };
        try {
          // And one search, so the kernel's first-use costs are not the visitor's either.
          await catalog.engine.search(probe, 1);
        } catch (e) {
          await releaseModel(m);
          throw e;
        }
        // Only now replace what was loaded: a failed load leaves the previous model usable.
        await replace(m);
        return loadResult(m, encoder, t0);
      }),

    loadItems: (opts: LoadItemsOptions): Promise<LoadItemsResult> =>
      serial(async () => {
        const t0 = performance.now();
        checkObject(opts, 'loadItems() takes { model?, shards, kernel? }');
        const name = modelName(opts.model, 'loadItems');
        const { catalog, kernel } = await newCatalog(
          opts.shards,
          opts.kernel ?? defaultKernel,
          'loadItems',
        );
        try {
          await catalog.engine.search(new Float32Array(catalog.dim), 1); // kernel warm-up
        } catch (e) {
          catalog.engine.dispose();
          throw e;
        }
        await replace({ ...catalog, name, encoder: null });
        return {
          model: name,
          kernel: kernel.name,
          items: catalog.indexOf.size,
          dim: catalog.dim,
          loadMs: performance.now() - t0,
        };
      }),

    attachEncoder: async (opts: AttachEncoderOptions): Promise<RankerLoadResult> => {
      const t0 = performance.now();
      checkObject(opts, 'attachEncoder() takes { model?, encoder, maxLen, device? }');
      const name = modelName(opts.model, 'attachEncoder');
      const target = await serial(async () => loaded('attachEncoder', name));
      // Created outside the call queue: searches of the loaded items go on meanwhile.
      const { probe, ...encoder } = await newEncoder(opts.encoder, opts, target, 'attachEncoder');
      void probe; // the warm-up's output: only load() searches with it
      return serial(async () => {
        const m = models.get(name);
        if (m !== target) {
          await encoder.session.release();
          throw new LocalrecError(
            'not-loaded',
            `attachEncoder(): model '${name}' was replaced or unloaded while its encoder loaded`,
          );
        }
        const old = m.encoder;
        m.encoder = encoder;
        await old?.session.release();
        return loadResult(m, encoder, t0);
      });
    },

    addShards: (opts: AddShardsOptions): Promise<AddShardsResult> =>
      serial(async () => {
        checkObject(opts, 'addShards() takes { model?, shards }');
        const m = loaded('addShards', modelName(opts.model, 'addShards'));
        addToCatalog(m, decodeAll(opts.shards, 'addShards'));
        return { items: m.indexOf.size, shards: m.shards };
      }),

    recommend: (req: RecommendRequest): Promise<RecommendResult> =>
      serial(async () => {
        checkObject(req, 'recommend() takes { history, k, model?, exclude?, excludeHistory? }');
        return recommendFrom(loaded('recommend', modelName(req.model, 'recommend')), req, encode);
      }),

    encode: (
      history: string[],
      model?: ModelName,
      context?: EncodeContext,
    ): Promise<Float32Array> =>
      serial(async () => {
        const m = loaded('encode', modelName(model, 'encode'));
        const { indices } = knownIndices(m, history);
        if (indices.length === 0)
          throw new LocalrecError(
            'bad-input',
            'encode: none of the history ids is in the loaded shards, so there is nothing to encode',
          );
        return encode(encoderOf(m), indices, context, 'encode');
      }),

    itemVectors: (req: ItemVectorsRequest): Promise<ItemVectors> =>
      serial(async () => {
        if (!req || typeof req !== 'object' || !Array.isArray(req.ids))
          throw new LocalrecError('bad-input', 'itemVectors() takes { model?, ids: string[] }');
        return itemVectorsOf(loaded('itemVectors', modelName(req.model, 'itemVectors')), req);
      }),

    searchVector: (req: SearchVectorRequest): Promise<SearchResult> =>
      serial(async () => {
        checkObject(req, 'searchVector() takes { model?, vector, k, exclude? }');
        return searchVectorIn(loaded('searchVector', modelName(req.model, 'searchVector')), req);
      }),

    unload: (model: ModelName): Promise<boolean> =>
      serial(async () => {
        const name = modelName(model, 'unload');
        const m = models.get(name);
        if (!m) return false;
        models.delete(name);
        await releaseModel(m);
        return true;
      }),

    dispose: (): Promise<void> =>
      serial(async () => {
        const all = [...models.values()];
        models.clear();
        for (const m of all) await releaseModel(m);
      }),
  };
}
