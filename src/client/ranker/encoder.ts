/**
 * Encoder sessions: an ONNX user encoder (the SASRec encoder or a two-tower user tower) created
 * on the chosen runtime, checked against the graph contract and the item width, warmed up, and
 * run on one history at a time.
 */
import type * as ort from 'onnxruntime-web/webgpu';
import {
  contextVector,
  contextWidth,
  localUtcOffsetMinutes,
  parseContextSpec,
  type ContextSpec,
} from '../../core/context.ts';
import { ENCODER_CONTEXT_INPUT, ENCODER_INPUT, ENCODER_OUTPUT } from '../../core/encoder-io.ts';
import { LocalrecError } from '../../core/errors.ts';
import type { Bytes, EncodeContext } from './api.ts';
import { message, toU8 } from './catalog.ts';
import type { Device, DeviceChoice } from './device.ts';
import { chooseRuntime, sessionError, type OrtRuntime, type RuntimeOptions } from './runtime.ts';

/** Runs ONNX Runtime work one call at a time (sessions do not allow overlapping `run()`s). */
export type OrtGate = <T>(f: () => Promise<T>) => Promise<T>;

/** A created, checked encoder session. */
export interface EncoderSession {
  session: ort.InferenceSession;
  rt: OrtRuntime;
  device: Device;
  /** Why this device (device.ts). */
  reason: string;
  /** Longest history the encoder was trained for. */
  maxLen: number;
  /** The context features the encoder takes (null: none). */
  context: ContextSpec | null;
}

/** What {@link createEncoder} needs to know about the encoder it is given. */
export interface EncoderSpec {
  device?: DeviceChoice;
  maxLen: number;
  context?: ContextSpec | null;
}

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

/** Checks the encoder's output and copies it out (ORT may reuse its buffer); disposes the tensors. */
function userVector(
  results: ort.InferenceSession.OnnxValueMapType,
  feeds: Record<string, ort.Tensor>,
): Float32Array {
  const out = results[ENCODER_OUTPUT];
  if (!out || out.type !== 'float32' || out.dims.length !== 2 || out.dims[0] !== 1) {
    throw new LocalrecError(
      'bad-format',
      `the encoder's '${ENCODER_OUTPUT}' output is ${out ? `${out.type} [${out.dims.join(', ')}]` : 'missing'}; expected float32 [1, dim]`,
    );
  }
  const vec = new Float32Array(out.data as Float32Array);
  for (const t of Object.values(results)) t.dispose();
  for (const t of Object.values(feeds)) t.dispose();
  return vec;
}

/** The encoder's inputs for one history of internal indices (and the request's moment). */
function feedsFor(
  s: Pick<EncoderSession, 'rt' | 'context'>,
  indices: number[],
  ctx: EncodeContext | undefined,
  what: string,
): Record<string, ort.Tensor> {
  const ids = BigInt64Array.from(indices, (i) => BigInt(i)); // (1, T), no padding needed for one sequence
  const feeds: Record<string, ort.Tensor> = {
    [ENCODER_INPUT]: new s.rt.Tensor('int64', ids, [1, indices.length]),
  };
  if (s.context) {
    // (1, C): the moment of this request, computed here so every caller gets the same encoding.
    feeds[ENCODER_CONTEXT_INPUT] = new s.rt.Tensor('float32', contextValues(s.context, ctx, what), [
      1,
      contextWidth(s.context),
    ]);
  }
  return feeds;
}

/**
 * Creates and checks an encoder session for items of width `dim`, probing it with item
 * `probeIndex` (which also compiles its kernels now rather than on the first visitor request).
 * The caller releases the session if it does not keep it.
 */
export async function createEncoder(
  bytes: Bytes,
  spec: EncoderSpec,
  dim: number,
  probeIndex: number,
  what: string,
  runtime: RuntimeOptions,
  withOrt: OrtGate,
): Promise<EncoderSession & { probe: Float32Array }> {
  if (!Number.isInteger(spec.maxLen) || spec.maxLen < 1) {
    throw new LocalrecError(
      'bad-input',
      `${what}: maxLen must be a positive integer (the encoder's training maxLen), got ${spec.maxLen}`,
    );
  }
  const encoder = toU8(bytes, 'encoder');
  const context = parseContextSpec(spec.context, `${what}: context`);
  const { rt, device, reason } = await chooseRuntime(spec.device ?? 'auto', runtime);
  return withOrt(async () => {
    let session: ort.InferenceSession;
    try {
      session = await rt.InferenceSession.create(encoder, { executionProviders: [device] });
    } catch (e) {
      throw sessionError(e, device);
    }
    try {
      if (
        !session.inputNames.includes(ENCODER_INPUT) ||
        !session.outputNames.includes(ENCODER_OUTPUT)
      ) {
        throw new LocalrecError(
          'bad-format',
          `the encoder has inputs [${session.inputNames.join(', ')}] and outputs [${session.outputNames.join(', ')}]; expected input '${ENCODER_INPUT}' and output '${ENCODER_OUTPUT}'`,
        );
      }
      const takesContext = session.inputNames.includes(ENCODER_CONTEXT_INPUT);
      if (takesContext !== (context !== null)) {
        throw new LocalrecError(
          'bad-format',
          takesContext
            ? `the encoder takes a '${ENCODER_CONTEXT_INPUT}' input (request-context features) but no context spec was given: pass the manifest's config.context as \`context\``
            : `a context spec (${context!.features.join(', ')}) was given but the encoder has no '${ENCODER_CONTEXT_INPUT}' input; it comes from another model`,
        );
      }
      // Warm-up on one real item, which also tells the output width to check against the
      // shards. (Already inside the ORT gate, so the run goes to the session directly.)
      const feeds = feedsFor({ rt, context }, [probeIndex], undefined, what);
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
      const probe = userVector(results, feeds);
      if (probe.length !== dim) {
        throw new LocalrecError(
          'bad-format',
          `the encoder outputs ${probe.length}-dim user vectors but the shards hold ${dim}-dim items; they come from different models`,
        );
      }
      return { session, rt, device, reason, maxLen: spec.maxLen, context, probe };
    } catch (e) {
      await session.release();
      throw e;
    }
  });
}

/** Runs the encoder on the last `maxLen` of `indices` (and the request context). Returns (dim). */
export async function runEncoder(
  s: Pick<EncoderSession, 'session' | 'rt' | 'maxLen' | 'context'>,
  indices: number[],
  ctx: EncodeContext | undefined,
  what: string,
  withOrt: OrtGate,
): Promise<Float32Array> {
  const feeds = feedsFor(s, indices.slice(-s.maxLen), ctx, what);
  const results = await withOrt(() => s.session.run(feeds));
  return userVector(results, feeds);
}
