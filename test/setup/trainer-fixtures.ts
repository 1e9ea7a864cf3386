/**
 * globalSetup of the `browser` vitest project for the trainer tests (runs in Node before the
 * browser starts): a small SASRec ensemble with random weights as a trainable checkpoint — the
 * blob `localrec export` ships as `models.sasrec.trainable` — a visitor history over its items
 * (with ids the model does not know mixed in), and the change Node's `localUpdate`
 * (models/federated/local-update.ts, tfjs on the WASM backend) makes from them with a fixed
 * seed: the reference the browser's trainer worker must reproduce on WASM and WebGPU.
 */
import * as tf from '@tensorflow/tfjs';
import type { TestProject } from 'vitest/node';
import { initTf } from '../../src/cli/tf-node.ts';
import { encodeCheckpoint } from '../../models/checkpoint.ts';
import { DEFAULT_LOCAL_TRAIN, localUpdate } from '../../models/federated/local-update.ts';
import {
  defineParameterSet,
  parameterSetToJson,
  roundSlices,
} from '../../models/federated/parameter-set.ts';
import type { SasrecConfig } from '../../models/sasrec/config.ts';
import { initWeights, memberConfig, mergeMembers } from '../../models/sasrec/model.ts';
import { weightsToArrays } from '../../models/tf-ops.ts';

/** What the trainer tests receive. */
export interface TrainerFixture {
  /** The trainable checkpoint, base64. */
  trainable: string;
  config: SasrecConfig;
  /** The visitor's history as item ids, oldest first (`x-…` ids are unknown to the model). */
  history: string[];
  /** How many of them the model knows. */
  known: number;
  seed: number;
  /** The round's slices (the checkpoint's parameter set). */
  slices: { name: string; shape: number[] }[];
  /** Node's change, every slice concatenated, and each slice's length. */
  reference: { values: number[]; lengths: number[]; positions: number; losses: number[][] };
  /** max |value| of the reference change. */
  referenceMax: number;
}

declare module 'vitest' {
  export interface ProvidedContext {
    trainerFixture: TrainerFixture;
  }
}

export default async function setup(project: TestProject): Promise<void> {
  const t0 = performance.now();
  await initTf();
  const config: SasrecConfig = {
    numItems: 80,
    maxLen: 20,
    dim: 16,
    blocks: 2,
    heads: 1,
    ffnDim: 16,
    dropout: 0.2,
    layerNormEps: 1e-6,
    cosineTemperature: 0.07,
    members: 2,
  };
  const one = memberConfig(config);
  const tensors = mergeMembers([initWeights(one, 11), initWeights(one, 12)]);
  const weights = weightsToArrays(tensors);
  tf.dispose(Object.values(tensors));
  const itemIds = ['', ...Array.from({ length: config.numItems }, (_, i) => `item-${i + 1}`)];
  const set = defineParameterSet(config);
  const trainable = encodeCheckpoint({
    model: 'sasrec',
    config,
    meta: { itemIds, federated: parameterSetToJson(set) },
    weights,
  });
  // 30 known items (longer than maxLen + 1, so the trainer's cut is exercised) and 3 unknown.
  const known = Array.from({ length: 30 }, (_, i) => 1 + ((i * 37 + 5) % config.numItems));
  const history = known.map((i) => `item-${i}`);
  history.splice(4, 0, 'x-new-1');
  history.splice(12, 0, 'x-new-2');
  history.push('x-new-3');
  const seed = 1234;
  const up = await localUpdate(
    config,
    weights,
    set,
    Int32Array.from(known),
    DEFAULT_LOCAL_TRAIN,
    seed,
  );
  if (!up) throw new Error('trainer-fixtures: the reference run had nothing to train on');
  const values = up.slices.flatMap((s) => Array.from(s));
  project.provide('trainerFixture', {
    trainable: Buffer.from(trainable).toString('base64'),
    config,
    history,
    known: known.length,
    seed,
    slices: roundSlices(set),
    reference: {
      values,
      lengths: up.slices.map((s) => s.length),
      positions: up.positions,
      losses: up.losses,
    },
    referenceMax: values.reduce((a, x) => Math.max(a, Math.abs(x)), 0),
  });
  console.log(
    `[trainer-fixtures] ${values.length} parameters, ${up.positions} positions, reference max |Δ| ${values
      .reduce((a, x) => Math.max(a, Math.abs(x)), 0)
      .toExponential(3)}, setup ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
}
