import { describe, expect, it } from 'vitest';
import { isLocalrecError } from '../../src/core/errors.ts';
import { Rng } from '../../src/core/random.ts';
import {
  createAggregator,
  createServerOptimizer,
  toSum,
  type Aggregator,
  type AggregateResult,
  type RoundLayout,
  type SumAggregator,
  type UpdatesAggregator,
} from '../../src/server/aggregation/index.ts';

function errorOf(f: () => unknown): { code: string; message: string } {
  try {
    f();
  } catch (e) {
    if (isLocalrecError(e)) return { code: e.code, message: e.message };
    return { code: `not a LocalrecError: ${String(e)}`, message: '' };
  }
  return { code: 'no error', message: '' };
}

const f64 = (xs: number[]) => Float64Array.from(xs);
const seeded = (seed: number) => {
  const rng = new Rng(seed);
  return () => rng.next();
};

function sumAggregator(a: Aggregator): SumAggregator {
  if (a.needs !== 'sum') throw new Error(`${a.method} needs updates`);
  return a;
}
function updatesAggregator(a: Aggregator): UpdatesAggregator {
  if (a.needs !== 'updates') throw new Error(`${a.method} needs only the sum`);
  return a;
}

const round3: RoundLayout = { slices: [{ name: 'w', shape: [3] }], clipNorm: 10 };

describe('DP-FedAvg', () => {
  it('needs only the sum, and means over the fixed denominator n, not the count received', () => {
    const agg = createAggregator({ method: 'dp-fedavg', expectedClients: 10, noiseMultiplier: 0 });
    expect(agg.needs).toBe('sum');
    // 4 updates came, 10 were expected: Δ = Σ / 10.
    const updates = [f64([1, 2, 3]), f64([-1, 0, 1]), f64([2, 2, 2]), f64([0, 0, 4])];
    const { delta, report } = sumAggregator(agg).aggregate(toSum({ round: round3, updates }));
    expect([...delta]).toEqual([0.2, 0.4, 1]);
    expect(report).toEqual({
      method: 'dp-fedavg',
      received: 4,
      denominator: 10,
      sensitivity: 1, // C / n = 10 / 10
      noiseMultiplier: 0,
      noiseStd: 0,
    });
  });

  it('adds no noise when z = 0 and never draws a random number', () => {
    const never = () => {
      throw new Error('drew a random number');
    };
    const agg = createAggregator({
      method: 'dp-fedavg',
      expectedClients: 2,
      noiseMultiplier: 0,
      random: never,
    });
    const { delta } = sumAggregator(agg).aggregate({
      round: round3,
      sum: f64([1, -1, 3]),
      count: 2,
    });
    expect([...delta]).toEqual([0.5, -0.5, 1.5]);
  });

  it('adds Gaussian noise of standard deviation z·C/n per coordinate (200k draws, within 1%)', () => {
    const P = 200_000;
    const round: RoundLayout = { slices: [{ name: 'emb', shape: [1000, 200] }], clipNorm: 2 };
    const agg = sumAggregator(
      createAggregator({
        method: 'dp-fedavg',
        expectedClients: 50,
        noiseMultiplier: 1.5,
        random: seeded(20240601),
      }),
    );
    const sum = new Float64Array(P).fill(0.01); // ‖Σ‖ = 4.47 ≤ 3 × 2
    const { delta, report } = agg.aggregate({ round, sum, count: 3 });
    const expectedStd = (1.5 * 2) / 50; // 0.06
    expect(report.noiseStd).toBeCloseTo(expectedStd, 15);
    expect(report.sensitivity).toBeCloseTo(2 / 50, 15);
    let s = 0;
    let s2 = 0;
    let within1 = 0;
    for (let i = 0; i < P; i++) {
      const e = delta[i]! - 0.01 / 50; // the noise alone
      s += e;
      s2 += e * e;
      if (Math.abs(e) < expectedStd) within1++;
    }
    const mean = s / P;
    const std = Math.sqrt(s2 / P - mean * mean);
    expect(Math.abs(std / expectedStd - 1)).toBeLessThan(0.01);
    expect(Math.abs(mean)).toBeLessThan((4 * expectedStd) / Math.sqrt(P));
    expect(within1 / P).toBeGreaterThan(0.6827 - 0.005); // and it is Gaussian-shaped
    expect(within1 / P).toBeLessThan(0.6827 + 0.005);
    // Deterministic with the seeded source; different seeds give different noise.
    const again = sumAggregator(
      createAggregator({
        method: 'dp-fedavg',
        expectedClients: 50,
        noiseMultiplier: 1.5,
        random: seeded(20240601),
      }),
    ).aggregate({ round, sum, count: 3 });
    expect(again.delta).toEqual(delta);
  });

  it('draws from the platform CSPRNG by default', () => {
    const P = 40_000;
    const round: RoundLayout = { slices: [{ name: 'w', shape: [P] }], clipNorm: 1 };
    const agg = sumAggregator(
      createAggregator({ method: 'dp-fedavg', expectedClients: 10, noiseMultiplier: 1 }),
    );
    const a = agg.aggregate({ round, sum: new Float64Array(P), count: 1 }).delta;
    const b = agg.aggregate({ round, sum: new Float64Array(P), count: 1 }).delta;
    let s2 = 0;
    for (const x of a) s2 += x * x;
    expect(Math.sqrt(s2 / P) / 0.1 - 1).toBeLessThan(0.05); // std z·C/n = 0.1, ± 5%
    expect(Math.sqrt(s2 / P) / 0.1 - 1).toBeGreaterThan(-0.05);
    expect(a).not.toEqual(b);
  });

  it('refuses bad options and contributions with clear errors', () => {
    const dp = (expectedClients: number, noiseMultiplier: number) => () =>
      createAggregator({ method: 'dp-fedavg', expectedClients, noiseMultiplier });
    expect(errorOf(dp(0, 1)).message).toMatch(/expectedClients.*≥ 1, got 0/);
    expect(errorOf(dp(2.5, 1)).message).toMatch(/expectedClients.*got 2.5/);
    expect(errorOf(dp(10, -1)).message).toMatch(/noiseMultiplier.*≥ 0/);
    expect(errorOf(dp(10, NaN)).code).toBe('bad-input');
    const agg = sumAggregator(dp(10, 0)());
    const run =
      (sum: Float64Array, count: number, round = round3) =>
      () =>
        agg.aggregate({ round, sum, count });
    expect(errorOf(run(f64([1, 2]), 1)).message).toMatch(
      /sum has 2 values, the round's slices have 3/,
    );
    expect(errorOf(run(f64([1, Infinity, 0]), 1)).message).toMatch(/value 1 is not finite/);
    expect(errorOf(run(f64([1, NaN, 0]), 1)).code).toBe('bad-input');
    expect(errorOf(run(f64([0, 0, 0]), 0)).message).toMatch(/nothing to aggregate/);
    // ‖Σ‖ = 25 > 2 × 10: not two updates clipped to 10.
    expect(errorOf(run(f64([15, 20, 0]), 2)).message).toMatch(/exceeds count × clipNorm = 20/);
    expect(errorOf(run(f64([0, 0, 0]), 1, { ...round3, clipNorm: 0 })).message).toMatch(
      /clipNorm must be finite and > 0/,
    );
    expect(
      errorOf(() =>
        createAggregator({ method: 'fedprox' } as unknown as Parameters<
          typeof createAggregator
        >[0]),
      ).message,
    ).toMatch(/unknown method 'fedprox'; choose one of dp-fedavg, norm-bounded-mean, trimmed-mean/);
  });
});

describe('server optimizers', () => {
  const slices = [
    { name: 'a', shape: [1] },
    { name: 'b', shape: [1] },
  ];

  it('sgd: w + η·Δ, η = 1 by default (FedAvg), into a new array of the same type', () => {
    const w = Float32Array.from([1, 2]);
    const plain = createServerOptimizer({ kind: 'sgd', slices });
    const next = plain.apply(w, f64([0.5, -0.25]));
    expect(next).toBeInstanceOf(Float32Array);
    expect([...next]).toEqual([1.5, 1.75]);
    expect([...w]).toEqual([1, 2]); // untouched
    const slow = createServerOptimizer({ kind: 'sgd', slices, learningRate: 0.1 });
    const next64 = slow.apply(f64([1, 2]), f64([0.5, -0.25]));
    expect(next64).toBeInstanceOf(Float64Array);
    expect(next64[0]).toBeCloseTo(1.05, 15);
    expect(next64[1]).toBeCloseTo(1.975, 15);
    expect(slow.steps).toBe(1);
  });

  it('FedAdam matches a two-step example computed by hand', () => {
    // η = 0.1, β1 = 0.9, β2 = 0.99, τ = 1e-3; m₀ = 0, v₀ = τ² = 1e-6.
    const opt = createServerOptimizer({
      kind: 'fedadam',
      slices,
      learningRate: 0.1,
      beta1: 0.9,
      beta2: 0.99,
      tau: 1e-3,
    });
    // Step 1, Δ = (0.5, −0.1): m = (0.05, −0.01); v = 0.99e-6 + 0.01·(0.25, 0.01) =
    // (0.00250099, 0.00010099); √v = (0.05000990, 0.01004938);
    // w = (1 + 0.1·0.05/0.05100990, −2 − 0.1·0.01/0.01104938) = (1.09802019, −2.09050283).
    const w1 = opt.apply(f64([1, -2]), f64([0.5, -0.1]));
    expect(w1[0]).toBeCloseTo(1.0980201901209485, 12);
    expect(w1[1]).toBeCloseTo(-2.090502831185222, 12);
    // Step 2, Δ = (−0.2, 0.3): m = 0.9·m + 0.1·Δ = (0.025, 0.021); v = 0.99·v + 0.01·(0.04, 0.09)
    // = (0.0028759801, 0.0009999801); w += 0.1·m/(√v + τ) = (1.14378413, −2.02613001).
    const w2 = opt.apply(w1, f64([-0.2, 0.3]));
    expect(w2[0]).toBeCloseTo(1.143784128777997, 12);
    expect(w2[1]).toBeCloseTo(-2.0261300072397486, 12);
    expect(opt.steps).toBe(2);
  });

  it('warm-up: η rises linearly over W rounds, also after a restart, then stays', () => {
    // sgd makes the effective η visible: w + η_t·Δ with η_t = η·min(1, t/W).
    const opt = createServerOptimizer({ kind: 'sgd', slices, learningRate: 1, warmupRounds: 4 });
    const moves: number[] = [];
    let w: Float64Array = f64([0, 0]);
    for (let t = 1; t <= 3; t++) {
      const next = opt.apply(w, f64([1, 1]));
      moves.push(next[0]! - w[0]!);
      w = next;
    }
    // A restarted server continues the ramp from the saved step count.
    const resumed = createServerOptimizer({
      kind: 'sgd',
      slices,
      learningRate: 1,
      warmupRounds: 4,
      state: opt.saveState(),
    });
    for (let t = 4; t <= 6; t++) {
      const next = resumed.apply(w, f64([1, 1]));
      moves.push(next[0]! - w[0]!);
      w = next;
    }
    expect(moves).toEqual([0.25, 0.5, 0.75, 1, 1, 1]);
    // FedAdam: the first step of a 10-round warm-up is a tenth of the plain first step.
    const plain = createServerOptimizer({ kind: 'fedadam', slices, learningRate: 0.1 });
    const warm = createServerOptimizer({
      kind: 'fedadam',
      slices,
      learningRate: 0.1,
      warmupRounds: 10,
    });
    const a = plain.apply(f64([0, 0]), f64([0.5, -0.1]));
    const b = warm.apply(f64([0, 0]), f64([0.5, -0.1]));
    expect(b[0]).toBeCloseTo(a[0]! / 10, 12);
    expect(b[1]).toBeCloseTo(a[1]! / 10, 12);
    expect(
      errorOf(() => createServerOptimizer({ kind: 'sgd', slices, warmupRounds: 1.5 })).message,
    ).toMatch(/warmupRounds must be an integer ≥ 0/);
  });

  it('half-life: η halves every H rounds, also after a restart, on top of the warm-up', () => {
    const moves = (o: { halfLifeRounds: number; warmupRounds?: number }, rounds: number) => {
      let opt = createServerOptimizer({ kind: 'sgd', slices, learningRate: 1, ...o });
      const out: number[] = [];
      let w: Float64Array = f64([0, 0]);
      for (let t = 1; t <= rounds; t++) {
        const next = opt.apply(w, f64([1, 1]));
        out.push(next[0]! - w[0]!);
        w = next;
        // Restart after every round: the schedule follows the saved step count.
        opt = createServerOptimizer({
          kind: 'sgd',
          slices,
          learningRate: 1,
          ...o,
          state: opt.saveState(),
        });
      }
      return out;
    };
    const close = (got: number[], want: number[]) => {
      expect(got).toHaveLength(want.length);
      got.forEach((g, i) => expect(g).toBeCloseTo(want[i]!, 12));
    };
    close(moves({ halfLifeRounds: 2 }, 5), [1, 2 ** -0.5, 0.5, 2 ** -1.5, 0.25]);
    close(moves({ halfLifeRounds: 2, warmupRounds: 2 }, 3), [0.5, 2 ** -0.5, 0.5]);
    close(moves({ halfLifeRounds: 0 }, 3), [1, 1, 1]);
    expect(
      errorOf(() => createServerOptimizer({ kind: 'sgd', slices, halfLifeRounds: -1 })).message,
    ).toMatch(/halfLifeRounds must be ≥ 0/);
  });

  it('FedAdam state round-trips through bytes: a restored optimizer takes the same next step', () => {
    const make = (state?: Uint8Array) =>
      createServerOptimizer({ kind: 'fedadam', slices, learningRate: 0.1, state });
    const a = make();
    const w1 = a.apply(f64([1, -2]), f64([0.5, -0.1]));
    const saved = a.saveState();
    const b = make(saved);
    expect(b.steps).toBe(1);
    const fromA = a.apply(w1, f64([-0.2, 0.3]));
    const fromB = b.apply(w1, f64([-0.2, 0.3]));
    expect(fromB).toEqual(fromA);
    expect(b.saveState()).toEqual(a.saveState());
    // sgd keeps only its step count.
    const s = createServerOptimizer({ kind: 'sgd', slices });
    s.apply(f64([0, 0]), f64([1, 1]));
    expect(createServerOptimizer({ kind: 'sgd', slices, state: s.saveState() }).steps).toBe(1);
  });

  it('refuses a state of another parameter set, kind or a corrupted one, with clear errors', () => {
    const opt = createServerOptimizer({ kind: 'fedadam', slices });
    const saved = opt.saveState();
    const other = [
      { name: 'a', shape: [1] },
      { name: 'b', shape: [2] },
    ];
    const e = errorOf(() =>
      createServerOptimizer({ kind: 'fedadam', slices: other, state: saved }),
    );
    expect(e.code).toBe('bad-input');
    expect(e.message).toMatch(
      /slice 1 is 'b' of shape 1 in the state but 'b' of shape 2 in the round; the state belongs to another parameter set/,
    );
    expect(
      errorOf(() => createServerOptimizer({ kind: 'fedadam', slices: [slices[0]!], state: saved }))
        .message,
    ).toMatch(/it has 2 slices, the round has 1/);
    expect(
      errorOf(() => createServerOptimizer({ kind: 'sgd', slices, state: saved })).message,
    ).toMatch(/the saved state is a fedadam optimizer's, the options ask for sgd/);
    const flipped = saved.slice();
    flipped[flipped.length - 10]! ^= 1;
    expect(
      errorOf(() => createServerOptimizer({ kind: 'fedadam', slices, state: flipped })),
    ).toEqual({
      code: 'bad-format',
      message: expect.stringMatching(/CRC does not match/) as unknown,
    });
    expect(
      errorOf(() => createServerOptimizer({ kind: 'fedadam', slices, state: saved.subarray(0, 8) }))
        .code,
    ).toBe('bad-format');
  });

  it('refuses bad hyperparameters and inputs, and changes nothing then', () => {
    const bad = (o: Record<string, number>) => () =>
      createServerOptimizer({ kind: 'fedadam', slices, ...o });
    expect(errorOf(bad({ learningRate: 0 })).message).toMatch(/learningRate must be > 0/);
    expect(errorOf(bad({ beta1: 1 })).message).toMatch(/beta1 must be in \[0, 1\)/);
    expect(errorOf(bad({ beta2: -0.1 })).message).toMatch(/beta2 must be in \[0, 1\)/);
    expect(errorOf(bad({ tau: 0 })).message).toMatch(/tau must be > 0/);
    const opt = createServerOptimizer({ kind: 'fedadam', slices });
    const before = opt.saveState();
    expect(errorOf(() => opt.apply(f64([1, 2, 3]), f64([0, 0]))).message).toMatch(
      /weights have 3 values|weights has 3 values/,
    );
    expect(errorOf(() => opt.apply(f64([1, 2]), f64([0, NaN]))).message).toMatch(
      /delta: value 1 is not finite/,
    );
    expect(opt.saveState()).toEqual(before);
    expect(opt.steps).toBe(0);
  });
});

describe('robust aggregation', () => {
  it('trimmed mean: per coordinate, sorts, drops ⌊β·k⌋ from each end, averages the rest', () => {
    const round: RoundLayout = { slices: [{ name: 'w', shape: [3] }], clipNorm: 200 };
    const updates = [
      f64([1, 10, -3]),
      f64([2, -1, 0]),
      f64([3, 0, 5]),
      f64([100, 2, 1]),
      f64([-50, 1, 2]),
    ];
    // β = 0.2, k = 5: t = 1. Sorted columns: (−50, 1, 2, 3, 100) → mean(1, 2, 3) = 2;
    // (−1, 0, 1, 2, 10) → 1; (−3, 0, 1, 2, 5) → 1.
    const agg = updatesAggregator(createAggregator({ method: 'trimmed-mean', trim: 0.2 }));
    const { delta, report } = agg.aggregate({ round, updates });
    expect([...delta]).toEqual([2, 1, 1]);
    expect(report).toEqual({
      method: 'trimmed-mean',
      received: 5,
      denominator: 3,
      sensitivity: null, // no DP bound: the accountant must not count this round as private
      noiseMultiplier: 0,
      noiseStd: 0,
      trimmed: 1,
    });
    // β = 0.1: ⌊0.5⌋ = 0, the plain mean over the count received.
    const plain = updatesAggregator(createAggregator({ method: 'trimmed-mean', trim: 0.1 }));
    expect([...plain.aggregate({ round, updates }).delta]).toEqual([11.2, 2.4, 1]);
  });

  it('norm-bounded mean: each update cut to min(M, C), then Σ / n, noise scaled to min(M, C)/n', () => {
    const round: RoundLayout = { slices: [{ name: 'w', shape: [2] }], clipNorm: 10 };
    const agg = updatesAggregator(
      createAggregator({
        method: 'norm-bounded-mean',
        normBound: 1,
        expectedClients: 2,
        noiseMultiplier: 0,
      }),
    );
    // (3, 4) has norm 5 → (0.6, 0.8); (0.3, 0.4) has norm 0.5 and stays. Σ / 2 = (0.45, 0.6).
    const { delta, report } = agg.aggregate({ round, updates: [f64([3, 4]), f64([0.3, 0.4])] });
    expect(delta[0]).toBeCloseTo(0.45, 15);
    expect(delta[1]).toBeCloseTo(0.6, 15);
    expect(report).toMatchObject({ clipped: 1, denominator: 2, sensitivity: 0.5 });
    // M ≥ C is a no-op beyond the intake's clip: the same as DP-FedAvg.
    const loose = updatesAggregator(
      createAggregator({
        method: 'norm-bounded-mean',
        normBound: 50,
        expectedClients: 2,
        noiseMultiplier: 2,
        random: seeded(7),
      }),
    ).aggregate({ round, updates: [f64([3, 4]), f64([0.3, 0.4])] });
    expect(loose.report).toMatchObject({ clipped: 0, sensitivity: 5, noiseStd: 10 });
  });

  it('with 5% of updates at max norm pushing one coordinate, trimmed and norm-bounded means resist', () => {
    const P = 20;
    const C = 1;
    const round: RoundLayout = { slices: [{ name: 'emb', shape: [P] }], clipNorm: C };
    const rng = new Rng(99);
    const honest = Array.from({ length: 95 }, () => {
      const u = new Float64Array(P);
      for (let i = 0; i < P; i++) u[i] = 0.05 * rng.normal(); // ‖u‖ ≈ 0.22 < C
      return u;
    });
    const attack = Array.from({ length: 5 }, () => {
      const u = new Float64Array(P);
      u[0] = C; // max norm, all on one coordinate
      return u;
    });
    const updates = [...honest, ...attack];
    const plain = sumAggregator(
      createAggregator({ method: 'dp-fedavg', expectedClients: 100, noiseMultiplier: 0 }),
    ).aggregate(toSum({ round, updates }));
    const trimmed = updatesAggregator(
      createAggregator({ method: 'trimmed-mean', trim: 0.1 }),
    ).aggregate({ round, updates });
    const bounded = updatesAggregator(
      createAggregator({
        method: 'norm-bounded-mean',
        normBound: 0.25,
        expectedClients: 100,
        noiseMultiplier: 0,
      }),
    ).aggregate({ round, updates });
    const honestMean0 = honest.reduce((s, u) => s + u[0]!, 0) / 100;
    // The plain mean moves coordinate 0 by 5·C/100 = 0.05 beyond the honest clients' own pull.
    expect(plain.delta[0]! - honestMean0).toBeCloseTo(0.05, 12);
    expect(plain.delta[0]).toBeGreaterThan(0.04);
    // Trimming 10 from each end removes all five: coordinate 0 is where honest clients put it.
    expect(Math.abs(trimmed.delta[0]!)).toBeLessThan(0.01);
    expect(Math.abs(trimmed.delta[0]!)).toBeLessThan(plain.delta[0]! / 5);
    // Cutting norms to 0.25 (some honest updates are cut too) limits each attacker to 0.25/100.
    const cut = (u: Float64Array) => Math.min(1, 0.25 / Math.hypot(...u));
    const honestBounded0 = honest.reduce((s, u) => s + u[0]! * cut(u), 0) / 100;
    expect(bounded.delta[0]! - honestBounded0).toBeCloseTo(5 * 0.0025, 12);
    expect(bounded.delta[0]!).toBeLessThan(plain.delta[0]! / 2.5);
    // Coordinates the attack does not touch barely change under either rule.
    for (let i = 1; i < P; i++) {
      expect(Math.abs(trimmed.delta[i]! - plain.delta[i]!)).toBeLessThan(0.01);
      expect(Math.abs(bounded.delta[i]! - plain.delta[i]!)).toBeLessThan(0.01);
    }
  });

  it('trimmed mean refuses DP noise, and both refuse bad options and updates', () => {
    const trim = (trim: number) => () => createAggregator({ method: 'trimmed-mean', trim });
    expect(errorOf(trim(0.5)).message).toMatch(/trim \(β\) must be in \[0, 0.5\)/);
    expect(errorOf(trim(-0.1)).code).toBe('bad-input');
    expect(errorOf(trim(NaN)).code).toBe('bad-input');
    const noisy = { method: 'trimmed-mean', trim: 0.1, noiseMultiplier: 1 } as const;
    expect(errorOf(() => createAggregator(noisy)).message).toMatch(
      /trimmed mean takes no noise: its sensitivity is not C\/n/,
    );
    const nb =
      (normBound: number, expectedClients = 10) =>
      () =>
        createAggregator({
          method: 'norm-bounded-mean',
          normBound,
          expectedClients,
          noiseMultiplier: 0,
        });
    expect(errorOf(nb(0)).message).toMatch(/normBound \(M\) must be finite and > 0/);
    expect(errorOf(nb(1, 0)).message).toMatch(/expectedClients.*≥ 1/);
    const agg = updatesAggregator(trim(0.1)());
    const run = (updates: Float64Array[]) => () => agg.aggregate({ round: round3, updates });
    expect(errorOf(run([])).message).toMatch(/no updates to aggregate/);
    expect(errorOf(run([f64([1, 2, 3]), f64([1, 2])])).message).toMatch(
      /update 1 has 2 values, the round's slices have 3/,
    );
    expect(errorOf(run([f64([1, NaN, 3])])).message).toMatch(/update 0: value 1 is not finite/);
    expect(errorOf(run([f64([10, 10, 0])])).message).toMatch(
      /update 0 has L2 norm 14.1\d+, over the round's clip bound 10/,
    );
  });
});

describe('the aggregation contract', () => {
  it('every method answers a report whose sensitivity tells the accountant what holds', () => {
    const round: RoundLayout = { slices: [{ name: 'w', shape: [2] }], clipNorm: 1 };
    const updates = [f64([0.5, 0]), f64([0, 0.5])];
    const results: AggregateResult[] = [
      sumAggregator(
        createAggregator({ method: 'dp-fedavg', expectedClients: 4, noiseMultiplier: 0 }),
      ).aggregate(toSum({ round, updates })),
      updatesAggregator(
        createAggregator({
          method: 'norm-bounded-mean',
          normBound: 1,
          expectedClients: 4,
          noiseMultiplier: 0,
        }),
      ).aggregate({ round, updates }),
    ];
    // The two fixed-denominator rules agree when nothing is cut, and both bound one client by C/n.
    expect(results[1]!.delta).toEqual(results[0]!.delta);
    expect(results.map((r) => r.report.sensitivity)).toEqual([0.25, 0.25]);
  });
});
