/**
 * The privacy accountant (src/core/privacy/) against published values and dp_accounting's own
 * algorithm, and the `localrec dp-epsilon` command.
 *
 * Where a value has ten or more digits, it comes from a throwaway re-implementation in Python
 * (math + scipy, scipy.special.log_ndtr for log erfc) of the current dp_accounting functions
 * `_compute_rdp_poisson_subsampled_gaussian`, `_compute_log_a_int`, `_compute_log_a_frac`
 * (|binomial| terms, at most 1000 of them), `_log_add`, `_log_erfc` and `compute_epsilon`,
 * run on the same inputs; the integer orders also agree with an mpmath quadrature of A_α to
 * 14 digits. The erfc values are mpmath's at 40 digits.
 */
import { describe, expect, it } from 'vitest';
import { isLocalrecError } from '../../src/core/errors.ts';
import {
  epsilonAfter,
  epsilonFromRdp,
  roundsWithinBudget,
} from '../../src/core/privacy/accountant.ts';
import { erfc, logErfc } from '../../src/core/privacy/erfc.ts';
import { composeRdp, DEFAULT_RDP_ORDERS, rdpSampledGaussian } from '../../src/core/privacy/rdp.ts';
import { localrec } from './cli-runner.ts';

function expectRel(actual: number, expected: number, tol: number): void {
  expect(Math.abs(actual - expected) / Math.abs(expected), `${actual} vs ${expected}`).toBeLessThan(
    tol,
  );
}

/** The code of the LocalrecError `f` throws (fails when it throws something else or nothing). */
function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (isLocalrecError(e)) return e.code;
    throw e;
  }
  throw new Error('did not throw');
}

/** The orders of the DP-SGD MNIST example: 1.25 … 4.5, the integers 5 … 63, 128, 256, 512. */
const MNIST_ORDERS = [
  1.25,
  1.5,
  1.75,
  2,
  2.25,
  2.5,
  3,
  3.5,
  4,
  4.5,
  ...Array.from({ length: 59 }, (_, i) => 5 + i),
  128,
  256,
  512,
];

describe('log erfc and erfc', () => {
  // mpmath at 40 digits.
  const LOG_ERFC: [number, number][] = [
    [-5, 0.69314718055917657952],
    [-1, 0.61123231767807049464],
    [0, 0],
    [0.3, -0.3984300514400852726],
    [0.5, -0.73501112983708440303],
    [1, -1.8496055099332482486],
    [2, -5.3649412646166375745],
    [5, -27.200889545537434422],
    [10, -102.87988902484488857],
    [30, -903.97411711064387808],
    [100, -10005.177585122664333],
    [1e4, -100000009.7827053199],
  ];
  it('log erfc(x) to ~1e-15, also far past where erfc underflows', () => {
    for (const [x, want] of LOG_ERFC) {
      if (want === 0) expect(Math.abs(logErfc(x))).toBe(0);
      else expectRel(logErfc(x), want, 2e-15);
    }
    expect(logErfc(Infinity)).toBe(-Infinity);
    expect(logErfc(-Infinity)).toBe(Math.LN2);
    expect(logErfc(NaN)).toBeNaN();
  });

  it('erfc(x) to ~1e-15 relative on each of its intervals', () => {
    const ERFC: [number, number][] = [
      [-2, 1.9953222650189527342],
      [0.1, 0.8875370839817151016],
      [0.5, 0.47950012218695346232],
      [2, 0.0046777349810472658379],
      [5, 1.5374597944280348502e-12],
      [10, 2.088487583762544757e-45],
      [26, 5.6631924088561428465e-296],
    ];
    for (const [x, want] of ERFC) expectRel(erfc(x), want, 2e-15);
    expect(erfc(0)).toBe(1);
    expect(erfc(30)).toBe(0);
    expect(erfc(-Infinity)).toBe(2);
  });
});

describe('RDP of the Poisson-subsampled Gaussian mechanism', () => {
  it('reproduces dp_accounting: q = 0.01, σ = 2.5, 50 steps at orders 1.5, 2.5, 5, 50', () => {
    const orders = [1.5, 2.5, 5, 50, 100];
    const rdp = composeRdp(rdpSampledGaussian({ q: 0.01, noiseMultiplier: 2.5 }, orders), 50);
    // Published (dp_accounting's rdp_privacy_accountant_test), checked to 1e-6 relative.
    const published = [6.70579741e-4, 1.0854871e-3, 2.18075656e-3, 2.38460375e-2, 1.67416308e2];
    published.forEach((want, i) => expectRel(rdp[i]!, want, 1e-6));
    // The reference algorithm's 17 digits (see the header), to 1e-9.
    const reference = [
      6.70579740668356e-4, 1.0854871043885562e-3, 2.1807565623080077e-3, 2.3846037538707728e-2,
      167.41630754841827,
    ];
    reference.forEach((want, i) => expectRel(rdp[i]!, want, 1e-9));
  });

  it('q = 0.1, σ = 2, 10 steps: 0.07737 at order 5 (published to 4 digits; reference to 10)', () => {
    const [r] = composeRdp(rdpSampledGaussian({ q: 0.1, noiseMultiplier: 2 }, [5]), 10);
    expect(r!.toFixed(5)).toBe('0.07737'); // only 4 significant digits are published
    expectRel(r!, 0.07736968489795838, 1e-9);
  });

  it('fractional orders off the published grid match the reference algorithm', () => {
    const [a] = rdpSampledGaussian({ q: 0.05, noiseMultiplier: 1.1 }, [2.71828]);
    expectRel(a!, 0.004651847567254703, 1e-9);
    // σ = 0.8, q = 0.2: the series at 1.3 does not settle within 1000 terms, so the order is
    // given up (∞, never chosen), exactly as dp_accounting does; 7.5 converges.
    const [slow, fine] = rdpSampledGaussian({ q: 0.2, noiseMultiplier: 0.8 }, [1.3, 7.5]);
    expect(slow).toBe(Infinity);
    expectRel(fine!, 4.00251081202961, 1e-9);
  });

  it('q = 1 is the Gaussian mechanism, α/(2σ²); q = 0 costs nothing; σ = 0 is unbounded', () => {
    const orders = [1.5, 2, 7.25, 64];
    expect([...rdpSampledGaussian({ q: 1, noiseMultiplier: 3 }, orders)]).toEqual(
      orders.map((a) => a / 18),
    );
    expect([...rdpSampledGaussian({ q: 0, noiseMultiplier: 0.5 }, orders)]).toEqual([0, 0, 0, 0]);
    expect([...rdpSampledGaussian({ q: 0, noiseMultiplier: 0 }, orders)]).toEqual([0, 0, 0, 0]);
    expect([...rdpSampledGaussian({ q: 0.3, noiseMultiplier: 0 }, orders)]).toEqual(
      orders.map(() => Infinity),
    );
    expect([...rdpSampledGaussian({ q: 0.3, noiseMultiplier: 1 }, [Infinity])]).toEqual([Infinity]);
  });

  it('sampling amplifies: at every order the RDP grows with q and shrinks with σ', () => {
    const at = (q: number, noiseMultiplier: number): Float64Array =>
      rdpSampledGaussian({ q, noiseMultiplier });
    const grid = [at(0.001, 1.5), at(0.01, 1.5), at(0.1, 1.5), at(1, 1.5)];
    for (let k = 1; k < grid.length; k++)
      for (let i = 0; i < DEFAULT_RDP_ORDERS.length; i++)
        expect(grid[k]![i]!).toBeGreaterThan(grid[k - 1]![i]!);
    const louder = at(0.01, 3);
    for (let i = 0; i < DEFAULT_RDP_ORDERS.length; i++)
      expect(louder[i]!).toBeLessThan(grid[1]![i]!);
  });

  it('RDP is non-decreasing in the order', () => {
    const rdp = rdpSampledGaussian({ q: 0.01, noiseMultiplier: 1.1 });
    for (let i = 1; i < rdp.length; i++) expect(rdp[i]!).toBeGreaterThanOrEqual(rdp[i - 1]!);
  });

  it('the default orders are dp_accounting DEFAULT_RDP_ORDERS', () => {
    expect(DEFAULT_RDP_ORDERS).toHaveLength(156);
    expect(DEFAULT_RDP_ORDERS.slice(0, 3)).toEqual([1.1, 1.2, 1.3]);
    expect(DEFAULT_RDP_ORDERS[98]).toBe(10.9);
    expect(DEFAULT_RDP_ORDERS.slice(99, 101)).toEqual([11, 12]);
    expect(DEFAULT_RDP_ORDERS.slice(-5)).toEqual([63, 128, 256, 512, 1024]);
    for (let i = 1; i < DEFAULT_RDP_ORDERS.length; i++)
      expect(DEFAULT_RDP_ORDERS[i]!).toBeGreaterThan(DEFAULT_RDP_ORDERS[i - 1]!);
    expect(Object.isFrozen(DEFAULT_RDP_ORDERS)).toBe(true);
  });

  it('composition is steps × per step, and exactly 0 after 0 steps even when a step is ∞', () => {
    const one = rdpSampledGaussian({ q: 0.02, noiseMultiplier: 1 }, [2, 4.5]);
    expect([...composeRdp(one, 7)]).toEqual([one[0]! * 7, one[1]! * 7]);
    expect([...composeRdp(Float64Array.of(Infinity, 1), 0)]).toEqual([0, 0]);
  });
});

describe('(ε, δ) from RDP', () => {
  it('DP-SGD on MNIST: n = 60,000, batch 150, σ = 1.3, 15 epochs, δ = 1e-5 gives ε = 0.7242', () => {
    const steps = (15 * 60000) / 150; // 6000
    const spent = epsilonAfter({
      q: 150 / 60000,
      noiseMultiplier: 1.3,
      steps,
      delta: 1e-5,
      orders: MNIST_ORDERS,
    });
    expect(spent.epsilon.toFixed(4)).toBe('0.7242'); // published to 4 digits
    expectRel(spent.epsilon, 0.7242234026106222, 1e-9); // the reference algorithm
    expect(spent.order).toBe(19);
    // dp_accounting's default orders find the same optimum.
    const byDefault = epsilonAfter({ q: 0.0025, noiseMultiplier: 1.3, steps, delta: 1e-5 });
    expectRel(byDefault.epsilon, 0.7242234026106222, 1e-9);
    expect(byDefault.order).toBe(19);
  });

  it('matches the reference algorithm at other settings', () => {
    const cases: [Parameters<typeof epsilonAfter>[0], number, number][] = [
      [{ q: 1, noiseMultiplier: 5, steps: 100, delta: 1e-5 }, 10.725509696418232, 3.3],
      [{ q: 0.01, noiseMultiplier: 1, steps: 1000, delta: 1e-6 }, 2.4366938030221523, 8],
      [{ q: 0.001, noiseMultiplier: 0.8, steps: 10000, delta: 1e-6 }, 1.7036252861577152, 8.2],
      [{ q: 1, noiseMultiplier: 1.1, steps: 1, delta: 1e-5 }, 4.239640834979211, 5.9],
    ];
    for (const [options, epsilon, order] of cases) {
      const spent = epsilonAfter(options);
      expectRel(spent.epsilon, epsilon, 1e-9);
      expect(spent.order).toBe(order);
    }
  });

  it('dp_accounting tests: the Gaussian with σ = 4.530877117 is (1, 1e-6)-DP; pure DP 1.1 → 1.32783806176', () => {
    const orders = Array.from({ length: 98999 }, (_, i) => 0.001 * (i + 1001));
    const rdp = rdpSampledGaussian({ q: 1, noiseMultiplier: 4.530877117 }, orders);
    const gaussian = epsilonFromRdp(rdp, orders, 1e-6);
    expect(gaussian.epsilon).toBeCloseTo(1, 7);
    expectRel(gaussian.epsilon, 1.0000000002681213, 1e-9);

    const integers = Array.from({ length: 31 }, (_, i) => i + 2);
    const pure = epsilonFromRdp(
      integers.map(() => 1.1),
      integers,
      1e-5,
    );
    expect(pure.epsilon).toBeCloseTo(1.32783806176, 10);
    expect(pure.order).toBe(32);
  });

  it('edge cases: ε = 0 without steps or when the KL bound holds, ∞ without noise', () => {
    expect(epsilonAfter({ q: 0.5, noiseMultiplier: 1, steps: 0, delta: 1e-5 }).epsilon).toBe(0);
    expect(epsilonAfter({ q: 0, noiseMultiplier: 1, steps: 100, delta: 1e-5 }).epsilon).toBe(0);
    // RDP 1e-12 at every order: δ ≥ √(1 − e^−rdp), so ε = 0.
    expect(epsilonFromRdp([1e-12, 1e-12], [2, 3], 1e-5)).toEqual({ epsilon: 0, order: 2 });
    // Orders ≤ 1.01 are not used for the bound.
    expect(epsilonFromRdp([0.5], [1.005], 1e-5).epsilon).toBe(Infinity);
    const none = epsilonAfter({ q: 1, noiseMultiplier: 0, steps: 1, delta: 1e-5 });
    expect(none).toEqual({ epsilon: Infinity, order: DEFAULT_RDP_ORDERS[0] });
  });

  it('ε grows with the steps and with q, and shrinks with the noise', () => {
    const eps = (q: number, noiseMultiplier: number, steps: number): number =>
      epsilonAfter({ q, noiseMultiplier, steps, delta: 1e-6 }).epsilon;
    let last = 0;
    for (const steps of [1, 10, 100, 1000, 10000]) {
      const e = eps(0.01, 1.2, steps);
      expect(e).toBeGreaterThan(last);
      last = e;
    }
    expect(eps(0.05, 1.2, 100)).toBeGreaterThan(eps(0.01, 1.2, 100));
    expect(eps(1, 1.2, 100)).toBeGreaterThan(eps(0.05, 1.2, 100));
    expect(eps(0.01, 2, 100)).toBeLessThan(eps(0.01, 1.2, 100));
  });
});

describe('rounds within a budget', () => {
  it('finds the last step count whose ε is within the budget', () => {
    const base = { q: 1, noiseMultiplier: 5, delta: 1e-6 };
    const n = roundsWithinBudget({ ...base, targetEpsilon: 8 });
    expect(n).toBeGreaterThan(1);
    expect(epsilonAfter({ ...base, steps: n }).epsilon).toBeLessThanOrEqual(8);
    expect(epsilonAfter({ ...base, steps: n + 1 }).epsilon).toBeGreaterThan(8);
  });

  it('is the inverse of epsilonAfter (MNIST: the ε of 6000 steps allows 6000 steps)', () => {
    const mnist = { q: 0.0025, noiseMultiplier: 1.3, delta: 1e-5 };
    const { epsilon } = epsilonAfter({ ...mnist, steps: 6000 });
    expect(roundsWithinBudget({ ...mnist, targetEpsilon: epsilon })).toBe(6000);
    const fewer = roundsWithinBudget({ ...mnist, targetEpsilon: 0.5 });
    expect(fewer).toBeLessThan(6000);
    expect(epsilonAfter({ ...mnist, steps: fewer }).epsilon).toBeLessThanOrEqual(0.5);
    expect(epsilonAfter({ ...mnist, steps: fewer + 1 }).epsilon).toBeGreaterThan(0.5);
  });

  it('∞ when steps cost nothing (q = 0), 0 when one step is already over (σ = 0, tiny budget)', () => {
    const delta = 1e-5;
    expect(roundsWithinBudget({ q: 0, noiseMultiplier: 1, targetEpsilon: 1, delta })).toBe(
      Infinity,
    );
    expect(roundsWithinBudget({ q: 1, noiseMultiplier: 0, targetEpsilon: 100, delta })).toBe(0);
    expect(roundsWithinBudget({ q: 1, noiseMultiplier: 1, targetEpsilon: 0.01, delta })).toBe(0);
  });
});

describe('bad input', () => {
  const ok = { q: 0.01, noiseMultiplier: 1, steps: 10, delta: 1e-5 };
  it.each([
    ['q < 0', { ...ok, q: -0.1 }],
    ['q > 1', { ...ok, q: 1.5 }],
    ['q NaN', { ...ok, q: NaN }],
    ['σ < 0', { ...ok, noiseMultiplier: -1 }],
    ['σ = ∞', { ...ok, noiseMultiplier: Infinity }],
    ['fractional steps', { ...ok, steps: 2.5 }],
    ['negative steps', { ...ok, steps: -1 }],
    ['δ = 0', { ...ok, delta: 0 }],
    ['δ = 1', { ...ok, delta: 1 }],
    ['δ NaN', { ...ok, delta: NaN }],
    ['no orders', { ...ok, orders: [] }],
    ['order 1', { ...ok, orders: [1, 2] }],
    ['order < 1', { ...ok, orders: [0.5] }],
    ['order NaN', { ...ok, orders: [NaN] }],
  ])('epsilonAfter refuses %s', (_, options) => {
    expect(codeOf(() => epsilonAfter(options))).toBe('bad-input');
  });

  it('names what was wrong', () => {
    expect(() => epsilonAfter({ ...ok, q: 2 })).toThrow(
      /q \(the sampling rate\) must be in \[0, 1\], got 2/,
    );
    expect(() => epsilonAfter({ ...ok, steps: 1.5 })).toThrow(/steps must be an integer >= 0/);
    expect(() => epsilonAfter({ ...ok, delta: 0 })).toThrow(/delta must be in \(0, 1\)/);
  });

  it('epsilonFromRdp refuses mismatched lengths and negative or NaN RDP', () => {
    expect(codeOf(() => epsilonFromRdp([0.1], [2, 3], 1e-5))).toBe('bad-input');
    expect(codeOf(() => epsilonFromRdp([-0.1], [2], 1e-5))).toBe('bad-input');
    expect(codeOf(() => epsilonFromRdp([NaN], [2], 1e-5))).toBe('bad-input');
  });

  it('roundsWithinBudget refuses a negative or infinite budget', () => {
    const base = { q: 0.01, noiseMultiplier: 1, delta: 1e-5 };
    for (const targetEpsilon of [-1, Infinity, NaN])
      expect(codeOf(() => roundsWithinBudget({ ...base, targetEpsilon }))).toBe('bad-input');
  });
});

describe('localrec dp-epsilon', () => {
  it('prints {"epsilon", "order"} as its last line', async () => {
    const run = await localrec(
      'dp-epsilon',
      '--q',
      '0.0025',
      '--noise',
      '1.3',
      '--steps',
      '6000',
      '--delta',
      '1e-5',
      '--orders',
      MNIST_ORDERS.join(','),
    );
    expect(run.code).toBe(0);
    expect(Object.keys(run.json)).toEqual(['epsilon', 'order']);
    expectRel(run.json.epsilon, 0.7242234026106222, 1e-9);
    expect(run.json.order).toBe(19);
    expect(run.stderr).toMatch(/ε = 0\.724223 at δ = 0\.00001 \(Rényi order 19\)/);

    const noNoise = await localrec(
      'dp-epsilon',
      '--q',
      '1',
      '--noise',
      '0',
      '--steps',
      '1',
      '--delta',
      '1e-5',
    );
    expect(noNoise.code).toBe(0);
    expect(noNoise.json).toEqual({ epsilon: null, order: null }); // JSON has no ∞
  });

  it('refuses bad input with a bad-input error, and shows --help', async () => {
    const bad = await localrec(
      'dp-epsilon',
      '--q',
      '1.5',
      '--noise',
      '1',
      '--steps',
      '10',
      '--delta',
      '1e-5',
    );
    expect(bad.code).toBe(1);
    expect(bad.json.error.code).toBe('bad-input');
    expect(bad.stderr).toMatch(/--q must be a number >= 0 <= 1, got '1.5'/);

    const missing = await localrec('dp-epsilon', '--q', '1', '--noise', '1', '--steps', '10');
    expect(missing.code).toBe(1);
    expect(missing.json.error.message).toMatch(/--delta is required/);

    const orders = await localrec(
      'dp-epsilon',
      '--q=1',
      '--noise=1',
      '--steps=1',
      '--delta=1e-5',
      '--orders=2,x',
    );
    expect(orders.json.error.code).toBe('bad-input');

    const help = await localrec('dp-epsilon', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/usage: localrec dp-epsilon --q/);
    expect(help.stdout).toMatch(/--delta <value>/);
  });
});
