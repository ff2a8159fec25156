import assert from 'node:assert/strict';
import {describe, it} from 'node:test';
import {predictionId} from '../../../src/core/prediction_id.js';

describe('predictionId', () => {
  it('spreads consecutive message ids over the key range, keeps the id, and is stable', () => {
    const ids = Array.from({length: 1600}, (_, i) => String(8_000_000_000_000_000 + i)); // Pub/Sub-like, sequential
    const keys = ids.map(id => predictionId(id));
    assert.equal(predictionId(ids[0]!), keys[0]);
    keys.forEach((k, i) => assert.match(k, new RegExp(`^[0-9a-f]{8}-${ids[i]}$`)));
    // Neighbours land far apart: every leading hex digit gets its share (100 of 1600 expected).
    const buckets = new Map<string, number>();
    for (const k of keys) buckets.set(k[0]!, (buckets.get(k[0]!) ?? 0) + 1);
    assert.equal(buckets.size, 16);
    for (const [digit, n] of buckets) assert.ok(n > 60 && n < 140, `${digit}: ${n}`);
    const sorted = [...keys].sort();
    assert.notDeepEqual(sorted.slice(0, 10), keys.slice(0, 10));
  });

  it('gives each image of a batch its own id (message id + index), spread, and the same on redelivery', () => {
    const keys = Array.from({length: 500}, (_, i) => predictionId('8000000000000000', i));
    keys.forEach((k, i) => assert.match(k, new RegExp(`^[0-9a-f]{8}-8000000000000000-${i}$`)));
    assert.equal(new Set(keys).size, 500);
    assert.equal(predictionId('8000000000000000', 7), keys[7]);
    assert.ok(!keys.includes(predictionId('8000000000000000')));
    assert.equal(new Set(keys.map(k => k[0])).size, 16);
  });
});
