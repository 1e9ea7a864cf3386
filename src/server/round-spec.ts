import { LocalrecError } from '../core/errors.ts';
import { deltaByteLength } from '../core/delta.ts';
import { sliceLength, type RoundSpec, type SliceSpec } from './store/round-store.ts';

/** What an owner gives to open a round (CLI flags or the admin endpoint's JSON). */
export interface RoundSpecInput {
  baseModelVersion: string;
  slices: SliceSpec[];
  clipNorm: number;
  minReports: number;
  /** Absolute deadline (ISO 8601), or… */
  deadline?: string;
  /** …seconds from now. One of the two is required. */
  durationSeconds?: number;
}

const SLICE_NAME = /^[A-Za-z0-9_.:/[\]-]{1,128}$/;

/**
 * Checks a round's parameters and turns them into the stored spec.
 *
 * @param maxDeltaBytes - the server's body limit: a round whose deltas could not be posted is refused.
 */
export function toRoundSpec(input: RoundSpecInput, now: number, maxDeltaBytes: number): RoundSpec {
  const bad = (what: string) => new LocalrecError('bad-input', `round: ${what}`);
  const v = input.baseModelVersion;
  if (typeof v !== 'string' || v.length < 1 || v.length > 255 || !/^[\x21-\x7e]+$/.test(v))
    throw bad(
      'baseModelVersion must be 1..255 printable ASCII characters (a manifest modelVersion)',
    );
  if (!Array.isArray(input.slices) || input.slices.length < 1 || input.slices.length > 4096)
    throw bad('slices must list 1..4096 parameter slices');
  for (const s of input.slices) {
    if (!SLICE_NAME.test(s.name))
      throw bad(`slice name '${String(s.name)}' must be 1..128 of A-Z a-z 0-9 _ . : / [ ] -`);
    if (
      !Array.isArray(s.shape) ||
      s.shape.length < 1 ||
      s.shape.some((d) => !Number.isInteger(d) || d < 1)
    )
      throw bad(`slice ${s.name}: shape must be a list of positive integers`);
  }
  if (!Number.isFinite(input.clipNorm) || input.clipNorm <= 0)
    throw bad('clipNorm must be a finite number > 0');
  if (!Number.isInteger(input.minReports) || input.minReports < 1)
    throw bad('minReports must be an integer ≥ 1');
  let deadline: number;
  if (input.deadline !== undefined) {
    deadline = Date.parse(input.deadline);
    if (!Number.isFinite(deadline))
      throw bad(`deadline '${input.deadline}' is not an ISO 8601 time`);
  } else if (input.durationSeconds !== undefined) {
    if (!Number.isFinite(input.durationSeconds) || input.durationSeconds <= 0)
      throw bad('durationSeconds must be > 0');
    deadline = now + Math.round(input.durationSeconds * 1000);
  } else {
    throw bad('give a deadline (ISO time) or a duration');
  }
  if (deadline <= now) throw bad('the deadline is in the past');
  const slices = input.slices.map((s) => ({ name: s.name, shape: [...s.shape] }));
  const bytes = deltaByteLength(v, slices.map(sliceLength));
  if (bytes > maxDeltaBytes)
    throw bad(
      `a delta for these slices takes ${bytes} bytes, over the server's body limit of ${maxDeltaBytes}`,
    );
  return {
    baseModelVersion: v,
    slices,
    clipNorm: input.clipNorm,
    minReports: input.minReports,
    deadline,
  };
}

/** Parses `name:AxB,name2:C` (the CLI's --slices) into slice specs. */
export function parseSlices(text: string): SliceSpec[] {
  return text.split(',').map((part) => {
    const m = /^([^:]+):(\d+(?:x\d+)*)$/.exec(part.trim());
    if (!m)
      throw new LocalrecError(
        'bad-input',
        `--slices: '${part}' is not name:shape (e.g. item_emb:100x16)`,
      );
    return { name: m[1]!, shape: m[2]!.split('x').map(Number) };
  });
}
