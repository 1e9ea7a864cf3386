/**
 * Aggregation of a closed federated round: an {@link Aggregator} turns the round's contributions
 * into one update Δ (DP-FedAvg over the sum by default; norm-bounded or trimmed mean over the
 * individual updates), and a {@link ServerOptimizer} turns Δ into the next weights (a server
 * learning rate, or FedAdam with state that survives restarts). Pure TypeScript over float64
 * vectors in the round's slice order; no store, no I/O.
 *
 * @packageDocumentation
 */
export {
  toSum,
  type AggregateResult,
  type AggregationReport,
  type Aggregator,
  type RoundLayout,
  type SumAggregator,
  type SumContributions,
  type UpdateContributions,
  type UpdatesAggregator,
} from './aggregator.ts';
export {
  AGGREGATION_METHODS,
  createAggregator,
  type AggregationMethod,
  type AggregatorOptions,
} from './factory.ts';
export type { DpFedAvgOptions } from './dp-fedavg.ts';
export type { NormBoundedMeanOptions, TrimmedMeanOptions } from './robust.ts';
export type { Uniform } from './noise.ts';
export {
  createServerOptimizer,
  type FedAdamOptions,
  type ServerOptimizer,
  type ServerOptimizerOptions,
  type SgdOptions,
} from './server-optimizer.ts';
export type { ServerOptimizerKind } from './optimizer-state.ts';
