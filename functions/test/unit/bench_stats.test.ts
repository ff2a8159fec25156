import assert from 'node:assert/strict';
import {describe, it} from 'node:test';
import {median, pct, round, span} from '../../../scripts/lib/stats.js';

describe('the benches’ statistics (scripts/lib/stats.ts)', () => {
  it('takes nearest-rank percentiles of unsorted values without reordering them', () => {
    const xs = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6];
    assert.equal(pct(xs, 50), 5);
    assert.equal(pct(xs, 90), 9);
    assert.equal(pct(xs, 99), 10);
    assert.equal(pct(xs, 100), 10);
    assert.equal(pct(xs, 0), 1);
    assert.deepEqual(xs, [5, 1, 4, 2, 3, 10, 9, 8, 7, 6]);
    assert.ok(Number.isNaN(pct([], 50)));
  });

  it('gives the lower middle value as the median of an even count', () => {
    assert.equal(median([4, 1, 3, 2]), 2);
    assert.equal(median([3, 1, 2]), 2);
  });

  it('rounds to the digits asked for and spans a list', () => {
    assert.equal(round(1.23456, 2), 1.23);
    assert.equal(round(1.25, 1), 1.3);
    assert.equal(round(221.84, 0), 222);
    assert.deepEqual(span([1.514, 1.333, 1.589], 2), [1.33, 1.59]);
  });
});
