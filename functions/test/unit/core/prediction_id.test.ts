import assert from 'node:assert/strict';
import {describe, it} from 'node:test';
import {predictionId} from '../../../src/core/prediction_id.js';

describe('predictionId', () => {
  it('spreads consecutive message ids over the key range, keeps the id, and is stable', () => {
    const ids = Array.from({length: 1600}, (_, i) => String(8_000_000_000_000_000 + i)); // Pub/Sub-like, sequential
    const keys = ids.map(predictionId);
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
});
