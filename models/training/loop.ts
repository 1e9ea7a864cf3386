/**
 * The training spine of every model: epochs of optimizer steps with progress reports, a
 * moving average of the weights, validation every `evalEvery` epochs (and after the last),
 * the best epoch's weights kept, the learning rate lowered on a plateau, and a stop on
 * patience or a time limit — a hard one, that validation is part of. A trainer supplies what is its own: the batches, one step,
 * and how validation scores a set of weights. Test data is never looked at here.
 */
import * as tf from '@tensorflow/tfjs';
import { cloneWeights, startAverage, updateAverage } from '../tf-ops.ts';

/** Weights by name, as both models keep them. */
export type Weights = Record<string, tf.Tensor>;

/** Adam's moment decays (β1, β2): β2 0.98 as in SASRec.pytorch, for both models. */
const ADAM_BETAS = [0.9, 0.98] as const;

/** How long to train, when to evaluate, when to stop, and how the learning rate moves. */
export interface LoopSchedule {
  epochs: number;
  learningRate: number;
  /** Stop when the validation score has not improved for this many evaluations. */
  patience: number;
  /** Neither stop early nor lower the learning rate before this epoch (absent: 0). */
  minEpochs?: number;
  evalEvery: number;
  /** Multiply the learning rate by `lrDecay` after this many evaluations without a gain (0 = never). */
  lrPatience: number;
  lrDecay: number;
  /** Decay of the per-step weight average that is evaluated, kept and returned (0 = the raw weights). */
  emaDecay: number;
  /**
   * The run's budget in seconds, validation included (0 = no limit): no step starts that would
   * not leave time for a validation after it; a run cut short mid-epoch validates what it has;
   * the best weights are kept.
   */
  maxSeconds: number;
}

/** Progress after every step. */
export interface LoopProgress {
  epoch: number;
  epochs: number;
  step: number;
  stepsPerEpoch: number;
  /** Mean loss over the epoch so far. */
  loss: number;
  /** Units (the trainer's `count`, e.g. positions) trained this epoch so far. */
  count: number;
  /** Seconds left in this epoch at the current rate. */
  epochEtaSec: number;
  elapsedSec: number;
}

/** What every epoch reports. */
export interface LoopEpochReport<M> {
  epoch: number;
  loss: number;
  seconds: number;
  valid?: M;
  best: boolean;
  /** Set when this epoch's evaluation lowered the learning rate (to this value). */
  learningRate?: number;
  /** Set when the time limit cut this epoch short: the steps it ran, of `stepsPerEpoch`. */
  steps?: number;
  stepsPerEpoch?: number;
}

/** `T` with the trainer's throughput (units per second) under the name `K`. */
export type WithRate<T, K extends string> = T & { [k in K]: number };

/** What a training run returns. */
export interface LoopResult<M, R> {
  /** The best weights (new tensors the caller owns); the last ones when nothing was evaluated. */
  weights: Weights;
  bestEpoch: number;
  epochsRun: number;
  bestValid: M | null;
  trainSeconds: number;
  /** The longest validation of the run, in seconds (0 when none ran). */
  validSeconds: number;
  history: R[];
  stoppedBy: 'epochs' | 'patience' | 'time';
}

/** A view of the weights that validation and checkpoints read; `release` frees what it made. */
export interface WeightsView {
  weights: Weights;
  release: () => void;
}

/** What a trainer brings to {@link runTrainingLoop}. */
export interface TrainingLoop<B, M, K extends string> {
  schedule: LoopSchedule;
  /** The trained variables; the loop disposes them when it returns. */
  vars: Record<string, tf.Variable>;
  /** Whether there is anything to validate on: without, no evaluation and no early stop. */
  hasValid: boolean;
  /** The throughput's name in progress and reports, e.g. 'positionsPerSec'. */
  rate: K;
  /** One epoch's batches, called at the start of every epoch. */
  batches: () => B[];
  /** One optimizer step on a batch: its loss and how many units (for the throughput) it trained. */
  step: (batch: B, optimizer: tf.Optimizer) => Promise<{ loss: number; count: number }>;
  /** Validation metrics of a set of weights (from {@link TrainingLoop.view}). */
  evaluate: (w: Weights) => Promise<M>;
  /** The number the best epoch is selected on (higher is better). */
  score: (m: M) => number;
  /** What validation and checkpoints see of the (averaged) weights; default: the weights themselves. */
  view?: (w: Weights) => WeightsView;
  /**
   * The clock in milliseconds that times epochs, progress and `maxSeconds`; default
   * performance.now. Only for tests: a fake clock makes the time rules checkable.
   */
  now?: () => number;
}

/** Callbacks of a training run. */
export interface LoopHooks<M, K extends string> {
  onProgress?: (p: WithRate<LoopProgress, K>) => void;
  /** After every epoch, with the live (averaged) weights: read them, do not keep or dispose them. */
  onEpoch?: (r: WithRate<LoopEpochReport<M>, K>, live: Weights) => void | Promise<void>;
  /** Called with the best weights so far whenever validation improves. */
  onCheckpoint?: (w: Weights, r: WithRate<LoopEpochReport<M>, K>) => void | Promise<void>;
}

/** Runs the loop described in this module's header; see {@link TrainingLoop}. */
export async function runTrainingLoop<B, M, K extends string>(
  loop: TrainingLoop<B, M, K>,
  hooks: LoopHooks<M, K> = {},
): Promise<LoopResult<M, WithRate<LoopEpochReport<M>, K>>> {
  type Report = WithRate<LoopEpochReport<M>, K>;
  const s = loop.schedule;
  const varList = Object.values(loop.vars);
  let learningRate = s.learningRate;
  const optimizer = tf.train.adam(learningRate, ...ADAM_BETAS);
  // The averaged weights (same names as vars), updated after every step when emaDecay > 0.
  const ema = s.emaDecay > 0 ? startAverage(loop.vars) : null;
  const live: Weights = ema ?? loop.vars;
  const view = (w: Weights): WeightsView => loop.view?.(w) ?? { weights: w, release: () => {} };
  const now = loop.now ?? (() => performance.now());

  const t0 = now();
  const history: Report[] = [];
  let best: Weights | null = null;
  let bestScore = -Infinity;
  let bestEpoch = 0;
  let bestValid: M | null = null;
  let sinceBest = 0;
  let stoppedBy: LoopResult<M, Report>['stoppedBy'] = 'epochs';
  let epoch = 0;
  // The time limit is a hard budget that validation is part of: a step starts only while the
  // step and a validation after it still fit (each timed by the longest seen so far), and a run
  // cut short mid-epoch validates the weights it has before it returns.
  let stepMs = 0;
  let evalMs = 0;
  const outOfTime = () =>
    s.maxSeconds > 0 && now() - t0 + stepMs + (loop.hasValid ? evalMs : 0) > s.maxSeconds * 1000;
  let stepsSinceEval = 0;
  /** Validates the live weights into `report`: best kept, patience counted, rate lowered. */
  const validate = async (report: Report) => {
    const v0 = now();
    const scored = view(live);
    report.valid = await loop.evaluate(scored.weights);
    stepsSinceEval = 0;
    const score = loop.score(report.valid);
    if (score > bestScore) {
      bestScore = score;
      bestEpoch = report.epoch;
      bestValid = report.valid;
      sinceBest = 0;
      report.best = true;
      if (best) tf.dispose(Object.values(best));
      best = cloneWeights(scored.weights);
      await hooks.onCheckpoint?.(best, report);
    } else if (report.epoch >= (s.minEpochs ?? 0)) {
      sinceBest += 1;
      // Reduce on plateau: every `lrPatience` evaluations without a gain, scale the rate down.
      if (s.lrPatience > 0 && sinceBest % s.lrPatience === 0) {
        learningRate *= s.lrDecay;
        (optimizer as unknown as { learningRate: number }).learningRate = learningRate;
        report.learningRate = learningRate;
      }
    }
    scored.release();
    evalMs = Math.max(evalMs, now() - v0);
  };
  let timeUp = false;
  for (epoch = 1; epoch <= s.epochs; epoch++) {
    if (outOfTime()) {
      timeUp = true;
      break;
    }
    const e0 = now();
    const batches = loop.batches();
    let lossSum = 0;
    let count = 0;
    let done = 0;
    for (let step = 0; step < batches.length; step++) {
      if (outOfTime()) {
        timeUp = true;
        break;
      }
      const st = now();
      const r = await loop.step(batches[step]!, optimizer);
      lossSum += r.loss;
      if (ema) updateAverage(ema, loop.vars, s.emaDecay);
      count += r.count;
      done++;
      stepsSinceEval++;
      stepMs = Math.max(stepMs, now() - st);
      const secs = (now() - e0) / 1000;
      // The computed key makes TypeScript widen the literal; it is exactly WithRate<…, K>.
      hooks.onProgress?.({
        epoch,
        epochs: s.epochs,
        step: step + 1,
        stepsPerEpoch: batches.length,
        loss: lossSum / (step + 1),
        count,
        [loop.rate]: count / secs,
        epochEtaSec: (secs / (step + 1)) * (batches.length - step - 1),
        elapsedSec: (now() - t0) / 1000,
      } as WithRate<LoopProgress, K>);
    }
    if (done === 0) break;
    const seconds = (now() - e0) / 1000;
    const report = {
      epoch,
      loss: lossSum / done,
      seconds,
      [loop.rate]: count / seconds,
      best: false,
      ...(done < batches.length && { steps: done, stepsPerEpoch: batches.length }),
    } as Report;
    timeUp ||= outOfTime();
    if (loop.hasValid && (epoch % s.evalEvery === 0 || epoch === s.epochs || timeUp))
      await validate(report);
    history.push(report);
    await hooks.onEpoch?.(report, live);
    if (loop.hasValid && sinceBest >= s.patience) {
      stoppedBy = 'patience';
      break;
    }
    if (timeUp) break;
  }
  if (timeUp && stoppedBy !== 'patience') {
    stoppedBy = 'time';
    // Cut before an epoch that did not start: the last epoch's weights, if not yet validated.
    const last = history.at(-1);
    if (loop.hasValid && last && stepsSinceEval > 0) await validate(last);
  }
  const epochsRun = history.length;
  if (!best) {
    const last = view(live);
    best = cloneWeights(last.weights);
    last.release();
    bestEpoch = epochsRun;
  }
  if (ema) tf.dispose(Object.values(ema));
  tf.dispose(varList);
  optimizer.dispose();
  return {
    weights: best,
    bestEpoch,
    epochsRun,
    bestValid,
    trainSeconds: (now() - t0) / 1000,
    validSeconds: evalMs / 1000,
    history,
    stoppedBy,
  };
}
