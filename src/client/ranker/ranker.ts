/**
 * The in-process ranker: user encoding with ONNX Runtime Web (WebGPU or WASM) and retrieval
 * over item-embedding shards with the top-k engine of src/core/topk-engine.ts. Several models
 * (SASRec, two-tower) load side by side, each with its own encoder, shards and id table, and
 * shards can arrive after the encoder (progressive loading). The worker
 * (workers/ranker.worker.ts) exposes exactly this object; see api.ts for the contract.
 */
// ONNX Runtime is imported per device, on first use (runtimeFor): on WASM the CPU-only build
// `onnxruntime-web/wasm` (its .wasm is 14.2 MB, 3.7 MB gzip), on WebGPU the build with the
// native WebGPU EP `onnxruntime-web/webgpu` (Asyncify, 26.8 MB, 6.6 MB gzip) — a visitor
// downloads only the one their device needs. Not the default import for WebGPU: that one uses
// the older JSEP WebGPU backend (deprecated since ORT 1.29), whose DequantizeLinear gives wrong
// int8 results for a one-element scale — i.e. for a one-item history through our int8 encoder —
// and then keeps serving that wrong shader from its cache to every later DequantizeLinear of
// the same rank (onnxruntime#32578). The native EP is correct.
import type * as ort from 'onnxruntime-web/webgpu';
import {
  contextVector,
  contextWidth,
  localUtcOffsetMinutes,
  parseContextSpec,
  type ContextSpec,
} from '../../core/context.ts';
import { LocalrecError } from '../../core/errors.ts';
import { createWasmKernel } from '../../core/kernels/wasm-kernel.ts';
import { createTsKernel, TopKEngine, type TopKKernel } from '../../core/topk-engine.ts';
import { pickDevice, type Device, type GpuLike } from './device.ts';
import {
  addToCatalog,
  decodeAll,
  firstItems,
  message,
  readRow,
  toU8,
  type Catalog,
} from './catalog.ts';
import type {
  KernelChoice,
  AddShardsOptions,
  AddShardsResult,
  AttachEncoderOptions,
  EncodeContext,
  LoadItemsOptions,
  LoadItemsResult,
  Bytes,
  ItemVectors,
  ItemVectorsRequest,
  ModelName,
  Ranker,
  RankerLoadOptions,
  RankerLoadResult,
  RecommendRequest,
  RecommendResult,
  ScoredItem,
  SearchResult,
  SearchVectorRequest,
} from './api.ts';

/** Names fixed by the encoder export (models/sasrec/export-onnx.ts). */
const INPUT = 'item_ids';
const OUTPUT = 'user_vec';
/** The second input of a two-tower user tower with context features (models/two-tower/export-onnx.ts). */
const CONTEXT = 'context';

/** The context vector (1·C) for a request: `c`'s fields, defaulting to now on this device's clock. */
function contextValues(
  spec: ContextSpec,
  c: EncodeContext | undefined,
  what: string,
): Float32Array {
  if (c !== undefined && (typeof c !== 'object' || c === null))
    throw new LocalrecError(
      'bad-input',
      `${what}: context must be { time?, utcOffsetMinutes?, previousTime?, previousType? }`,
    );
  const time = c?.time ?? Date.now();
  const type = c?.previousType;
  if (type !== undefined && type !== null && typeof type !== 'string')
    throw new LocalrecError('bad-input', `${what}: context.previousType must be a string`);
  return contextVector(spec, {
    time,
    utcOffsetMinutes: c?.utcOffsetMinutes ?? localUtcOffsetMinutes(time),
    previousTime: c?.previousTime,
    previousType: type,
  });
}

/**
 * Options of {@link createRanker}: how to reach ONNX Runtime, not what to load. ORT's settings
 * are global to the JavaScript realm (one per worker) and fixed by its first session, so in
 * one realm the first ranker to load decides them.
 */
export interface RankerOptions {
  /**
   * Where ORT's `.wasm` (and optionally `.mjs`) files are (`ort.env.wasm.wasmPaths`): a URL
   * prefix (both builds find their own file under it), or a function giving the paths of the
   * build a device uses (`{ wasm }` URLs; see {@link runtimeFor}). Under vite use `ortWasmPaths`
   * from ort-assets.ts (the workers do); omitted, ORT looks next to its own module, which works
   * only when the page serves ORT's dist/ folder unbundled.
   */
  wasmPaths?: ort.Env.WasmPrefixOrFilePaths | ((device: Device) => ort.Env.WasmPrefixOrFilePaths);
  /**
   * WASM threads (`ort.env.wasm.numThreads`). Default: ORT's choice, which is 1 unless the page
   * is cross-origin isolated (threads need SharedArrayBuffer).
   */
  numThreads?: number;
  /** Stand-in for `navigator.gpu` in device detection (tests); `null` means "no WebGPU". */
  gpu?: GpuLike | null;
  /** The retrieval kernel of every load that names none (default `'auto'`; see {@link KernelChoice}). */
  kernel?: KernelChoice;
}

const DEFAULT_MODEL = 'sasrec';

const KERNELS: readonly KernelChoice[] = ['auto', 'ts', 'wasm-simd', 'webgpu'];

function checkKernel(choice: unknown, what: string): KernelChoice {
  if (!KERNELS.includes(choice as KernelChoice))
    throw new LocalrecError(
      'bad-input',
      `${what}: kernel must be one of ${KERNELS.join(', ')}, got ${JSON.stringify(choice)}`,
    );
  return choice as KernelChoice;
}

async function makeKernel(choice: KernelChoice): Promise<TopKKernel> {
  if (choice === 'ts') return createTsKernel();
  if (choice === 'webgpu') {
    // Loaded only when asked for: pages on the CPU path never fetch the shader code.
    const { createWebGpuKernel } = await import('./kernels/webgpu-topk.ts');
    return createWebGpuKernel();
  }
  try {
    return await createWasmKernel();
  } catch (e) {
    if (choice === 'wasm-simd') throw e;
    return createTsKernel(); // 'auto' on a browser without WebAssembly SIMD
  }
}

/** One ONNX Runtime build (the `onnxruntime-web/wasm` and `/webgpu` modules share this API). */
type OrtRuntime = typeof ort;

const runtimes = new Map<Device, Promise<OrtRuntime>>();

/**
 * The ONNX Runtime build for a device, imported once per realm: `onnxruntime-web/wasm` for
 * WASM, `onnxruntime-web/webgpu` for WebGPU (see the note at the top of this file).
 */
export function runtimeFor(device: Device): Promise<OrtRuntime> {
  let rt = runtimes.get(device);
  if (!rt) {
    rt = (
      device === 'webgpu' ? import('onnxruntime-web/webgpu') : import('onnxruntime-web/wasm')
    ) as Promise<OrtRuntime>;
    runtimes.set(device, rt);
    // A failed import (the network went while its chunk loaded) is tried again next time.
    rt.catch(() => runtimes.delete(device));
  }
  return rt;
}

interface Loaded extends Catalog {
  name: ModelName;
  /** Null for a model loaded with loadItems() until attachEncoder() gives it one. */
  session: ort.InferenceSession | null;
  /** The ONNX Runtime build the session runs on (null with the session). */
  rt: OrtRuntime | null;
  device: Device | null;
  maxLen: number;
  /** The context features the encoder takes (null: none, or no encoder yet). */
  context: ContextSpec | null;
}

/** A created, checked encoder session. */
interface Encoder {
  session: ort.InferenceSession;
  rt: OrtRuntime;
  device: Device;
  reason: string;
  maxLen: number;
  context: ContextSpec | null;
}

/** Turns ORT's session-creation failure into a LocalrecError with a code a caller can act on. */
function sessionError(e: unknown, device: Device): LocalrecError {
  const m = message(e);
  // ORT reports a backend that cannot initialise as "no available backend found. ERR: [webgpu] ...".
  if (/no available backend|webgpu is not supported|failed to get gpu adapter/i.test(m)) {
    return new LocalrecError(
      'device-unavailable',
      `ONNX Runtime cannot run on '${device}' here: ${m}; try device 'wasm'`,
      { cause: e },
    );
  }
  return new LocalrecError(
    'bad-format',
    `the encoder is not a model ONNX Runtime can load on '${device}': ${m}`,
    { cause: e },
  );
}

/**
 * Creates an in-process ranker. Nothing is loaded until {@link Ranker.load}.
 *
 * Calls are serialized: ORT sessions do not allow overlapping `run()`s, and a `load()` or
 * `addShards()` in flight must not be observed half-done.
 */
export function createRanker(options: RankerOptions = {}): Ranker {
  const models = new Map<ModelName, Loaded>();
  let queue: Promise<unknown> = Promise.resolve();
  const defaultKernel = checkKernel(options.kernel ?? 'auto', 'createRanker');

  const serial = <T>(f: () => Promise<T>): Promise<T> => {
    const p = queue.then(f);
    queue = p.catch(() => undefined);
    return p;
  };
  // ONNX Runtime work (session creation, runs) one at a time, apart from the queue above:
  // attachEncoder() creates its session (seconds, the first time: ORT compiles its WebAssembly)
  // without holding up searches of the items already loaded.
  let ortQueue: Promise<unknown> = Promise.resolve();
  const withOrt = <T>(f: () => Promise<T>): Promise<T> => {
    const p = ortQueue.then(f);
    ortQueue = p.catch(() => undefined);
    return p;
  };

  /**
   * Creates and checks an encoder session for items of width `dim` (probing with item `probeIndex`).
   * The caller releases it if it does not keep it.
   */
  const createEncoder = async (
    bytes: Bytes,
    opts: { device?: RankerLoadOptions['device']; maxLen: number; context?: ContextSpec | null },
    dim: number,
    probeIndex: number,
    what: string,
  ): Promise<Encoder & { probe: Float32Array }> => {
    if (!Number.isInteger(opts.maxLen) || opts.maxLen < 1) {
      throw new LocalrecError(
        'bad-input',
        `${what}: maxLen must be a positive integer (the encoder's training maxLen), got ${opts.maxLen}`,
      );
    }
    const encoder = toU8(bytes, 'encoder');
    const context = parseContextSpec(opts.context, `${what}: context`);
    const decision = await pickDevice(
      opts.device ?? 'auto',
      options.gpu === undefined ? {} : { gpu: options.gpu },
    );
    const rt = await runtimeFor(decision.device);
    configureOrt(rt, decision.device);
    return withOrt(async () => {
      let session: ort.InferenceSession;
      try {
        session = await rt.InferenceSession.create(encoder, {
          executionProviders: [decision.device],
        });
      } catch (e) {
        throw sessionError(e, decision.device);
      }
      try {
        if (!session.inputNames.includes(INPUT) || !session.outputNames.includes(OUTPUT)) {
          throw new LocalrecError(
            'bad-format',
            `the encoder has inputs [${session.inputNames.join(', ')}] and outputs [${session.outputNames.join(', ')}]; expected input '${INPUT}' and output '${OUTPUT}'`,
          );
        }
        const takesContext = session.inputNames.includes(CONTEXT);
        if (takesContext !== (context !== null)) {
          throw new LocalrecError(
            'bad-format',
            takesContext
              ? `the encoder takes a '${CONTEXT}' input (request-context features) but no context spec was given: pass the manifest's config.context as \`context\``
              : `a context spec (${context!.features.join(', ')}) was given but the encoder has no '${CONTEXT}' input; it comes from another model`,
          );
        }
        // Warm-up on one real item: compiles kernels/shaders now rather than on the first
        // visitor request, and tells the output width to check against the shards. (Already
        // inside the ORT gate, so the run goes to the session directly.)
        const seq = BigInt64Array.from([BigInt(probeIndex)]);
        const input = new rt.Tensor('int64', seq, [1, 1]);
        const feeds: Record<string, ort.Tensor> = { [INPUT]: input };
        if (context)
          feeds[CONTEXT] = new rt.Tensor('float32', contextValues(context, undefined, what), [
            1,
            contextWidth(context),
          ]);
        let results: ort.InferenceSession.OnnxValueMapType;
        try {
          results = await session.run(feeds);
        } catch (e) {
          throw new LocalrecError(
            'bad-format',
            context
              ? `the encoder failed on a ${contextWidth(context)}-value context (${context.features.join(', ')}): ${message(e)}; the context spec and the encoder come from different models`
              : `the encoder failed on a one-item history: ${message(e)}`,
            { cause: e },
          );
        }
        const out = results[OUTPUT];
        if (!out || out.type !== 'float32' || out.dims.length !== 2 || out.dims[0] !== 1) {
          throw new LocalrecError(
            'bad-format',
            `the encoder's '${OUTPUT}' output is ${out ? `${out.type} [${out.dims.join(', ')}]` : 'missing'}; expected float32 [1, dim]`,
          );
        }
        const probe = new Float32Array(out.data as Float32Array);
        for (const t of Object.values(results)) t.dispose();
        for (const t of Object.values(feeds)) t.dispose();
        if (probe.length !== dim) {
          throw new LocalrecError(
            'bad-format',
            `the encoder outputs ${probe.length}-dim user vectors but the shards hold ${dim}-dim items; they come from different models`,
          );
        }
        return {
          session,
          rt,
          device: decision.device,
          reason: decision.reason,
          maxLen: opts.maxLen,
          context,
          probe,
        };
      } catch (e) {
        await session.release();
        throw e;
      }
    });
  };

  /** A catalog of decoded shards searched by a fresh kernel (disposed again if anything fails). */
  const newCatalog = async (
    shardBytes: Bytes[],
    kernelChoice: KernelChoice | undefined,
    what: string,
  ): Promise<{ catalog: Catalog; kernel: TopKKernel }> => {
    const shards = decodeAll(shardBytes, what);
    if (shards.length === 0)
      throw new LocalrecError(
        'bad-input',
        `${what}: \`shards\` must list at least one embedding shard (the rest can follow through addShards)`,
      );
    const kernel = await makeKernel(checkKernel(kernelChoice ?? defaultKernel, what));
    const catalog: Catalog = {
      dim: shards[0]!.dim,
      engine: new TopKEngine({ kernel }),
      indexOf: new Map(),
      idOf: [],
      ranges: [],
      blocks: [],
      shards: 0,
    };
    try {
      addToCatalog(catalog, shards);
    } catch (e) {
      catalog.engine.dispose();
      throw e;
    }
    return { catalog, kernel };
  };

  /** Puts a model in place of any of the same name, releasing the old one. */
  const replace = async (m: Loaded): Promise<void> => {
    const previous = models.get(m.name);
    models.set(m.name, m);
    if (previous) {
      previous.engine.dispose();
      await previous.session?.release();
    }
  };

  const modelName = (name: unknown, what: string): ModelName => {
    if (name === undefined) return DEFAULT_MODEL;
    if (typeof name !== 'string' || name === '')
      throw new LocalrecError('bad-input', `${what}: model must be a non-empty string`);
    return name;
  };

  const loaded = (what: string, name: ModelName): Loaded => {
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

  /** Runs the encoder on the last `maxLen` indices (and the request context, if it takes one). Returns (dim). */
  const encodeIndices = async (
    s: {
      session: ort.InferenceSession | null;
      rt: OrtRuntime | null;
      maxLen: number;
      name?: string;
      context: ContextSpec | null;
    },
    indices: number[],
    ctx: EncodeContext | undefined,
    what: string,
  ): Promise<Float32Array> => {
    const session = s.session;
    const rt = s.rt;
    if (!session || !rt)
      throw new LocalrecError(
        'not-loaded',
        `model '${s.name ?? '?'}' has items but no encoder yet: call attachEncoder() (or load())`,
      );
    const seq = indices.slice(-s.maxLen);
    const ids = BigInt64Array.from(seq, (i) => BigInt(i)); // (1, T), no padding needed for one sequence
    const input = new rt.Tensor('int64', ids, [1, seq.length]);
    const feeds: Record<string, ort.Tensor> = { [INPUT]: input };
    if (s.context) {
      // (1, C): the moment of this request, computed here so every caller gets the same encoding.
      feeds[CONTEXT] = new rt.Tensor('float32', contextValues(s.context, ctx, what), [
        1,
        contextWidth(s.context),
      ]);
    }
    const results = await withOrt(() => session.run(feeds));
    const out = results[OUTPUT];
    if (!out || out.type !== 'float32' || out.dims.length !== 2 || out.dims[0] !== 1) {
      throw new LocalrecError(
        'bad-format',
        `the encoder's '${OUTPUT}' output is ${out ? `${out.type} [${out.dims.join(', ')}]` : 'missing'}; expected float32 [1, dim]`,
      );
    }
    const vec = new Float32Array(out.data as Float32Array); // copy: ORT may reuse its buffer
    for (const t of Object.values(results)) t.dispose();
    for (const t of Object.values(feeds)) t.dispose();
    return vec;
  };

  const knownIndices = (s: Loaded, history: string[]): { indices: number[]; unknown: number } => {
    if (!Array.isArray(history))
      throw new LocalrecError('bad-input', '`history` must be an array of item ids, oldest first');
    const indices: number[] = [];
    let unknown = 0;
    for (const id of history) {
      const i = s.indexOf.get(id);
      if (i === undefined) unknown++;
      else indices.push(i);
    }
    return { indices, unknown };
  };

  const configureOrt = (rt: OrtRuntime, device: Device) => {
    const paths = options.wasmPaths;
    if (paths !== undefined)
      rt.env.wasm.wasmPaths = typeof paths === 'function' ? paths(device) : paths;
    if (options.numThreads !== undefined) rt.env.wasm.numThreads = options.numThreads;
    // Same preference as pickDevice(), so ORT opens the adapter that was examined.
    if (device === 'webgpu') rt.env.webgpu.powerPreference = 'high-performance';
  };

  return {
    load: (opts: RankerLoadOptions): Promise<RankerLoadResult> =>
      serial(async () => {
        const t0 = performance.now();
        if (!opts || typeof opts !== 'object')
          throw new LocalrecError(
            'bad-input',
            'load() takes { model?, encoder, shards, device?, maxLen }',
          );
        const name = modelName(opts.model, 'load');
        if (!Number.isInteger(opts.maxLen) || opts.maxLen < 1) {
          throw new LocalrecError(
            'bad-input',
            `load: maxLen must be a positive integer (the encoder's training maxLen), got ${opts.maxLen}`,
          );
        }
        toU8(opts.encoder, 'encoder');
        const { catalog, kernel } = await newCatalog(opts.shards, opts.kernel, 'load');
        let enc: Encoder & { probe: Float32Array };
        try {
          enc = await createEncoder(
            opts.encoder,
            opts,
            catalog.dim,
            catalog.ranges[0]?.start ?? 1,
            'load',
          );
        } catch (e) {
          catalog.engine.dispose();
          throw e;
        }
        try {
          // And one search, so the kernel's first-use costs are not the visitor's either.
          await catalog.engine.search(enc.probe, 1);
        } catch (e) {
          await enc.session.release();
          catalog.engine.dispose();
          throw e;
        }
        // Only now replace what was loaded: a failed load leaves the previous model usable.
        await replace({
          ...catalog,
          name,
          session: enc.session,
          rt: enc.rt,
          device: enc.device,
          maxLen: enc.maxLen,
          context: enc.context,
        });
        return {
          model: name,
          kernel: kernel.name,
          device: enc.device,
          reason: enc.reason,
          items: catalog.indexOf.size,
          dim: catalog.dim,
          loadMs: performance.now() - t0,
        };
      }),

    loadItems: (opts: LoadItemsOptions): Promise<LoadItemsResult> =>
      serial(async () => {
        const t0 = performance.now();
        if (!opts || typeof opts !== 'object')
          throw new LocalrecError('bad-input', 'loadItems() takes { model?, shards, kernel? }');
        const name = modelName(opts.model, 'loadItems');
        const { catalog, kernel } = await newCatalog(opts.shards, opts.kernel, 'loadItems');
        try {
          await catalog.engine.search(new Float32Array(catalog.dim), 1); // kernel warm-up
        } catch (e) {
          catalog.engine.dispose();
          throw e;
        }
        await replace({
          ...catalog,
          name,
          session: null,
          rt: null,
          device: null,
          maxLen: 0,
          context: null,
        });
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
      if (!opts || typeof opts !== 'object')
        throw new LocalrecError(
          'bad-input',
          'attachEncoder() takes { model?, encoder, maxLen, device? }',
        );
      const name = modelName(opts.model, 'attachEncoder');
      const target = await serial(async () => loaded('attachEncoder', name));
      // Created outside the call queue: searches of the loaded items go on meanwhile.
      const enc = await createEncoder(
        opts.encoder,
        opts,
        target.dim,
        target.ranges[0]?.start ?? 1,
        'attachEncoder',
      );
      return serial(async () => {
        const m = models.get(name);
        if (m !== target) {
          await enc.session.release();
          throw new LocalrecError(
            'not-loaded',
            `attachEncoder(): model '${name}' was replaced or unloaded while its encoder loaded`,
          );
        }
        const old = m.session;
        m.session = enc.session;
        m.rt = enc.rt;
        m.device = enc.device;
        m.maxLen = enc.maxLen;
        m.context = enc.context;
        await old?.release();
        return {
          model: name,
          kernel: m.engine.kernel.name,
          device: enc.device,
          reason: enc.reason,
          items: m.indexOf.size,
          dim: m.dim,
          loadMs: performance.now() - t0,
        };
      });
    },

    addShards: (opts: AddShardsOptions): Promise<AddShardsResult> =>
      serial(async () => {
        if (!opts || typeof opts !== 'object')
          throw new LocalrecError('bad-input', 'addShards() takes { model?, shards }');
        const m = loaded('addShards', modelName(opts.model, 'addShards'));
        addToCatalog(m, decodeAll(opts.shards, 'addShards'));
        return { items: m.indexOf.size, shards: m.shards };
      }),

    recommend: (req: RecommendRequest): Promise<RecommendResult> =>
      serial(async () => {
        const t0 = performance.now();
        if (!req || typeof req !== 'object')
          throw new LocalrecError(
            'bad-input',
            'recommend() takes { history, k, model?, exclude?, excludeHistory? }',
          );
        const s = loaded('recommend', modelName(req.model, 'recommend'));
        if (!Number.isInteger(req.k) || req.k < 0)
          throw new LocalrecError(
            'bad-input',
            `recommend: k must be a non-negative integer, got ${req.k}`,
          );
        if (req.exclude !== undefined && !Array.isArray(req.exclude))
          throw new LocalrecError('bad-input', '`exclude` must be an array of item ids');
        const { indices, unknown } = knownIndices(s, req.history);

        const skip = new Set<number>();
        if (req.excludeHistory !== false) for (const i of indices) skip.add(i);
        for (const id of req.exclude ?? []) {
          const i = s.indexOf.get(id);
          if (i !== undefined) skip.add(i);
        }

        const coldStart = indices.length === 0;
        let encodeMs = 0;
        let items: ScoredItem[];
        let scoreStart = performance.now();
        if (coldStart) {
          items = firstItems(s, req.k, skip).map((i) => ({ id: s.idOf[i]!, score: 0 }));
        } else {
          const user = await encodeIndices(s, indices, req.context, 'recommend');
          encodeMs = performance.now() - scoreStart;
          scoreStart = performance.now();
          const best = await s.engine.search(user, req.k, { exclude: skip });
          items = Array.from(best.indices, (i, n) => ({ id: s.idOf[i]!, score: best.scores[n]! }));
        }
        const t3 = performance.now();
        return {
          items,
          coldStart,
          unknownHistory: unknown,
          itemsSearched: s.indexOf.size,
          timings: { encodeMs, scoreMs: t3 - scoreStart, totalMs: t3 - t0 },
        };
      }),

    encode: (
      history: string[],
      model?: ModelName,
      context?: EncodeContext,
    ): Promise<Float32Array> =>
      serial(async () => {
        const s = loaded('encode', modelName(model, 'encode'));
        const { indices } = knownIndices(s, history);
        if (indices.length === 0)
          throw new LocalrecError(
            'bad-input',
            'encode: none of the history ids is in the loaded shards, so there is nothing to encode',
          );
        return encodeIndices(s, indices, context, 'encode');
      }),

    itemVectors: (req: ItemVectorsRequest): Promise<ItemVectors> =>
      serial(async () => {
        if (!req || typeof req !== 'object' || !Array.isArray(req.ids))
          throw new LocalrecError('bad-input', 'itemVectors() takes { model?, ids: string[] }');
        const m = loaded('itemVectors', modelName(req.model, 'itemVectors'));
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
      }),

    searchVector: (req: SearchVectorRequest): Promise<SearchResult> =>
      serial(async () => {
        const t0 = performance.now();
        if (!req || typeof req !== 'object')
          throw new LocalrecError(
            'bad-input',
            'searchVector() takes { model?, vector, k, exclude? }',
          );
        const m = loaded('searchVector', modelName(req.model, 'searchVector'));
        if (!Number.isInteger(req.k) || req.k < 0)
          throw new LocalrecError(
            'bad-input',
            `searchVector: k must be a non-negative integer, got ${req.k}`,
          );
        if (!(req.vector instanceof Float32Array) || req.vector.length !== m.dim)
          throw new LocalrecError(
            'bad-input',
            `searchVector: vector must be a Float32Array of the model's dim (${m.dim})`,
          );
        if (req.exclude !== undefined && !Array.isArray(req.exclude))
          throw new LocalrecError('bad-input', '`exclude` must be an array of item ids');
        const skip = new Set<number>();
        for (const id of req.exclude ?? []) {
          const i = m.indexOf.get(id);
          if (i !== undefined) skip.add(i);
        }
        const t1 = performance.now();
        const best = await m.engine.search(req.vector, req.k, { exclude: skip });
        const t2 = performance.now();
        return {
          items: Array.from(best.indices, (i, n) => ({ id: m.idOf[i]!, score: best.scores[n]! })),
          itemsSearched: m.indexOf.size,
          timings: { scoreMs: t2 - t1, totalMs: t2 - t0 },
        };
      }),

    unload: (model: ModelName): Promise<boolean> =>
      serial(async () => {
        const name = modelName(model, 'unload');
        const m = models.get(name);
        if (!m) return false;
        models.delete(name);
        m.engine.dispose();
        await m.session?.release();
        return true;
      }),

    dispose: (): Promise<void> =>
      serial(async () => {
        const all = [...models.values()];
        models.clear();
        for (const m of all) {
          m.engine.dispose();
          await m.session?.release();
        }
      }),
  };
}
