/**
 * The visitor's side of the trainer's rules (./scheduler.ts reads them before every step): which
 * choices forbid fine-tuning, and which recommender changes make it read them again.
 */
import { LocalrecError } from '../../core/errors.ts';
import { DEVICE_CHOICES } from '../ranker/device.ts';
import type { RecommenderChange, TrainerOptions } from '../api.ts';

/** Changes after which the trainer reads its rules again (consent, memory, model version). */
export const TRAINER_HEARS: ReadonlySet<RecommenderChange['kind']> = new Set([
  'consent',
  'sync',
  'import',
  'forget',
  'model',
]);

/** Why the visitor's choices forbid training, or null (`consent` as in effect, GPC applied). */
export function trainingBlockedBy(v: {
  gpc: boolean;
  memory: boolean;
  consent: { federated: boolean; personalization: boolean };
}): string | null {
  if (v.gpc) return 'Global Privacy Control is on, so federated learning stays off';
  if (!v.memory) return 'nothing can be stored in this browser, so federated learning is off';
  if (!v.consent.federated) return 'federated learning is off: the visitor has not agreed to it';
  if (!v.consent.personalization)
    return 'federated learning needs personalization on: it learns from the history kept with it';
  return null;
}

/** Checks the `trainer` option (createRecommender() calls it before anything starts). */
export function checkTrainerOptions(t: unknown): void {
  const bad = (m: string) => new LocalrecError('bad-input', `trainer: ${m}`);
  if (t === undefined || t === false) return;
  if (typeof t !== 'object' || t === null) throw bad('must be an object of options, or false');
  const o = t as TrainerOptions;
  for (const k of ['idleMs', 'roundCheckMs', 'localNoise'] as const) {
    const v = o[k];
    if (v !== undefined && !(typeof v === 'number' && v >= 0 && Number.isFinite(v)))
      throw bad(`${k} must be a number ≥ 0, got ${String(v)}`);
  }
  if (o.device !== undefined && !DEVICE_CHOICES.includes(o.device))
    throw bad(
      `unknown device '${String(o.device)}'; valid choices are ${DEVICE_CHOICES.join(', ')}`,
    );
  if (o.workerUrl !== undefined && typeof o.workerUrl !== 'string')
    throw bad('workerUrl must be a URL string');
}
