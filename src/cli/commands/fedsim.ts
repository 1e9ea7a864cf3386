import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LocalrecError } from '../../core/errors.ts';
import {
  DEFAULT_LOCAL_TRAIN,
  checkLocalTrainSpec,
} from '../../../models/federated/local-update.ts';
import { loadDataset } from '../data.ts';
import { initTf } from '../tf-node.ts';
import { num, type Command } from '../command.ts';
import { runMl100k, requireData, type ServerSide } from '../federated/fedsim.ts';
import { lineChartSvg } from '../federated/plot.ts';
import {
  runSynthetic,
  SYNTHETIC_DEFAULTS,
  SYNTHETIC_POPULATION,
  type SyntheticResult,
} from '../federated/synthetic.ts';
import { POISONING_DEFAULTS, runPoisoning, type PoisoningResult } from '../federated/poisoning.ts';
import { SHARED_ML100K } from './bench-accuracy.ts';
import { federatedFlags, serverSideFromFlags } from './federated-flags.ts';

/**
 * The ML-100K set-up's server learning-rate half-life, in rounds: chosen on validation
 * (2026-12-04, quiet machine, defaults otherwise): with a constant rate the validation NDCG@10
 * peaked at 0.1238 by round 480 and then wandered (0.1092 at the end, round 958); halving every
 * 400 rounds it held 0.120–0.122 from round 440 on (0.1204 at the end, round 1115).
 */
export const ML100K_HALF_LIFE = 400;

export const fedsimCommand: Command = {
  summary:
    'simulate federated learning with the real client and server code: ML-100K recovery, DP on a synthetic population, poisoning',
  usage:
    'localrec fedsim [--data <ml-100k folder>] [--out .localrec/fedsim] [--only ml100k,synthetic,poisoning] [flags]\n\n' +
    '(a) ml100k: a starting model trained on --start-share of the users, federated rounds over all of them, against central training on all.\n' +
    "(b) synthetic: --synthetic-users users from the project's generator that the server Poisson-samples itself (q = --synthetic-q), " +
    'a starting model trained centrally on --synthetic-public public users apart from them; run with DP (noise z·C/n, n = q·N) and again ' +
    'without, same seed; the rounds are cut to what keeps ε ≤ --synthetic-epsilon at --delta by the RDP accountant, before any runs.\n' +
    "(c) poisoning: on the synthetic population, --poisoning-share of each round's clients send max-norm deltas that push one item " +
    '(median popularity) up; plain mean and trimmed mean, and a run without attackers; no DP noise (the trimmed mean takes none).\n' +
    'Progress on stderr; the plot (fedsim.svg) and histories under --out; the JSON summary is the last line.',
  options: {
    data: { type: 'string', description: `MovieLens 100K folder (default ${SHARED_ML100K})` },
    out: { type: 'string', default: '.localrec/fedsim', description: 'models, exports, plot' },
    only: {
      type: 'string',
      description:
        'run only these set-ups: ml100k, synthetic, poisoning, or several comma-separated (default all three)',
    },
    'start-share': {
      type: 'string',
      default: '0.3',
      description: 'share of ML-100K users the starting model is trained on',
    },
    rounds: {
      type: 'string',
      default: '2000',
      description: 'ML-100K: most federated rounds (the time limit usually stops it first)',
    },
    'sample-rate': {
      type: 'string',
      default: '0.02',
      description:
        'ML-100K: each user takes part in a round with this probability (0.02: about 19 clients)',
    },
    'eval-every': {
      type: 'string',
      default: '20',
      description: 'ML-100K: score the published model every N rounds',
    },
    'max-seconds': {
      type: 'string',
      default: '1500',
      description: 'ML-100K: start no round after this many seconds of federated rounds',
    },
    'train-seconds': {
      type: 'string',
      default: '1500',
      description: 'time limit of each central training (start and central models)',
    },
    seed: { type: 'string', default: '1', description: 'users, sampling and rounding' },
    ...federatedFlags,
    'server-half-life': {
      type: 'string',
      description: `ML-100K: rounds in which the server learning rate halves (default ${ML100K_HALF_LIFE}); the synthetic runs keep a constant rate unless given`,
    },
    'synthetic-users': {
      type: 'string',
      default: String(SYNTHETIC_POPULATION.users),
      description: 'synthetic: N, the federated users the server samples from',
    },
    'synthetic-public': {
      type: 'string',
      default: String(SYNTHETIC_POPULATION.publicUsers),
      description:
        'synthetic: public users the starting model is trained on centrally (apart from the N)',
    },
    'synthetic-items': {
      type: 'string',
      default: String(SYNTHETIC_POPULATION.items),
      description: 'synthetic: items in the catalog',
    },
    'synthetic-train-seconds': {
      type: 'string',
      default: String(SYNTHETIC_POPULATION.trainSeconds),
      description: 'synthetic: time limit of the starting model',
    },
    'synthetic-eval-users': {
      type: 'string',
      default: String(SYNTHETIC_POPULATION.evalUsers),
      description:
        'synthetic and poisoning: federated users every version is scored on (a fixed random sample; 0 = all)',
    },
    'synthetic-q': {
      type: 'string',
      default: String(SYNTHETIC_DEFAULTS.sampleRate),
      description: 'synthetic: q, the probability the server samples each user in a round',
    },
    'synthetic-noise': {
      type: 'string',
      default: String(SYNTHETIC_DEFAULTS.noiseMultiplier),
      description: 'synthetic: z of the private run (noise std z·C/n, n = q·N)',
    },
    'synthetic-clip': {
      type: 'string',
      description:
        "synthetic and poisoning: clip norm C (default: the median norm of the public users' local changes)",
    },
    'synthetic-rounds': {
      type: 'string',
      default: String(SYNTHETIC_DEFAULTS.rounds),
      description:
        'synthetic: rounds, fewer where the accountant says one more would pass --synthetic-epsilon',
    },
    'synthetic-epsilon': {
      type: 'string',
      default: String(SYNTHETIC_DEFAULTS.targetEpsilon),
      description: 'synthetic: the ε budget (at --delta) of the whole private run',
    },
    'synthetic-server-lr': {
      type: 'string',
      default: String(SYNTHETIC_DEFAULTS.serverLearningRate),
      description: 'synthetic and poisoning: the server learning rate (FedAdam)',
    },
    'synthetic-eval-every': {
      type: 'string',
      default: String(SYNTHETIC_DEFAULTS.evalEvery),
      description: 'synthetic: score the published model every N rounds',
    },
    'synthetic-max-seconds': {
      type: 'string',
      default: String(SYNTHETIC_DEFAULTS.maxSeconds),
      description:
        'synthetic: start no round of the private run after this many seconds (the non-private run then runs as many)',
    },
    'poisoning-q': {
      type: 'string',
      default: String(POISONING_DEFAULTS.sampleRate),
      description: 'poisoning: q, on the synthetic population',
    },
    'poisoning-rounds': {
      type: 'string',
      default: String(POISONING_DEFAULTS.rounds),
      description: 'poisoning: rounds of each run',
    },
    'poisoning-share': {
      type: 'string',
      default: String(POISONING_DEFAULTS.attackerShare),
      description: "poisoning: share of each round's clients that attack",
    },
    'poisoning-trim': {
      type: 'string',
      default: String(POISONING_DEFAULTS.trim),
      description:
        "poisoning: the trimmed mean's β (cut from each end; above the attackers' share)",
    },
    'poisoning-eval-every': {
      type: 'string',
      default: String(POISONING_DEFAULTS.evalEvery),
      description: 'poisoning: score the model and the target every N rounds',
    },
  },
  async run(v) {
    await initTf();
    const data = typeof v['data'] === 'string' ? v['data'] : SHARED_ML100K;
    const out = resolve(String(v['out']));
    mkdirSync(out, { recursive: true });
    const parts = ['ml100k', 'synthetic', 'poisoning'];
    const only = v['only'] === undefined ? undefined : String(v['only']).split(',');
    if (only !== undefined && (only.length === 0 || only.some((p) => !parts.includes(p))))
      throw new LocalrecError(
        'bad-input',
        `--only takes ml100k, synthetic or poisoning (or several, comma-separated), got '${String(v['only'])}'`,
      );
    const runs = (part: string) => only === undefined || only.includes(part);
    const server: ServerSide = serverSideFromFlags(v, {
      noiseMultiplier: 0,
      epsilonBudget: null,
      serverHalfLife: ML100K_HALF_LIFE,
    });
    const localTrain = checkLocalTrainSpec({
      steps: num(v, 'local-steps', { int: true, min: 1 }) ?? DEFAULT_LOCAL_TRAIN.steps,
      learningRate: num(v, 'local-lr', { min: 0 }) ?? DEFAULT_LOCAL_TRAIN.learningRate,
      optimizer:
        (v['local-optimizer'] as 'sgd' | 'adam' | undefined) ?? DEFAULT_LOCAL_TRAIN.optimizer,
    });
    server.localTrain = localTrain;
    const log = (l: string) => process.stderr.write(`${l}\n`);
    const common = {
      out,
      server,
      localTrain,
      rounds: num(v, 'rounds', { int: true, min: 1 })!,
      evalEvery: num(v, 'eval-every', { int: true, min: 1 })!,
      seed: num(v, 'seed', { int: true, min: 0 })!,
      log,
    };
    const result: Record<string, unknown> = {};
    const panels: Parameters<typeof lineChartSvg>[0] = [];
    if (runs('ml100k')) {
      requireData(data, 'u.data');
      const ds = { ...loadDataset(data), name: 'ml-100k' };
      const r = await runMl100k(ds, data, {
        ...common,
        sampleRate: num(v, 'sample-rate', { min: 0, max: 1 })!,
        maxSeconds: num(v, 'max-seconds', { min: 0 })!,
        startShare: num(v, 'start-share', { min: 0, max: 1 })!,
        trainSeconds: num(v, 'train-seconds', { min: 0 })!,
      });
      result['ml100k'] = {
        start: r.start,
        federated: r.federated,
        central: r.central,
        recovered: r.recovered,
        rounds: r.rounds,
        seconds: r.seconds,
        clientsPerRound: r.clientsPerRound,
        valid: r.valid,
      };
      panels.push({
        title: 'ML-100K: federated from a 30%-of-users model',
        series: [
          { label: 'federated, no DP', points: r.history.map((h) => ({ x: h.round, y: h.test })) },
        ],
        references: [
          { label: 'start (30% of users, central)', y: r.start },
          { label: 'central, all users', y: r.central },
        ],
      });
      writeFileSync(join(out, 'ml100k-history.json'), JSON.stringify(r.history, null, 2));
    }
    const population = {
      ...SYNTHETIC_POPULATION,
      users: num(v, 'synthetic-users', { int: true, min: 1 })!,
      publicUsers: num(v, 'synthetic-public', { int: true, min: 1 })!,
      items: num(v, 'synthetic-items', { int: true, min: 2 })!,
      trainSeconds: num(v, 'synthetic-train-seconds', { min: 0 })!,
      evalUsers: num(v, 'synthetic-eval-users', { int: true, min: 0 })!,
    };
    const synthServer: ServerSide = {
      ...server,
      serverLearningRate: num(v, 'synthetic-server-lr', { min: 0 })!,
      serverHalfLife: v['server-half-life'] === undefined ? 0 : server.serverHalfLife,
    };
    const clip = num(v, 'synthetic-clip', { min: 0 });
    if (runs('synthetic')) {
      const r: SyntheticResult = await runSynthetic({
        ...common,
        server: synthServer,
        population,
        sampleRate: num(v, 'synthetic-q', { min: 0, max: 1 })!,
        noiseMultiplier: num(v, 'synthetic-noise', { min: 0 })!,
        ...(clip !== undefined && { clipNorm: clip }),
        rounds: num(v, 'synthetic-rounds', { int: true, min: 1 })!,
        targetEpsilon: num(v, 'synthetic-epsilon', { min: 0 })!,
        evalEvery: num(v, 'synthetic-eval-every', { int: true, min: 1 })!,
        maxSeconds: num(v, 'synthetic-max-seconds', { min: 0 })!,
      });
      const { history, ...rest } = r;
      result['synthetic'] = rest;
      panels.push({
        title: `Synthetic, ${r.users.toLocaleString('en')} users: with and without DP`,
        series: [
          {
            label: `DP: ε ${r.epsilon === null ? '∞' : r.epsilon.toFixed(2)}, δ ${r.delta.toExponential(0)} (q ${r.sampleRate}, z ${r.noiseMultiplier})`,
            points: history.private.map((h) => ({ x: h.round, y: h.test })),
          },
          {
            label: 'no DP (same seed)',
            points: history.nonPrivate.map((h) => ({ x: h.round, y: h.test })),
          },
        ],
        references: [{ label: `start (${r.publicUsers} public users, central)`, y: r.ndcgStart }],
      });
      writeFileSync(join(out, 'synthetic-history.json'), JSON.stringify(history, null, 2));
    }
    if (runs('poisoning')) {
      const r: PoisoningResult = await runPoisoning({
        ...common,
        server: synthServer,
        population,
        sampleRate: num(v, 'poisoning-q', { min: 0, max: 1 })!,
        rounds: num(v, 'poisoning-rounds', { int: true, min: 1 })!,
        attackerShare: num(v, 'poisoning-share', { min: 0, max: 0.99 })!,
        trim: num(v, 'poisoning-trim', { min: 0, max: 0.49 })!,
        ...(clip !== undefined && { clipNorm: clip }),
        evalEvery: num(v, 'poisoning-eval-every', { int: true, min: 1 })!,
        maxSeconds: 0,
      });
      const { runs, ...rest } = r;
      result['poisoning'] = rest;
      const label = (x: (typeof runs)[number]) =>
        `${x.attacked ? `${Math.round(r.attackerShare * 100)}% attackers` : 'no attackers'}, ${x.aggregation === 'dp-fedavg' ? 'plain mean' : `trimmed mean β ${r.trim}`}`;
      panels.push({
        title: `Poisoning: item ${r.target.id} in the top 10`,
        yLabel: 'share of users with it in top 10',
        series: runs.map((x) => ({
          label: label(x),
          points: x.history.map((h) => ({ x: h.round, y: h.top10Share })),
        })),
        references: [],
      });
      writeFileSync(join(out, 'poisoning-history.json'), JSON.stringify(runs, null, 2));
    }
    if (panels.length > 0) {
      const plot = join(out, 'fedsim.svg');
      writeFileSync(plot, lineChartSvg(panels));
      log(`plot: ${plot}`);
      result['plot'] = plot;
    }
    return result;
  },
};
