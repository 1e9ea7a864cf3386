/**
 * The in-process ranker: SASRec user encoding with ONNX Runtime Web (WebGPU or WASM) and
 * retrieval over item-embedding shards with the kernels of src/core/topk.ts. The worker
 * (workers/ranker.worker.ts) exposes exactly this object; see ranker-api.ts for the contract.
 */
// The build with the native WebGPU EP (plus wasm), not the default import: the default one
// uses the older JSEP WebGPU backend (deprecated since ORT 1.29), whose DequantizeLinear gives
// wrong int8 results for a one-element scale — i.e. for a one-item history through our int8
// encoder — and then keeps serving that wrong shader from its cache to every later
// DequantizeLinear of the same rank (onnxruntime#32578). The native EP is correct.
import * as ort from 'onnxruntime-web/webgpu';
import { LocalrecError, isLocalrecError } from '../core/errors.ts';
import { decodeShard, type DecodedShard } from '../core/shard.ts';
import { scoreF16, scoreF32, scoreInt8, topK } from '../core/topk.ts';
import { pickDevice, type Device, type GpuLike } from './device.ts';
import type {
  Bytes,
  Ranker,
  RankerLoadOptions,
  RankerLoadResult,
  RecommendRequest,
  RecommendResult,
  ScoredItem,
} from './ranker-api.ts';

/** Names fixed by the encoder export (models/sasrec/export-onnx.ts). */
const INPUT = 'item_ids';
const OUTPUT = 'user_vec';

/**
 * Options of {@link createRanker}: how to reach ONNX Runtime, not what to load. ORT's settings
 * are global to the JavaScript realm (one per worker) and fixed by its first session, so in
 * one realm the first ranker to load decides them.
 */
export interface RankerOptions {
  /**
   * Where ORT's `.wasm` (and optionally `.mjs`) files are: a URL prefix or `{ wasm, mjs }`
   * URLs (`ort.env.wasm.wasmPaths`). Under vite use `ortWasmPaths` from ort-assets.ts (the
   * worker does); omitted, ORT looks next to its own module, which works only when the page
   * serves ORT's dist/ folder unbundled.
   */
  wasmPaths?: ort.Env.WasmPrefixOrFilePaths;
  /**
   * WASM threads (`ort.env.wasm.numThreads`). Default: ORT's choice, which is 1 unless the page
   * is cross-origin isolated (threads need SharedArrayBuffer).
   */
  numThreads?: number;
  /** Stand-in for `navigator.gpu` in device detection (tests); `null` means "no WebGPU". */
  gpu?: GpuLike | null;
}

interface Loaded {
  session: ort.InferenceSession;
  device: Device;
  dim: number;
  maxLen: number;
  shards: DecodedShard[];
  /** External id → internal index (1..N). */
  indexOf: Map<string, number>;
  /** Internal index → external id ('' for padding and holes). */
  idOf: string[];
  /** One score per internal index, reused by every request; NaN at 0 and at holes so they never rank. */
  scores: Float32Array;
  /** All zeros where an item exists, NaN elsewhere: the cold-start ranking (index order). */
  coldScores: Float32Array;
}

function toU8(b: Bytes, what: string): Uint8Array {
  if (b instanceof Uint8Array) return b;
  if (b instanceof ArrayBuffer) return new Uint8Array(b);
  throw new LocalrecError('bad-input', `${what} must be an ArrayBuffer or a Uint8Array`);
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Decodes and cross-checks the shards: one dim, no overlapping rows, unique ids. */
function indexShards(
  shardBytes: Bytes[],
): Pick<Loaded, 'dim' | 'shards' | 'indexOf' | 'idOf' | 'scores' | 'coldScores'> {
  if (!Array.isArray(shardBytes) || shardBytes.length === 0) {
    throw new LocalrecError('bad-input', 'load: `shards` must list at least one embedding shard');
  }
  const shards = shardBytes.map((b, i) => {
    const bytes = toU8(b, `shards[${i}]`);
    try {
      return decodeShard(bytes);
    } catch (e) {
      const code = isLocalrecError(e) ? e.code : 'bad-format';
      throw new LocalrecError(
        code,
        `shards[${i}] (${bytes.byteLength} bytes) is not a valid embedding shard: ${message(e)}`,
        { cause: e },
      );
    }
  });
  const dim = shards[0]!.dim;
  let total = 1;
  shards.forEach((s, i) => {
    if (s.dim !== dim)
      throw new LocalrecError(
        'bad-format',
        `shards[${i}] has dim ${s.dim} but shards[0] has dim ${dim}; all shards of a catalog share one width`,
      );
    if (!Number.isInteger(s.baseIndex) || s.baseIndex < 1) {
      throw new LocalrecError(
        'bad-format',
        `shards[${i}] starts at item index ${s.baseIndex}; indices start at 1 (0 is padding)`,
      );
    }
    total = Math.max(total, s.baseIndex + s.count);
  });
  const idOf = new Array<string>(total).fill('');
  const indexOf = new Map<string, number>();
  const coldScores = new Float32Array(total).fill(NaN);
  shards.forEach((s, i) => {
    for (let r = 0; r < s.count; r++) {
      const index = s.baseIndex + r;
      const id = s.ids[r]!;
      if (idOf[index] !== '')
        throw new LocalrecError(
          'bad-format',
          `shards[${i}] row ${r} overlaps item index ${index} of another shard`,
        );
      if (indexOf.has(id))
        throw new LocalrecError(
          'bad-format',
          `item id '${id}' appears twice in the shards (shards[${i}] row ${r})`,
        );
      idOf[index] = id;
      indexOf.set(id, index);
      coldScores[index] = 0;
    }
  });
  return {
    dim,
    shards,
    indexOf,
    idOf,
    scores: new Float32Array(coldScores.length).fill(NaN),
    coldScores,
  };
}

/** Scores every loaded item for a user vector into `out` (by internal index). */
function scoreShards(
  shards: DecodedShard[],
  user: Float32Array,
  dim: number,
  out: Float32Array,
): void {
  for (const s of shards) {
    const dst = out.subarray(s.baseIndex, s.baseIndex + s.count);
    if (s.dtype === 'int8') scoreInt8(user, s.int8!, s.scales!, dim, dst);
    else if (s.dtype === 'f16') scoreF16(user, s.f16!, dim, dst);
    else scoreF32(user, s.f32!, dim, dst);
  }
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
 * Calls are serialized: ORT sessions do not allow overlapping `run()`s, and a `load()` in
 * flight must not be observed half-done.
 */
export function createRanker(options: RankerOptions = {}): Ranker {
  let state: Loaded | null = null;
  let queue: Promise<unknown> = Promise.resolve();

  const serial = <T>(f: () => Promise<T>): Promise<T> => {
    const p = queue.then(f);
    queue = p.catch(() => undefined);
    return p;
  };

  const loaded = (what: string): Loaded => {
    if (!state)
      throw new LocalrecError(
        'not-loaded',
        `${what}() needs a model: call load({ encoder, shards, maxLen }) first`,
      );
    return state;
  };

  /** Runs the encoder on the last `maxLen` indices. Returns (dim). */
  const encodeIndices = async (
    s: Pick<Loaded, 'session' | 'maxLen'>,
    indices: number[],
  ): Promise<Float32Array> => {
    const seq = indices.slice(-s.maxLen);
    const ids = BigInt64Array.from(seq, (i) => BigInt(i)); // (1, T), no padding needed for one sequence
    const input = new ort.Tensor('int64', ids, [1, seq.length]);
    const results = await s.session.run({ [INPUT]: input });
    const out = results[OUTPUT];
    if (!out || out.type !== 'float32' || out.dims.length !== 2 || out.dims[0] !== 1) {
      throw new LocalrecError(
        'bad-format',
        `the encoder's '${OUTPUT}' output is ${out ? `${out.type} [${out.dims.join(', ')}]` : 'missing'}; expected float32 [1, dim]`,
      );
    }
    const vec = new Float32Array(out.data as Float32Array); // copy: ORT may reuse its buffer
    for (const t of Object.values(results)) t.dispose();
    input.dispose();
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

  const configureOrt = () => {
    if (options.wasmPaths !== undefined) ort.env.wasm.wasmPaths = options.wasmPaths;
    if (options.numThreads !== undefined) ort.env.wasm.numThreads = options.numThreads;
    // Same preference as pickDevice(), so ORT opens the adapter that was examined.
    ort.env.webgpu.powerPreference = 'high-performance';
  };

  return {
    load: (opts: RankerLoadOptions): Promise<RankerLoadResult> =>
      serial(async () => {
        const t0 = performance.now();
        if (!opts || typeof opts !== 'object')
          throw new LocalrecError('bad-input', 'load() takes { encoder, shards, device?, maxLen }');
        if (!Number.isInteger(opts.maxLen) || opts.maxLen < 1) {
          throw new LocalrecError(
            'bad-input',
            `load: maxLen must be a positive integer (the encoder's training maxLen), got ${opts.maxLen}`,
          );
        }
        const encoder = toU8(opts.encoder, 'encoder');
        const index = indexShards(opts.shards);
        const decision = await pickDevice(
          opts.device ?? 'auto',
          options.gpu === undefined ? {} : { gpu: options.gpu },
        );

        configureOrt();
        let session: ort.InferenceSession;
        try {
          session = await ort.InferenceSession.create(encoder, {
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
          // Warm-up on one real item: compiles kernels/shaders now rather than on the first
          // visitor request, and tells the output width to check against the shards.
          const first = index.shards[0]!.baseIndex;
          const probe = await encodeIndices({ session, maxLen: opts.maxLen }, [first]);
          if (probe.length !== index.dim) {
            throw new LocalrecError(
              'bad-format',
              `the encoder outputs ${probe.length}-dim user vectors but the shards hold ${index.dim}-dim items; they come from different models`,
            );
          }
        } catch (e) {
          await session.release();
          throw e;
        }
        // Only now replace what was loaded: a failed load leaves the previous model usable.
        const previous = state;
        state = { session, device: decision.device, maxLen: opts.maxLen, ...index };
        if (previous) await previous.session.release();
        return {
          device: decision.device,
          reason: decision.reason,
          items: index.indexOf.size,
          dim: index.dim,
          loadMs: performance.now() - t0,
        };
      }),

    recommend: (req: RecommendRequest): Promise<RecommendResult> =>
      serial(async () => {
        const t0 = performance.now();
        const s = loaded('recommend');
        if (!req || typeof req !== 'object')
          throw new LocalrecError(
            'bad-input',
            'recommend() takes { history, k, exclude?, excludeHistory? }',
          );
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
        let scores = s.coldScores;
        let user: Float32Array | null = null;
        if (!coldStart) {
          const t1 = performance.now();
          user = await encodeIndices(s, indices);
          encodeMs = performance.now() - t1;
        }
        const t2 = performance.now();
        if (user) {
          scoreShards(s.shards, user, s.dim, s.scores);
          scores = s.scores;
        }
        const best = topK(scores, req.k, skip);
        const items: ScoredItem[] = Array.from(best.indices, (i, n) => ({
          id: s.idOf[i]!,
          score: best.scores[n]!,
        }));
        const t3 = performance.now();
        return {
          items,
          coldStart,
          unknownHistory: unknown,
          timings: { encodeMs, scoreMs: t3 - t2, totalMs: t3 - t0 },
        };
      }),

    encode: (history: string[]): Promise<Float32Array> =>
      serial(async () => {
        const s = loaded('encode');
        const { indices } = knownIndices(s, history);
        if (indices.length === 0)
          throw new LocalrecError(
            'bad-input',
            'encode: none of the history ids is in the loaded shards, so there is nothing to encode',
          );
        return encodeIndices(s, indices);
      }),

    dispose: (): Promise<void> =>
      serial(async () => {
        const s = state;
        state = null;
        if (s) await s.session.release();
      }),
  };
}
