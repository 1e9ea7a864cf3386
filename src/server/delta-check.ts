/**
 * The checks a posted delta passes before it is counted, against its round: size, form,
 * fit (round id, base model, slices, clip norms) and content (finite, within the clip bound,
 * not all zero), and the digests the store counts it by. Synchronous and self-contained, so
 * it runs wherever the update is counted: on the round store's worker thread for the server
 * (the event loop never spends the ~5 ms a 480 kB delta takes), in-process otherwise.
 */
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import {
  addDequantized,
  decodeDelta,
  deltaByteLength,
  deltaNorm,
  type Delta,
} from '../core/delta.ts';
import { LocalrecError } from '../core/errors.ts';
import { valuesDigest } from './delta-digest.ts';
import { ApiError } from './errors.ts';
import { sliceLength, sliceOffsets, type Round, type UpdateInput } from './store/round-store.ts';

/** A round's parameters as the check needs them (worked out once per round). */
export interface RoundLayout {
  round: Round;
  /** Offsets of the slices in the concatenated values, and their total (last). */
  offsets: number[];
  /** The size of every valid delta for the round. */
  maxBytes: number;
}

/** The layout of a round. */
export function roundLayout(round: Round): RoundLayout {
  return {
    round,
    offsets: sliceOffsets(round.slices),
    maxBytes: deltaByteLength(round.baseModelVersion, round.slices.map(sliceLength)),
  };
}

const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');

/** What a round ticket is stored as: its sha256, so the database cannot be used to post. */
export function ticketHash(ticket: string): string {
  return sha256(ticket);
}

/**
 * Decodes a posted body and checks it against its round; returns what to count.
 *
 * @param ticketSha256 - the hash of the ticket the post came with ({@link ticketHash}),
 *   checked when the update is counted.
 * @throws LocalrecError / ApiError naming the first problem: a body over the round's delta
 *   size, a malformed delta, another round, another base model, slices whose number or sizes
 *   differ from the round's, a client clip norm above the round's, a norm over the clip bound,
 *   or all values zero.
 */
export function checkDelta(
  layout: RoundLayout,
  body: Uint8Array,
  ticketSha256?: string,
): { input: UpdateInput; delta: Delta } {
  const { round, offsets } = layout;
  const id = round.id;
  if (body.length > layout.maxBytes)
    throw new ApiError(
      'too-large',
      `a delta for round ${id} is ${layout.maxBytes} bytes; this body has ${body.length}`,
    );
  const d = decodeDelta(body, { crc32 });
  if (d.roundId !== id)
    throw new LocalrecError(
      'bad-input',
      `the delta is for round ${d.roundId} but was posted to round ${id}`,
    );
  if (d.baseVersion !== round.baseModelVersion) {
    throw new ApiError(
      'conflict',
      `the delta was trained from model ${d.baseVersion}; round ${id} takes updates to ${round.baseModelVersion}`,
    );
  }
  if (d.slices.length !== round.slices.length)
    throw new LocalrecError(
      'bad-input',
      `the delta has ${d.slices.length} slices; round ${id} has ${round.slices.length}`,
    );
  d.slices.forEach((s, i) => {
    const want = round.slices[i]!;
    if (s.index !== i)
      throw new LocalrecError('bad-input', `slice ${i} of the delta has index ${s.index}`);
    if (s.values.length !== sliceLength(want))
      throw new LocalrecError(
        'bad-input',
        `slice ${i} (${want.name}, shape ${want.shape.join('x')}) needs ${sliceLength(want)} values, the delta has ${s.values.length}`,
      );
  });
  if (d.clipNorm > Math.fround(round.clipNorm))
    throw new LocalrecError(
      'bad-input',
      `the delta's clip norm ${d.clipNorm} is above round ${id}'s bound ${round.clipNorm}`,
    );
  const norm = deltaNorm(d);
  if (!Number.isFinite(norm) || norm > round.clipNorm)
    throw new LocalrecError(
      'bad-input',
      `the delta's L2 norm ${norm} exceeds round ${id}'s clip bound ${round.clipNorm}`,
    );
  if (norm === 0)
    throw new LocalrecError(
      'bad-input',
      `the delta is all zeros: it would count as a report of round ${id} without changing anything; send nothing instead`,
    );
  let values: Float64Array | undefined;
  const input: UpdateInput = {
    roundId: id,
    updateId: d.updateId,
    digest: sha256(body),
    valuesDigest: valuesDigest(d),
    ...(ticketSha256 !== undefined && { ticket: ticketSha256 }),
    encoded: { body, delta: d },
    // Only for callers that want the values (fedsim's robust rules); the stores never read it.
    get values(): Float64Array {
      if (!values) {
        values = new Float64Array(offsets.at(-1)!);
        addDequantized(d, values, offsets);
      }
      return values;
    },
  };
  return { input, delta: d };
}
