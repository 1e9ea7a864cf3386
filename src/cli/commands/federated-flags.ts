/**
 * The flags of the learning loop's server side, shared by `localrec serve --federated` and
 * `localrec fedsim`, with their defaults.
 */
import { LocalrecError } from '../../core/errors.ts';
import { AGGREGATION_METHODS, type AggregationMethod } from '../../server/aggregation/index.ts';
import { DEFAULT_LOCAL_TRAIN } from '../../../models/federated/local-update.ts';
import { num, type CliOption, type FlagValues } from '../command.ts';
import type { ServerSide } from '../federated/fedsim.ts';

/** Defaults of the server side (chosen on ML-100K validation with `localrec fedsim`). */
export const FEDERATED_DEFAULTS = {
  clipNorm: 10,
  expectedClients: 100,
  minReports: 20,
  roundSeconds: 3600,
  noiseMultiplier: 1,
  epsilonBudget: 8,
  delta: 1e-6,
  aggregation: 'dp-fedavg' as AggregationMethod,
  trim: 0.1,
  serverOptimizer: 'fedadam' as 'sgd' | 'fedadam',
  serverLearningRate: 2e-3,
  serverTau: 1e-7,
  serverWarmup: 0,
  serverHalfLife: 0,
};

const d = FEDERATED_DEFAULTS;

export const federatedFlags = {
  'clip-norm': { type: 'string', description: `L2 bound C of every delta (default ${d.clipNorm})` },
  'clients-per-round': {
    type: 'string',
    description: `n, the fixed denominator of the mean: the reports a round expects (default ${d.expectedClients})`,
  },
  'min-reports': {
    type: 'string',
    description: `a round with fewer reports at its deadline is not aggregated (default ${d.minReports})`,
  },
  'round-seconds': {
    type: 'string',
    description: `how long a round stays open (default ${d.roundSeconds})`,
  },
  'noise-multiplier': {
    type: 'string',
    description: `z: Gaussian noise of std z·C/n per coordinate, 0 = no DP (serve default ${d.noiseMultiplier})`,
  },
  'epsilon-budget': {
    type: 'string',
    description: `open no round that would bring ε past this, "none" for no budget (serve default ${d.epsilonBudget})`,
  },
  delta: { type: 'string', description: `δ of the (ε, δ) guarantee (default ${d.delta})` },
  aggregation: {
    type: 'string',
    description: `${AGGREGATION_METHODS.join(', ')} (default ${d.aggregation}; the robust ones need each update: fedsim only)`,
  },
  trim: {
    type: 'string',
    description: `trimmed mean: share cut from each end (default ${d.trim})`,
  },
  'norm-bound': {
    type: 'string',
    description: 'norm-bounded mean: the bound M (default: the clip norm)',
  },
  'server-optimizer': {
    type: 'string',
    description: `sgd or fedadam (default ${d.serverOptimizer})`,
  },
  'server-lr': {
    type: 'string',
    description: `server learning rate (default ${d.serverLearningRate}; FedAdam: 0.01)`,
  },
  'server-tau': {
    type: 'string',
    description: `FedAdam's τ, its adaptivity (default ${d.serverTau})`,
  },
  'server-warmup': {
    type: 'string',
    description: `rounds over which the server learning rate rises linearly to its value (default ${d.serverWarmup}: none)`,
  },
  'server-half-life': {
    type: 'string',
    description: `rounds in which the server learning rate halves, η·2^(−round/H) (default ${d.serverHalfLife}: constant)`,
  },
  'local-steps': {
    type: 'string',
    description: `optimizer steps each client runs (default ${DEFAULT_LOCAL_TRAIN.steps})`,
  },
  'local-lr': {
    type: 'string',
    description: `clients' learning rate (default ${DEFAULT_LOCAL_TRAIN.learningRate})`,
  },
  'local-optimizer': {
    type: 'string',
    description: `clients' optimizer, adam or sgd (default ${DEFAULT_LOCAL_TRAIN.optimizer})`,
  },
} satisfies Record<string, CliOption>;

/** The server side from the flags; `defaults` overrides {@link FEDERATED_DEFAULTS}. */
export function serverSideFromFlags(v: FlagValues, defaults: Partial<ServerSide> = {}): ServerSide {
  const base = { ...d, ...defaults };
  const aggregation = (v['aggregation'] ?? base.aggregation) as AggregationMethod;
  if (!AGGREGATION_METHODS.includes(aggregation))
    throw new LocalrecError(
      'bad-input',
      `--aggregation must be one of ${AGGREGATION_METHODS.join(', ')}, got '${aggregation}'`,
    );
  const serverOptimizer = (v['server-optimizer'] ?? base.serverOptimizer) as 'sgd' | 'fedadam';
  if (serverOptimizer !== 'sgd' && serverOptimizer !== 'fedadam')
    throw new LocalrecError(
      'bad-input',
      `--server-optimizer must be sgd or fedadam, got '${serverOptimizer}'`,
    );
  const budget = v['epsilon-budget'];
  const epsilonBudget =
    budget === 'none' ? null : (num(v, 'epsilon-budget', { min: 0 }) ?? base.epsilonBudget);
  return {
    clipNorm: num(v, 'clip-norm', { min: 0 }) ?? base.clipNorm,
    expectedClients: num(v, 'clients-per-round', { int: true, min: 1 }) ?? base.expectedClients,
    minReports: num(v, 'min-reports', { int: true, min: 1 }) ?? base.minReports,
    roundSeconds: num(v, 'round-seconds', { min: 1 }) ?? base.roundSeconds,
    noiseMultiplier: num(v, 'noise-multiplier', { min: 0 }) ?? base.noiseMultiplier,
    sampleRate: base.sampleRate ?? 1,
    epsilonBudget,
    delta: num(v, 'delta', { min: 0, max: 1 }) ?? base.delta,
    aggregation,
    trim: num(v, 'trim', { min: 0, max: 0.5 }) ?? base.trim,
    ...(v['norm-bound'] !== undefined && { normBound: num(v, 'norm-bound', { min: 0 })! }),
    serverOptimizer,
    serverLearningRate:
      num(v, 'server-lr', { min: 0 }) ??
      (serverOptimizer === 'sgd' && defaults.serverLearningRate === undefined
        ? 1
        : base.serverLearningRate),
    serverTau: num(v, 'server-tau', { min: 0 }) ?? base.serverTau,
    serverWarmup: num(v, 'server-warmup', { int: true, min: 0 }) ?? base.serverWarmup,
    serverHalfLife: num(v, 'server-half-life', { min: 0 }) ?? base.serverHalfLife,
    localTrain: base.localTrain ?? { ...DEFAULT_LOCAL_TRAIN },
  };
}
