import { aggregationError, type Aggregator } from './aggregator.ts';
import { dpFedAvg, type DpFedAvgOptions } from './dp-fedavg.ts';
import {
  normBoundedMean,
  trimmedMean,
  type NormBoundedMeanOptions,
  type TrimmedMeanOptions,
} from './robust.ts';

/** The aggregation rules, by name (for `--help` and error messages). */
export const AGGREGATION_METHODS = ['dp-fedavg', 'norm-bounded-mean', 'trimmed-mean'] as const;

/** One of {@link AGGREGATION_METHODS}. */
export type AggregationMethod = (typeof AGGREGATION_METHODS)[number];

/** What {@link createAggregator} takes: a method and that method's options. */
export type AggregatorOptions =
  | ({ method: 'dp-fedavg' } & DpFedAvgOptions)
  | ({ method: 'norm-bounded-mean' } & NormBoundedMeanOptions)
  | ({ method: 'trimmed-mean' } & TrimmedMeanOptions);

/**
 * An aggregator for a closed round. `dp-fedavg` (the default rule) needs the round's sum only;
 * `norm-bounded-mean` and `trimmed-mean` need the individual updates — read `needs` to know
 * which to hand it. Options are checked here, before any round is read.
 *
 * ```ts
 * import { createAggregator, openRoundStore } from 'localrec/server';
 *
 * const store = openRoundStore('sqlite:/srv/localrec/rounds.db');
 * const round = (await store.getRound(7))!;
 * const aggregator = createAggregator({ method: 'dp-fedavg', expectedClients: 1000, noiseMultiplier: 1 });
 * const sums = await store.sums(round.id);
 * if (aggregator.needs === 'sum' && sums) {
 *   const { delta, report } = aggregator.aggregate({ round, sum: sums.sums, count: sums.reports });
 *   console.log(report.noiseStd, delta.length);
 * }
 * ```
 *
 * @throws LocalrecError `bad-input` for an unknown method or a bad option (n < 1, z < 0, β
 *   outside [0, 0.5), M ≤ 0, noise asked of the trimmed mean).
 */
export function createAggregator(options: AggregatorOptions): Aggregator {
  switch (options.method) {
    case 'dp-fedavg':
      return dpFedAvg(options);
    case 'norm-bounded-mean':
      return normBoundedMean(options);
    case 'trimmed-mean':
      return trimmedMean(options);
    default: {
      const method: unknown = (options as { method?: unknown }).method;
      throw aggregationError(
        `unknown method '${String(method)}'; choose one of ${AGGREGATION_METHODS.join(', ')}`,
      );
    }
  }
}
