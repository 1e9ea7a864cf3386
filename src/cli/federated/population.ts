/**
 * Who is who in a federated simulation: which users the starting model was trained on
 * centrally, and which take part in each round. Deterministic given the seed.
 */
import { LocalrecError } from '../../core/errors.ts';
import { Rng } from '../../core/random.ts';

/** `share` of `users` user indices, drawn without replacement: the starting model's users. */
export function startUsers(users: number, share: number, seed: number): Set<number> {
  if (!(share > 0 && share < 1))
    throw new LocalrecError('bad-input', `--start-share must be in (0, 1), got ${share}`);
  const order = Array.from({ length: users }, (_, i) => i);
  new Rng(seed).shuffle(order);
  return new Set(order.slice(0, Math.round(share * users)));
}

/**
 * The clients of one round: every user independently with probability q (Poisson sampling, the
 * sampling the privacy accountant's amplification assumes), from an Rng per (seed, round).
 */
export function poissonSample(users: number, q: number, seed: number, round: number): number[] {
  if (!(q > 0 && q <= 1))
    throw new LocalrecError('bad-input', `sampling rate must be in (0, 1], got ${q}`);
  const rng = new Rng((seed * 1_000_003 + round * 7919) >>> 0);
  const out: number[] = [];
  for (let u = 0; u < users; u++) if (q === 1 || rng.next() < q) out.push(u);
  return out;
}

/**
 * The attackers of one round (the poisoning run): `share` of the round's clients, rounded to the
 * nearest count, drawn without replacement from an Rng per (seed, round) apart from the
 * sampling's. Returns positions in `clients`.
 */
export function roundAttackers(
  clients: number,
  share: number,
  seed: number,
  round: number,
): Set<number> {
  if (!(share >= 0 && share < 1))
    throw new LocalrecError('bad-input', `attacker share must be in [0, 1), got ${share}`);
  const order = Array.from({ length: clients }, (_, i) => i);
  new Rng((seed * 1_000_033 + round * 104_729 + 17) >>> 0).shuffle(order);
  return new Set(order.slice(0, Math.round(share * clients)));
}
