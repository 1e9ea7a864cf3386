/**
 * The privacy ledger of the federated loop: what the manifest's `federated.privacy` records
 * (every noised round's sampling rate q and noise multiplier z) and the ε it adds up to at δ
 * through the RDP accountant (src/core/privacy).
 */
import { epsilonFromRdp } from '../../core/privacy/accountant.ts';
import { composeRdp, DEFAULT_RDP_ORDERS, rdpSampledGaussian } from '../../core/privacy/rdp.ts';

/** Rounds of one (q, z): the ledger's unit. */
export interface LedgerEntry {
  sampleRate: number;
  noiseMultiplier: number;
  rounds: number;
}

/** What the manifest's `federated.privacy` holds. */
export interface PrivacyLedger {
  accounting: 'rdp-subsampled-gaussian';
  delta: number;
  /** ε spent so far at `delta` (∞ when a round ran without noise: no guarantee). */
  epsilon: number | null;
  entries: LedgerEntry[];
}

/**
 * ε of a ledger at δ: the RDP of every entry's rounds (Poisson-subsampled Gaussian, src/core/
 * privacy) added up, then converted. ∞ when a round ran without noise; 0 for no rounds.
 */
export function ledgerEpsilon(entries: readonly LedgerEntry[], delta: number): number {
  if (entries.length === 0) return 0;
  if (entries.some((e) => e.noiseMultiplier === 0)) return Infinity;
  const total = new Float64Array(DEFAULT_RDP_ORDERS.length);
  for (const e of entries) {
    const one = rdpSampledGaussian({ q: e.sampleRate, noiseMultiplier: e.noiseMultiplier });
    composeRdp(one, e.rounds).forEach((x, i) => (total[i]! += x));
  }
  return epsilonFromRdp(total, DEFAULT_RDP_ORDERS, delta).epsilon;
}

/** The ledger with one more round of (q, z): the last entry counted up, or a new one. */
export function addRound(entries: readonly LedgerEntry[], q: number, z: number): LedgerEntry[] {
  const out = entries.map((e) => ({ ...e }));
  const last = out.at(-1);
  if (last && last.sampleRate === q && last.noiseMultiplier === z) last.rounds++;
  else out.push({ sampleRate: q, noiseMultiplier: z, rounds: 1 });
  return out;
}
