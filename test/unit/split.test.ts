import { describe, expect, it } from 'vitest';
import { leaveOneOut, stageInput, stageTarget } from '../../src/core/split.ts';
import { IdMap } from '../../src/core/id-map.ts';
import type { Interaction } from '../../src/core/types.ts';

const ev = (user: string, item: string, timestamp: number): Interaction => ({
  user,
  item,
  timestamp,
});

describe('IdMap', () => {
  it('assigns 1.. in order of first sight, 0 = padding', () => {
    const m = IdMap.from(['x', 'y', 'x', 'z']);
    expect(m.size).toBe(3);
    expect(m.ids).toEqual(['', 'x', 'y', 'z']);
    expect(m.get('y')).toBe(2);
    expect(m.get('nope')).toBe(0);
    expect(m.has('z')).toBe(true);
    expect(m.id(3)).toBe('z');
    expect(m.add('w')).toBe(4);
  });
});

describe('leaveOneOut', () => {
  it('indexes items by first appearance in the file, not by time', () => {
    const s = leaveOneOut([ev('u', 'b', 5), ev('u', 'a', 1), ev('v', 'c', 0), ev('u', 'c', 9)]);
    expect(s.numItems).toBe(3);
    expect(s.itemIds).toEqual(['', 'b', 'a', 'c']);
    // u in time order: a(1) b(5) c(9) → train [a], valid b, test c
    expect(s.users[0]).toEqual({ user: 'u', train: Int32Array.of(2), valid: 1, test: 3 });
  });

  it('keeps file order among equal timestamps (stable sort)', () => {
    const s = leaveOneOut([
      ev('u', 'i1', 10),
      ev('u', 'i2', 5),
      ev('u', 'i3', 10),
      ev('u', 'i4', 5),
      ev('u', 'i5', 10),
    ]);
    // time order: i2(5) i4(5) i1(10) i3(10) i5(10)
    const u = s.users[0]!;
    expect([...u.train]).toEqual([2, 4, 1]);
    expect(u.valid).toBe(3);
    expect(u.test).toBe(5);
  });

  it('marks runs of equal timestamps in the training part (and only there)', () => {
    const t = [1, 5, 5, 5, 7, 8, 8, 9, 9, 9];
    const split = leaveOneOut(t.map((ts, i) => ({ user: 'u', item: `i${i}`, timestamp: ts })));
    const u = split.users[0]!;
    // train = 8 positions [1,5,5,5,7,8,8,9]; the final 9,9 are valid and test.
    expect(Array.from(u.trainTies!)).toEqual([0, 3, 0, 0, 0, 2, 0, 0]);
    const noTies = leaveOneOut(
      [1, 2, 3, 4].map((ts) => ({ user: 'v', item: `x${ts}`, timestamp: ts })),
    );
    expect(noTies.users[0]!.trainTies).toBeUndefined();
  });

  it('makes users with fewer than 3 events train-only and keeps user order', () => {
    const s = leaveOneOut([
      ev('late', 'a', 3),
      ev('one', 'b', 1),
      ev('two', 'a', 2),
      ev('two', 'c', 1),
      ev('late', 'b', 1),
      ev('late', 'c', 2),
    ]);
    expect(s.users.map((u) => u.user)).toEqual(['late', 'one', 'two']);
    expect(s.users[1]).toEqual({ user: 'one', train: Int32Array.of(2), valid: 0, test: 0 });
    expect(s.users[2]).toEqual({ user: 'two', train: Int32Array.of(3, 1), valid: 0, test: 0 });
    expect(s.users[0]).toEqual({ user: 'late', train: Int32Array.of(2), valid: 3, test: 1 });
  });

  it('keeps repeated items and appends unseen extra items after event items', () => {
    const s = leaveOneOut([ev('u', 'a', 1), ev('u', 'a', 2), ev('u', 'b', 3), ev('u', 'a', 4)], {
      extraItems: ['b', 'z', 'y', 'z'],
    });
    expect(s.itemIds).toEqual(['', 'a', 'b', 'z', 'y']);
    expect(s.numItems).toBe(4);
    expect(s.users[0]).toEqual({ user: 'u', train: Int32Array.of(1, 1), valid: 2, test: 1 });
  });

  it('handles an empty event list', () => {
    expect(leaveOneOut([])).toEqual({ numItems: 0, itemIds: [''], users: [] });
  });

  it('gives stage inputs and targets', () => {
    const s = leaveOneOut([ev('u', 'a', 1), ev('u', 'b', 2), ev('u', 'c', 3), ev('u', 'd', 4)]);
    const u = s.users[0]!;
    expect([...stageInput(u, 'valid')]).toEqual([1, 2]);
    expect([...stageInput(u, 'test')]).toEqual([1, 2, 3]);
    expect(stageTarget(u, 'valid')).toBe(3);
    expect(stageTarget(u, 'test')).toBe(4);
    const short = leaveOneOut([ev('u', 'a', 1)]).users[0]!;
    expect([...stageInput(short, 'test')]).toEqual([1]);
    expect(stageTarget(short, 'test')).toBe(0);
  });
});
