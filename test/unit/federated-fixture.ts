/**
 * A real client's delta for the federated tests: a short random history over the base version's
 * items, the trainer's local step (models/federated/local-update.ts, the default spec) and the
 * client's privatization (clip, stochastic int8 rounding), encoded as the outbox posts it.
 */
import { encodeDelta } from '../../src/core/delta.ts';
import { privatizeDelta } from '../../src/core/privacy/privatize.ts';
import type { Rng } from '../../src/core/random.ts';
import type { BaseVersion } from '../../src/cli/federated/next-version.ts';
import { DEFAULT_LOCAL_TRAIN, localUpdate } from '../../models/federated/local-update.ts';

/** The round fields a client reads. */
export interface ClientRound {
  id: number;
  baseModelVersion: string;
  clipNorm: number;
}

/**
 * One client's encoded delta for `round` from `base`: 8 history items and the rounding drawn
 * from `rng` (in that order), the local step seeded with `seed`.
 */
export async function clientDelta(
  base: BaseVersion,
  round: ClientRound,
  rng: Rng,
  seed: number,
): Promise<{ bytes: Uint8Array; updateId: string }> {
  const seq = Int32Array.from({ length: 8 }, () => 1 + rng.int(base.checkpoint.config.numItems));
  const up = await localUpdate(
    base.checkpoint.config,
    base.checkpoint.weights,
    base.set,
    seq,
    DEFAULT_LOCAL_TRAIN,
    seed,
  );
  const { delta } = privatizeDelta({
    roundId: round.id,
    baseVersion: round.baseModelVersion,
    clipNorm: round.clipNorm,
    slices: up!.slices,
    random: () => rng.next(),
  });
  return { bytes: encodeDelta(delta), updateId: delta.updateId };
}
