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
import { SHARED_ML100K } from './bench-accuracy.ts';
import { federatedFlags, serverSideFromFlags } from './federated-flags.ts';

export const fedsimCommand: Command = {
  summary:
    'simulate federated learning with the real client and server code: ML-100K recovery, DP on a synthetic population, poisoning',
  usage:
    'localrec fedsim [--data <ml-100k folder>] [--out .localrec/fedsim] [--only ml100k|synthetic|poisoning] [flags]',
  options: {
    data: { type: 'string', description: `MovieLens 100K folder (default ${SHARED_ML100K})` },
    out: { type: 'string', default: '.localrec/fedsim', description: 'models, exports, plot' },
    only: { type: 'string', description: 'run one set-up: ml100k, synthetic or poisoning' },
    'start-share': {
      type: 'string',
      default: '0.3',
      description: 'share of ML-100K users the starting model is trained on',
    },
    rounds: { type: 'string', default: '400', description: 'most federated rounds per run' },
    'sample-rate': {
      type: 'string',
      default: '0.07',
      description: 'ML-100K: each user takes part in a round with this probability',
    },
    'eval-every': {
      type: 'string',
      default: '5',
      description: 'score the published model every N rounds',
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
  },
  async run(v) {
    await initTf();
    const data = typeof v['data'] === 'string' ? v['data'] : SHARED_ML100K;
    const out = resolve(String(v['out']));
    mkdirSync(out, { recursive: true });
    const only = v['only'];
    if (only !== undefined && !['ml100k', 'synthetic', 'poisoning'].includes(String(only)))
      throw new LocalrecError(
        'bad-input',
        `--only must be ml100k, synthetic or poisoning, got '${String(only)}'`,
      );
    const server: ServerSide = serverSideFromFlags(v, { noiseMultiplier: 0, epsilonBudget: null });
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
    if (!only || only === 'ml100k') {
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
    if (panels.length > 0) {
      const plot = join(out, 'fedsim.svg');
      writeFileSync(plot, lineChartSvg(panels));
      log(`plot: ${plot}`);
      result['plot'] = plot;
    }
    return result;
  },
};
