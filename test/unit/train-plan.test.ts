/**
 * `localrec train`'s data-sized defaults (src/cli/train-plan.ts): each rule on splits of a
 * known shape with a scripted speed, flags kept as given, and the reasons stated.
 */
import { describe, expect, it } from 'vitest';
import type { SasrecLoss } from '../../models/sasrec/config.ts';
import type { SplitData } from '../../src/core/types.ts';
import {
  dataShape,
  planLines,
  planTraining,
  positionsPerEpoch,
  type SpeedProbe,
} from '../../src/cli/train-plan.ts';

/** `users` users with training sequences of the given lengths (cycled), over `items` items. */
function split(users: number, items: number, lengths: number[]): SplitData {
  return {
    numItems: items,
    itemIds: Array.from({ length: items }, (_, i) => `i${i}`),
    users: Array.from({ length: users }, (_, u) => {
      const n = lengths[u % lengths.length]!;
      return {
        user: `u${u}`,
        train: Int32Array.from({ length: n }, (_, j) => 1 + ((u + j) % items)),
        valid: 1,
        test: 2,
      };
    }),
  };
}

/** A probe that reports a fixed speed per loss kind and records what it was asked. */
function probe(full: number, sampled: number) {
  const asked: { loss: SasrecLoss; maxLen: number; sparseAdam?: boolean }[] = [];
  const speed: SpeedProbe = async (loss, maxLen, sparseAdam) => {
    asked.push({ loss, maxLen, ...(sparseAdam && { sparseAdam }) });
    return loss.kind === 'full' ? full : sampled;
  };
  return { speed, asked };
}

const plan = (s: SplitData, budget: number, speed: SpeedProbe, given = {}) =>
  planTraining(
    s,
    dataShape(
      s,
      s.users.reduce((a, u) => a + u.train.length + 2, 0),
    ),
    budget,
    {
      model: {},
      train: {},
      ...given,
    },
    speed,
  );

const why = (p: Awaited<ReturnType<typeof plan>>, name: string) =>
  p.choices.find((c) => c.name === name)!.why;

describe('data-sized training defaults', () => {
  it('dense and small (the ML-100K shape) with time to spare: the tuned defaults', async () => {
    // 900 users of 100–200 training events over 1,700 items; full softmax at 5,000 positions/s:
    // an epoch is 900 × 50 / 5,000 = 9 s, 3 members × 30 epochs = 810 s < 1,800 s; 66 epochs fit
    // a member's share, 70% of them is more than the tuned 45.
    const s = split(900, 1700, [100, 150, 200]);
    const { speed, asked } = probe(5000, 20000);
    const p = await plan(s, 1800, speed);
    expect(p.model).toMatchObject({ maxLen: 50, dropout: 0.2 });
    expect(p.train).toMatchObject({ loss: { kind: 'full' }, minEpochs: 45 });
    expect(p.members).toBe(3);
    expect(asked).toEqual([{ loss: { kind: 'full' }, maxLen: 50 }]);
    expect(why(p, 'members')).toContain('9.0 s');
    expect(planLines(p)).toHaveLength(p.choices.length);
  });

  it('sparse and large (a public 24k-item catalog’s shape): sampled loss, one model, short inputs, dropout 0.5', async () => {
    // 30,000 users of 3–15 training events over 25,000 items.
    const s = split(30_000, 25_000, [3, 5, 8, 10, 12, 15, 4, 6, 9, 14]);
    const shape = dataShape(s, 0);
    expect(shape.p90Length).toBe(15);
    const { speed, asked } = probe(100, 4000);
    const p = await plan(s, 1800, speed);
    expect(p.model).toMatchObject({ maxLen: 20, dropout: 0.5 });
    expect(p.train.loss).toEqual({ kind: 'sampled', negatives: 1024 });
    expect(p.members).toBe(1);
    // The full softmax is never timed there: the catalog alone rules it out.
    expect(asked.map((a) => a.loss.kind)).toEqual(['sampled']);
    expect(why(p, 'loss')).toContain('25000 items > 20000');
    expect(why(p, 'dropout')).toContain('sparse');
    // An epoch: positions / 4,000 per s; minEpochs is at most 45.
    const epoch = positionsPerEpoch(s, 20) / 4000;
    expect(p.train.minEpochs).toBe(Math.min(45, Math.floor(0.7 * Math.floor(1800 / epoch))));
  });

  it('a mid-size catalog whose full softmax is too slow for the budget gets the sampled loss; a slow epoch, one model', async () => {
    const s = split(5000, 15_000, [40, 60]);
    // Full: 5,000 × 39.5 avg positions ≈ 197,500 / 50 per s ≈ 3,950 s an epoch: far too slow.
    const { speed } = probe(50, 400);
    const p = await plan(s, 1800, speed);
    expect(p.train.loss).toEqual({ kind: 'sampled', negatives: 1024 });
    expect(why(p, 'loss')).toMatch(/measured/);
    // Sampled: ≈ 494 s an epoch, 3 × 30 epochs would not fit 30 min: one model, few epochs.
    expect(p.members).toBe(1);
    expect(why(p, 'members')).toMatch(/would not fit/);
    expect(p.train.minEpochs).toBe(2); // 3 epochs fit: 70% of them
  });

  it('keeps what the flags give, measuring only what it needs', async () => {
    const s = split(900, 1700, [100, 150, 200]);
    const { speed, asked } = probe(5000, 20000);
    const p = await plan(s, 1800, speed, {
      model: { maxLen: 200, dropout: 0.3 },
      train: { loss: { kind: 'sampled', negatives: 64 }, minEpochs: 5 },
      members: 2,
    });
    expect(p.model).toMatchObject({ maxLen: 200, dropout: 0.3 });
    expect(p.train).toMatchObject({ loss: { kind: 'sampled', negatives: 64 }, minEpochs: 5 });
    expect(p.members).toBe(2);
    expect(p.choices.every((c) => c.why === 'given')).toBe(true);
    expect(p.choices.find((c) => c.name === 'loss')!.value).toBe('sampled(64)');
    expect(asked).toEqual([{ loss: { kind: 'sampled', negatives: 64 }, maxLen: 200 }]);
  });

  it('without a time budget measures nothing and keeps the tuned values the shape allows', async () => {
    const s = split(900, 1700, [100, 150, 200]);
    const { speed, asked } = probe(1, 1);
    const p = await plan(s, 0, speed);
    expect(asked).toEqual([]);
    expect(p).toMatchObject({ members: 3, train: { loss: { kind: 'full' }, minEpochs: 45 } });
  });

  it('huge catalogs (1M items) train the sampled loss with row-wise Adam, and time it so', async () => {
    const s = split(2000, 1_000_000, [5, 10]);
    const { speed, asked } = probe(1, 3000);
    const p = await plan(s, 1800, speed);
    expect(p.train).toMatchObject({ sparseAdam: true, loss: { kind: 'sampled', negatives: 1024 } });
    expect(why(p, 'sparseAdam')).toContain('dense Adam');
    expect(asked).toEqual([
      { loss: { kind: 'sampled', negatives: 1024 }, maxLen: 10, sparseAdam: true },
    ]);
    // Below the threshold, no choice is made (dense Adam, the validated default).
    const mid = await plan(split(100, 50_000, [5]), 600, probe(1, 1000).speed);
    expect(mid.train.sparseAdam).toBe(false);
    expect(mid.choices.some((c) => c.name === 'sparseAdam')).toBe(false);
  });

  it('small catalogs sample at most a quarter of the items as negatives', async () => {
    const s = split(100, 30_000, [5]);
    const { speed } = probe(1, 1000);
    expect((await plan(s, 600, speed)).train.loss).toEqual({ kind: 'sampled', negatives: 1024 });
    const tiny = split(100, 400, [5]);
    const p = await plan(tiny, 600, probe(1, 1000).speed);
    // 400 items: the full softmax is timed at 1 position/s (too slow), the sample is 100 items.
    expect(p.train.loss).toEqual({ kind: 'sampled', negatives: 100 });
  });
});
