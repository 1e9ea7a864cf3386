import type { RetrievalMetrics } from '../../core/metrics.ts';
import type { ColdStageResult } from '../../../models/two-tower/cold.ts';

/** Five decimals: what the JSON summary keeps of a rate or a time. */
export const r5 = (x: number): number => Math.round(x * 1e5) / 1e5;

/** Retrieval metrics as the summary prints them. */
export const roundRetrieval = (m: RetrievalMetrics) => ({
  recall100: r5(m.recall100),
  ndcg10: r5(m.ndcg10),
  hr10: r5(m.hr10),
  users: m.users,
});

/** A cold-item stage as the summary prints it. */
export const roundCold = (m: ColdStageResult) => ({
  users: m.users,
  model: r5(m.model),
  random: r5(m.random),
  popularity: r5(m.popularity),
  popularityOracle: r5(m.popularityOracle),
});
