/**
 * `localrec fedsim`'s set-ups. (a) ML-100K: a starting model trained centrally on a share of
 * the users, then federated rounds over every user's training history, against the model
 * trained centrally on all users; (b) a synthetic population from the project's generator,
 * large enough for DP at a useful ε, run with and without noise; (c) poisoning: a share of the
 * clients send max-norm deltas crafted to push one item, aggregated with and without the
 * robust rule. Every model is scored as it ships (int8 export, ONNX Runtime).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalrecError } from '../../core/errors.ts';
import type { Dataset, SplitData } from '../../core/types.ts';
import { newSigningKey } from '../../server/keys.ts';
import { publishExport } from '../../server/publish.ts';
import { openPublicationStore } from '../../server/store/registry.ts';
import type { LocalTrainSpec } from '../../../models/federated/local-update.ts';
import { splitDataset } from '../data.ts';
import { exportModelDir } from '../export.ts';
import { runTrain, CHECKPOINT_FILE, type TrainRunOptions } from '../train.ts';
import type { CoordinatorOptions } from './coordinator.ts';
import { startUsers } from './population.ts';
import { scoreExport, simulate, type SimulationResult } from './simulate.ts';

/** The server side of a simulated run (what `serve --federated` takes as flags). */
export type ServerSide = Omit<CoordinatorOptions, 'store' | 'rounds' | 'key' | 'workDir' | 'log'>;

/** What one set-up takes. */
export interface SetupOptions {
  out: string;
  server: ServerSide;
  localTrain: LocalTrainSpec;
  rounds: number;
  sampleRate: number;
  evalEvery: number;
  maxSeconds: number;
  seed: number;
  log: (line: string) => void;
}

/** Trains `dir` unless it holds a model trained with the same options; returns its export. */
export async function trainedExport(
  ds: Dataset,
  dir: string,
  opts: Omit<TrainRunOptions, 'out' | 'dataSource' | 'quiet'> & { dataSource: string },
  tag: Record<string, unknown>,
  log: (line: string) => void,
): Promise<string> {
  const tagFile = join(dir, 'fedsim-setup.json');
  const want = JSON.stringify(tag);
  const have = existsSync(tagFile) ? readFileSync(tagFile, 'utf8') : '';
  if (!existsSync(join(dir, CHECKPOINT_FILE)) || have !== want) {
    log(`training ${dir} (${want})…`);
    mkdirSync(dir, { recursive: true });
    await runTrain(ds, { ...opts, out: dir, quiet: true });
    writeFileSync(tagFile, want);
  } else log(`reusing ${dir}`);
  const exportDir = join(dir, 'export');
  exportModelDir({ modelDir: dir, out: exportDir, quantization: 'int8' });
  return exportDir;
}

/** Publishes a starting export into a fresh in-memory store with a fresh key, then simulates. */
export async function federate(
  startExport: string,
  split: SplitData,
  o: SetupOptions,
  name: string,
  overrides: Partial<ServerSide> = {},
  extra: Partial<Parameters<typeof simulate>[0]> = {},
): Promise<SimulationResult> {
  const store = openPublicationStore('memory:');
  const key = await newSigningKey();
  await publishExport(startExport, store, key);
  return simulate({
    split,
    store,
    coordinator: {
      ...o.server,
      // The simulation's server samples who takes part: q is its sampling rate, and the mean's
      // fixed denominator the clients a round expects.
      sampleRate: o.sampleRate,
      expectedClients: Math.max(1, Math.round(o.sampleRate * split.users.length)),
      minReports: 1,
      localTrain: o.localTrain,
      ...overrides,
      key,
      workDir: join(o.out, name, 'work'),
      log: o.log,
    },
    rounds: o.rounds,
    localTrain: o.localTrain,
    evalEvery: o.evalEvery,
    maxSeconds: o.maxSeconds,
    seed: o.seed,
    log: (l) => o.log(`[${name}] ${l}`),
    ...extra,
  });
}

/** The ML-100K set-up's result (the `ml100k` member of fedsim's JSON). */
export interface Ml100kResult {
  start: number;
  federated: number;
  central: number;
  recovered: number;
  rounds: number;
  seconds: number;
  valid: { start: number; federated: number; central: number };
  clientsPerRound: number;
  history: SimulationResult['history'];
}

/** (a): 30% start, federated rounds over all users, central reference. */
export async function runMl100k(
  ds: Dataset,
  dataSource: string,
  o: SetupOptions & { startShare: number; trainSeconds: number },
): Promise<Ml100kResult> {
  const split = splitDataset(ds);
  const keep = startUsers(split.users.length, o.startShare, o.seed);
  const base = { model: {}, train: { maxSeconds: o.trainSeconds }, dataSource };
  const startExport = await trainedExport(
    ds,
    join(o.out, 'ml100k', 'start'),
    { ...base, trainUsers: (_u, i) => keep.has(i) },
    { share: o.startShare, seed: o.seed, maxSeconds: o.trainSeconds },
    o.log,
  );
  const centralExport = await trainedExport(
    ds,
    join(o.out, 'ml100k', 'central'),
    base,
    { share: 1, maxSeconds: o.trainSeconds },
    o.log,
  );
  const central = await scoreExport(centralExport, split);
  o.log(`central (all users): valid ${central.valid.toFixed(4)}, test ${central.test.toFixed(4)}`);
  const res = await federate(startExport, split, o, 'ml100k');
  const start = res.history[0]!;
  const last = res.history.at(-1)!;
  return {
    start: start.test,
    federated: last.test,
    central: central.test,
    recovered: (last.test - start.test) / (central.test - start.test),
    rounds: res.rounds,
    seconds: res.seconds,
    valid: { start: start.valid, federated: last.valid, central: central.valid },
    clientsPerRound: res.clientsPerRound,
    history: res.history,
  };
}

/** Guards a set-up's input. */
export function requireData(path: string, file: string): void {
  if (!existsSync(join(path, file)))
    throw new LocalrecError(
      'not-found',
      `no ${file} in ${path}: pass --data <MovieLens 100K folder>`,
    );
}
