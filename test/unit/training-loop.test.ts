/**
 * The rules of the one training loop (models/training/loop.ts), each checked on a fake
 * trainer whose every number is scripted: one scalar weight that a step sets to
 * 10·epoch + step (so a weight says which epoch it came from), scripted validation scores,
 * and a fake clock that a step moves by `stepMs`. The real tfjs parts are the loop's own: the
 * scalar variable, the optimizer whose learning rate the loop lowers, the moving average.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  runTrainingLoop,
  type LoopEpochReport,
  type LoopHooks,
  type LoopSchedule,
  type TrainingLoop,
  type Weights,
  type WithRate,
} from '../../models/training/loop.ts';

/** What the fake validation returns: the epoch it ran after, its score and the weight it saw. */
interface Valid {
  epoch: number;
  score: number;
  saw: number;
}

type Report = WithRate<LoopEpochReport<Valid>, 'itemsPerSec'>;

/** A schedule that never stops early, decays nothing and evaluates every epoch. */
const SCHEDULE: LoopSchedule = {
  epochs: 6,
  learningRate: 0.1,
  patience: 100,
  minEpochs: 0,
  evalEvery: 1,
  lrPatience: 0,
  lrDecay: 0.5,
  emaDecay: 0,
  maxSeconds: 0,
};

interface FakeOptions {
  schedule?: Partial<LoopSchedule>;
  /** Validation score after epoch e at index e − 1; absent: there is no validation data. */
  scores?: number[];
  /** Batches per epoch (default 2). */
  steps?: number;
  /** Fake milliseconds a step takes (default 1000). */
  stepMs?: number;
  /** Fake milliseconds an evaluation takes (default 0). */
  evalMs?: number;
  view?: TrainingLoop<number, Valid, 'itemsPerSec'>['view'];
}

/** The weight a step leaves behind: 10·epoch + step (1-based), exact in float32. */
const weightAt = (epoch: number, step: number): number => 10 * epoch + step;

const valueOf = (w: Weights): number => w['w']!.dataSync()[0]!;

/**
 * A fake trainer: the batches of an epoch are the step numbers 1..steps, a step sets the
 * weight to {@link weightAt}, its loss is that same number and it trains `step` items.
 */
function fakeTrainer(o: FakeOptions = {}) {
  let clock = 0;
  let epoch = 0;
  const steps = o.steps ?? 2;
  // tidy frees the initial scalar and keeps the variable (tidy never disposes variables).
  const vars = { w: tf.tidy(() => tf.variable(tf.scalar(0))) };
  /** Per epoch, the learning rate each step was given; the epochs evaluated; the weight each step started from. */
  const log = { lrs: [] as number[][], evaluated: [] as number[], stepStart: [] as number[] };
  const loop: TrainingLoop<number, Valid, 'itemsPerSec'> = {
    schedule: { ...SCHEDULE, ...o.schedule },
    vars,
    hasValid: o.scores !== undefined,
    rate: 'itemsPerSec',
    batches: () => {
      epoch++;
      log.lrs.push([]);
      return Array.from({ length: steps }, (_, k) => k + 1);
    },
    step: async (k, optimizer) => {
      log.stepStart.push(valueOf(vars));
      // AdamOptimizer keeps its rate in a protected field; the loop sets it the same way.
      log.lrs.at(-1)!.push((optimizer as unknown as { learningRate: number }).learningRate);
      const t = tf.scalar(weightAt(epoch, k));
      vars.w.assign(t);
      t.dispose();
      clock += o.stepMs ?? 1000;
      return { loss: weightAt(epoch, k), count: k };
    },
    evaluate: async (w) => {
      clock += o.evalMs ?? 0;
      log.evaluated.push(epoch);
      return { epoch, score: o.scores![epoch - 1]!, saw: valueOf(w) };
    },
    score: (m) => m.score,
    now: () => clock,
    ...(o.view && { view: o.view }),
  };
  return { loop, log, vars };
}

/** Runs a fake trainer; also returns what the hooks saw. */
async function run(o: FakeOptions = {}, hooks: LoopHooks<Valid, 'itemsPerSec'> = {}) {
  const { loop, log, vars } = fakeTrainer(o);
  const epochs: { epoch: number; live: number }[] = [];
  const r = await runTrainingLoop(loop, {
    ...hooks,
    onEpoch: async (report, live) => {
      epochs.push({ epoch: report.epoch, live: valueOf(live) });
      await hooks.onEpoch?.(report, live);
    },
  });
  const weight = valueOf(r.weights);
  tf.dispose(Object.values(r.weights));
  return { ...r, weight, log, vars, epochs };
}

const bests = (history: Report[]) => history.filter((h) => h.best).map((h) => h.epoch);
const decays = (history: Report[]) =>
  history.flatMap((h) => (h.learningRate === undefined ? [] : [[h.epoch, h.learningRate]]));

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('runTrainingLoop', () => {
  it('evaluates every evalEvery epochs and after the last one; onEpoch sees every epoch', async () => {
    const r = await run({
      schedule: { epochs: 7, evalEvery: 3 },
      scores: [1, 2, 3, 4, 5, 6, 7],
    });
    expect(r.log.evaluated).toEqual([3, 6, 7]);
    expect(r.history.filter((h) => h.valid).map((h) => h.epoch)).toEqual([3, 6, 7]);
    expect(r.history.map((h) => h.epoch)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(r.epochs.map((e) => e.epoch)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    // Validation sees the weights as the epoch left them.
    expect(r.history.flatMap((h) => (h.valid ? [h.valid.saw] : []))).toEqual([
      weightAt(3, 2),
      weightAt(6, 2),
      weightAt(7, 2),
    ]);
    expect(r).toMatchObject({ epochsRun: 7, stoppedBy: 'epochs', bestEpoch: 7 });
  });

  it('without validation data: never evaluates or stops early, and returns the last weights', async () => {
    // patience 0 would stop after the first evaluation: there must be none to count.
    const r = await run({ schedule: { epochs: 4, patience: 0, lrPatience: 1 } });
    expect(r.log.evaluated).toEqual([]);
    expect(r.history.every((h) => h.valid === undefined && !h.best)).toBe(true);
    expect(r).toMatchObject({ epochsRun: 4, stoppedBy: 'epochs', bestEpoch: 4, bestValid: null });
    expect(r.weight).toBe(weightAt(4, 2));
    expect(r.log.lrs.flat().every((lr) => lr === 0.1)).toBe(true);
  });

  it('keeps the best epoch (a tie is no gain) and returns its weights when validation later drops', async () => {
    const checkpoints: { epoch: number; weight: number }[] = [];
    const r = await run(
      { schedule: { epochs: 5 }, scores: [0.1, 0.3, 0.3, 0.25, 0.1] },
      {
        // Awaited: the next epoch starts only after a checkpoint is written.
        onCheckpoint: async (w, report) => {
          await new Promise((resolve) => setTimeout(resolve, 5));
          checkpoints.push({ epoch: report.epoch, weight: valueOf(w) });
        },
        onEpoch: (report) => {
          if (report.best) expect(checkpoints.at(-1)?.epoch).toBe(report.epoch);
        },
      },
    );
    expect(bests(r.history)).toEqual([1, 2]);
    expect(checkpoints).toEqual([
      { epoch: 1, weight: weightAt(1, 2) },
      { epoch: 2, weight: weightAt(2, 2) },
    ]);
    expect(r.bestEpoch).toBe(2);
    expect(r.bestValid).toEqual({ epoch: 2, score: 0.3, saw: weightAt(2, 2) });
    expect(r.weight).toBe(weightAt(2, 2));
    // The training ran on to the end; what came back is a copy, not the (disposed) variable.
    expect(r.epochsRun).toBe(5);
    expect(r.vars.w.isDisposed).toBe(true);
  });

  it('stops after `patience` evaluations without a gain; a gain starts the count again', async () => {
    const r = await run({
      schedule: { epochs: 10, patience: 2 },
      scores: [1, 2, 1, 3, 2, 2, 9, 9, 9, 9],
    });
    expect(r).toMatchObject({ stoppedBy: 'patience', epochsRun: 6, bestEpoch: 4 });
    expect(r.history.map((h) => h.epoch)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(r.weight).toBe(weightAt(4, 2));

    // Patience counts evaluations, not epochs.
    const every2 = await run({
      schedule: { epochs: 10, patience: 2, evalEvery: 2 },
      scores: [0, 1, 0, 0.5, 0, 0.5, 0, 9, 0, 9],
    });
    expect(every2).toMatchObject({ stoppedBy: 'patience', epochsRun: 6, bestEpoch: 2 });
  });

  it('min-epochs: before it, an evaluation without a gain neither counts toward patience nor lowers the rate', async () => {
    const scores = [1, 2, 0, 0, 0, 0, 0, 0];
    const schedule = { epochs: 8, patience: 1, lrPatience: 1 };
    const early = await run({ schedule, scores });
    expect(early).toMatchObject({ stoppedBy: 'patience', epochsRun: 3 });
    expect(decays(early.history)).toEqual([[3, 0.05]]);

    const r = await run({ schedule: { ...schedule, minEpochs: 5 }, scores });
    // A gain before min-epochs still counts as the best epoch.
    expect(r).toMatchObject({ stoppedBy: 'patience', epochsRun: 5, bestEpoch: 2 });
    expect(decays(r.history)).toEqual([[5, 0.05]]);
    expect(r.log.lrs.flat().every((lr) => lr === 0.1)).toBe(true);
  });

  it('lowers the learning rate by lrDecay after every lrPatience evaluations without a gain', async () => {
    const scores = [1, 0, 0, 0, 0, 2, 0];
    const r = await run({ schedule: { epochs: 7, lrPatience: 2 }, scores });
    expect(decays(r.history)).toEqual([
      [3, 0.1 * 0.5],
      [5, 0.1 * 0.5 * 0.5],
    ]);
    // The optimizer's steps get the lowered rate from the next epoch on.
    expect(r.log.lrs.map((e) => e[0])).toEqual([0.1, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025]);
    expect(r.log.lrs.every((e) => e.every((lr) => lr === e[0]))).toBe(true);

    const never = await run({ schedule: { epochs: 7, lrPatience: 0 }, scores });
    expect(decays(never.history)).toEqual([]);
    expect(never.log.lrs.flat().every((lr) => lr === 0.1)).toBe(true);
  });

  it('keeps to maxSeconds as a hard budget: no step starts that would leave no time to validate after it', async () => {
    // Each epoch: 2 steps of 1 s and a 1 s evaluation, so 3 s. At 6 s, a step (1 s) and a
    // validation (1 s) no longer fit in 7 s: the run stops there, within its budget (the old
    // rule, checked at epoch ends, ran a third epoch and stopped at 9 s).
    const timed = { steps: 2, stepMs: 1000, evalMs: 1000, scores: [1, 3, 2, 0, 0, 0] };
    const r = await run({ ...timed, schedule: { epochs: 6, maxSeconds: 7 } });
    expect(r).toMatchObject({ stoppedBy: 'time', epochsRun: 2, bestEpoch: 2, trainSeconds: 6 });
    expect(r.validSeconds).toBe(1);
    expect(r.weight).toBe(weightAt(2, 2));

    // A budget that ends between validations: the last epoch's weights are validated before the
    // run returns (here evalEvery 3 would not have validated epoch 2 at all).
    const cut = await run({
      ...timed,
      steps: 4,
      scores: [1, 3, 2, 0, 0, 0],
      schedule: { epochs: 6, maxSeconds: 8, evalEvery: 3 },
    });
    // Epoch 1: 4 steps (t = 4), no validation yet so none is reserved; epoch 2: its 4 steps end
    // at t = 8, where no step fits; then validation runs (t = 9: the first validation's length
    // was not yet known — the one overrun the rule allows).
    expect(cut.stoppedBy).toBe('time');
    expect(cut.history.map((h) => [h.epoch, h.steps ?? 4, h.valid?.epoch])).toEqual([
      [1, 4, undefined],
      [2, 4, 2],
    ]);
    const cut2 = await run({
      ...timed,
      steps: 4,
      schedule: { epochs: 6, maxSeconds: 9.5, evalEvery: 1 },
    });
    // Epoch 1 ends at 4 s, validated (5 s, eval 1 s known); epoch 2: steps while t + 2 ≤ 9.5,
    // i.e. at 5, 6, 7 (t = 8); cut at 3 of 4 steps and validated (t = 9).
    expect(cut2.history.map((h) => [h.epoch, h.steps, h.stepsPerEpoch])).toEqual([
      [1, undefined, undefined],
      [2, 3, 4],
    ]);
    expect(cut2).toMatchObject({ stoppedBy: 'time', epochsRun: 2, trainSeconds: 9 });
    expect(cut2.history[1]!.valid).toEqual({ epoch: 2, score: 3, saw: weightAt(2, 3) });
    expect(cut2.weight).toBe(weightAt(2, 3));

    // Without validation data nothing is reserved: steps run until one more would not fit.
    const noValid = await run({ steps: 2, stepMs: 1000, schedule: { epochs: 6, maxSeconds: 5 } });
    expect(noValid).toMatchObject({ stoppedBy: 'time', epochsRun: 3, trainSeconds: 5 });
    expect(noValid.history.at(-1)).toMatchObject({ epoch: 3, steps: 1, stepsPerEpoch: 2 });

    const unlimited = await run({ ...timed, stepMs: 1e6, schedule: { epochs: 6, maxSeconds: 0 } });
    expect(unlimited).toMatchObject({ stoppedBy: 'epochs', epochsRun: 6 });
  });

  it('reports progress after every step and a summary after every epoch, timed by its clock', async () => {
    const progress: unknown[] = [];
    const r = await run(
      { schedule: { epochs: 2 }, steps: 3, stepMs: 1000, evalMs: 500, scores: [1, 2] },
      { onProgress: (p) => progress.push(p) },
    );
    const p = (epoch: number, step: number, loss: number, rate: number, elapsed: number) => ({
      epoch,
      epochs: 2,
      step,
      stepsPerEpoch: 3,
      loss,
      count: (step * (step + 1)) / 2,
      itemsPerSec: rate,
      epochEtaSec: 3 - step,
      elapsedSec: elapsed,
    });
    // Loss: the epoch's mean so far; rate: items (1, 2, 3 per step) over the epoch's seconds.
    expect(progress).toEqual([
      p(1, 1, 11, 1, 1),
      p(1, 2, 11.5, 1.5, 2),
      p(1, 3, 12, 2, 3),
      p(2, 1, 21, 1, 4.5),
      p(2, 2, 21.5, 1.5, 5.5),
      p(2, 3, 22, 2, 6.5),
    ]);
    // An epoch's seconds and throughput leave its evaluation out; the run's time does not.
    expect(r.history).toEqual([
      {
        epoch: 1,
        loss: 12,
        seconds: 3,
        itemsPerSec: 2,
        best: true,
        valid: { epoch: 1, score: 1, saw: weightAt(1, 3) },
      },
      {
        epoch: 2,
        loss: 22,
        seconds: 3,
        itemsPerSec: 2,
        best: true,
        valid: { epoch: 2, score: 2, saw: weightAt(2, 3) },
      },
    ]);
    expect(r.trainSeconds).toBe(7);
  });

  it('with emaDecay > 0 evaluates, shows and returns the moving average, and trains the raw weights', async () => {
    const r = await run({ schedule: { epochs: 2, emaDecay: 0.5 }, scores: [1, 2] });
    // avg ← ½·avg + ½·w after each step, from the initial weight 0: 0 → 5.5 → 8.75 → 14.875 → 18.4375.
    expect(r.history.map((h) => h.valid?.saw)).toEqual([8.75, 18.4375]);
    expect(r.epochs.map((e) => e.live)).toEqual([8.75, 18.4375]);
    expect(r.weight).toBe(18.4375);
    // Each step starts from the raw weight the previous step left, not from the average.
    expect(r.log.stepStart).toEqual([0, weightAt(1, 1), weightAt(1, 2), weightAt(2, 1)]);

    const raw = await run({ schedule: { epochs: 2, emaDecay: 0 }, scores: [1, 2] });
    expect(raw.history.map((h) => h.valid?.saw)).toEqual([weightAt(1, 2), weightAt(2, 2)]);
    expect(raw.weight).toBe(weightAt(2, 2));
  });

  it('validation, checkpoints and the result see the trainer’s view of the weights, each view released', async () => {
    let made = 0;
    let released = 0;
    const view = (w: Weights) => {
      made++;
      const doubled = { w: tf.mul(w['w']!, 2) };
      const release = () => {
        released++;
        tf.dispose(doubled.w);
      };
      return { weights: doubled, release };
    };
    const checkpoints: number[] = [];
    const r = await run(
      { schedule: { epochs: 3 }, scores: [1, 3, 2], view },
      { onCheckpoint: (w) => void checkpoints.push(valueOf(w)) },
    );
    expect(r.history.map((h) => h.valid?.saw)).toEqual([24, 44, 64]);
    expect(checkpoints).toEqual([24, 44]);
    expect(r.weight).toBe(44);
    expect([made, released]).toEqual([3, 3]);

    // Nothing evaluated: the result is the view of the last weights, released too.
    made = released = 0;
    const blind = await run({ schedule: { epochs: 2 }, view });
    expect(blind.weight).toBe(2 * weightAt(2, 2));
    expect([made, released]).toEqual([1, 1]);
  });

  it('frees what it made (variables, average, optimizer): the caller holds only the returned weights', async () => {
    const before = tf.memory().numTensors;
    const { loop } = fakeTrainer({
      schedule: { epochs: 3, emaDecay: 0.9, lrPatience: 1 },
      scores: [2, 1, 3],
    });
    const r = await runTrainingLoop(loop);
    expect(tf.memory().numTensors).toBe(before + Object.keys(r.weights).length);
    tf.dispose(Object.values(r.weights));
    expect(tf.memory().numTensors).toBe(before);
  });
});
