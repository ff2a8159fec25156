import {describe, it} from 'node:test';
import assert from 'node:assert/strict';
import {ModelCache} from '../../../src/model/model_cache.js';
import type {Classifier} from '../../../src/core/ports.js';
import type {CurrentModel} from '../../../src/core/model_record.js';
import {memoryLogger} from '../../../src/core/log.js';

const record = (id: string): CurrentModel => ({model_id: id, model_name: id}) as CurrentModel;

/** Loads that finish at once, with the byte size the test gives; records disposals. */
function models(bytes: Record<string, number>) {
  const disposed: string[] = [];
  const loads: string[] = [];
  const load = async (r: CurrentModel, key: string) => {
    loads.push(`${key}:${r.model_id}`);
    return {
      name: r.model_id,
      byteSize: bytes[r.model_id] ?? 1,
      dispose: () => disposed.push(r.model_id),
    } as unknown as Classifier;
  };
  return {load, disposed, loads};
}

const tick = () => new Promise(r => setImmediate(r));

describe('ModelCache with model keys', () => {
  it('serves several keys side by side, each with its own model', async () => {
    const m = models({});
    const cache = new ModelCache(m.load, {backoffMs: 1000, logger: memoryLogger(), keyed: true});
    const a = await cache.acquire(record('a1'), 'a');
    const b = await cache.acquire(record('b1'), 'b');
    assert.equal(a.record.model_id, 'a1');
    assert.equal(b.record.model_id, 'b1');
    a.release();
    b.release();
    // Rolling key a does not touch key b.
    (await cache.acquire(record('a2'), 'a')).release();
    await tick();
    assert.deepEqual(
      cache.cached().map(c => `${c.key}:${c.model_id}`),
      ['b:b1', 'a:a2']
    );
    assert.deepEqual(m.disposed, ['a1']);
  });

  it('evicts the least recently used key past MAX_CACHED_MODELS', async () => {
    const m = models({});
    const logger = memoryLogger();
    const cache = new ModelCache(m.load, {backoffMs: 1000, logger, maxModels: 2, keyed: true});
    (await cache.acquire(record('a1'), 'a')).release();
    (await cache.acquire(record('b1'), 'b')).release();
    (await cache.acquire(record('a1'), 'a')).release(); // a is now the most recent
    (await cache.acquire(record('c1'), 'c')).release();
    assert.deepEqual(
      cache.cached().map(c => c.key),
      ['a', 'c']
    );
    assert.deepEqual(m.disposed, ['b1']);
    assert.equal(cache.stats.evictions, 1);
    const line = logger.entries.find(e => e['outcome'] === 'evicted');
    assert.equal(line?.['model_key'], 'b');
    // b comes back with a fresh load.
    (await cache.acquire(record('b1'), 'b')).release();
    assert.deepEqual(m.loads, ['a:a1', 'b:b1', 'c:c1', 'b:b1']);
  });

  it('evicts by weight bytes under MODEL_CACHE_BYTES, and keeps one model larger than the budget', async () => {
    const m = models({a1: 60, b1: 50, big: 500});
    const cache = new ModelCache(m.load, {backoffMs: 1000, logger: memoryLogger(), maxBytes: 100});
    (await cache.acquire(record('a1'), 'a')).release();
    (await cache.acquire(record('b1'), 'b')).release(); // 110 bytes: a goes
    assert.deepEqual(
      cache.cached().map(c => c.key),
      ['b']
    );
    (await cache.acquire(record('big'), 'c')).release(); // alone over the budget: still serves
    assert.deepEqual(
      cache.cached().map(c => c.model_id),
      ['big']
    );
    assert.deepEqual(m.disposed, ['a1', 'b1']);
  });

  it('never disposes an evicted model under a request that still uses it', async () => {
    const m = models({});
    const cache = new ModelCache(m.load, {backoffMs: 1000, logger: memoryLogger(), maxModels: 1});
    const inFlight = await cache.acquire(record('a1'), 'a');
    (await cache.acquire(record('b1'), 'b')).release(); // evicts a while its lease is out
    assert.deepEqual(m.disposed, []);
    assert.equal(inFlight.classifier.name, 'a1'); // the request finishes on its model
    inFlight.release();
    assert.deepEqual(m.disposed, ['a1']);
  });

  it('does not evict a key whose model is still loading', async () => {
    let finishA: (c: Classifier) => void = () => {};
    const disposed: string[] = [];
    const load = (r: CurrentModel) =>
      r.model_id === 'a1'
        ? new Promise<Classifier>(resolve => (finishA = resolve))
        : Promise.resolve({
            name: r.model_id,
            byteSize: 1,
            dispose: () => disposed.push(r.model_id),
          } as unknown as Classifier);
    const cache = new ModelCache(load, {backoffMs: 1000, logger: memoryLogger(), maxModels: 1});
    const a = cache.acquire(record('a1'), 'a');
    (await cache.acquire(record('b1'), 'b')).release(); // a is loading: b stays over the bound for now
    assert.equal(disposed.length, 0);
    finishA({name: 'a1', byteSize: 1, dispose: () => disposed.push('a1')} as unknown as Classifier);
    (await a).release(); // a serves; b, the least recently used, goes
    assert.deepEqual(disposed, ['b1']);
    assert.deepEqual(
      cache.cached().map(c => c.key),
      ['a']
    );
  });

  it('CUTOVER=consistent: waits for the new model instead of the old, and gives up after the bound', async () => {
    let finish: (c: Classifier) => void = () => {};
    const load = (r: CurrentModel) =>
      r.model_id === 'v2'
        ? new Promise<Classifier>(resolve => (finish = resolve))
        : Promise.resolve({name: r.model_id, byteSize: 1, dispose: () => {}} as unknown as Classifier);
    const cache = new ModelCache(load, {backoffMs: 1000, logger: memoryLogger(), consistentWaitMs: 200});
    (await cache.acquire(record('v1'))).release();
    const waiting = cache.acquire(record('v2'));
    await tick();
    finish({name: 'v2', byteSize: 1, dispose: () => {}} as unknown as Classifier);
    assert.equal((await waiting).record.model_id, 'v2'); // not v1 while v2 loaded
    // A load that never ends: the request gives up after the bound (and is redelivered).
    const never = new ModelCache(
      (r: CurrentModel) => (r.model_id === 'v2' ? new Promise<Classifier>(() => {}) : load(r)),
      {backoffMs: 1000, logger: memoryLogger(), consistentWaitMs: 50}
    );
    (await never.acquire(record('v1'))).release();
    await assert.rejects(never.acquire(record('v2')), /still loading after 50 ms \(CUTOVER=consistent\)/);
  });

  it('a promoted candidate moves to its key without a second load (no stale answers meanwhile)', async () => {
    const m = models({});
    const cache = new ModelCache(m.load, {backoffMs: 1000, logger: memoryLogger()});
    (await cache.acquire(record('v1'), 'current')).release();
    const inFlight = await cache.acquire(record('v2'), 'current#candidate');
    const promoted = await cache.acquire(record('v2'), 'current'); // no wait, no load
    assert.equal(promoted.classifier, inFlight.classifier);
    assert.equal(promoted.stale, false);
    assert.deepEqual(m.loads, ['current:v1', 'current#candidate:v2']);
    assert.deepEqual(m.disposed, ['v1']);
    inFlight.release();
    promoted.release();
    assert.deepEqual(m.disposed, ['v1']); // v2 still serves
    assert.deepEqual(
      cache.cached().map(c => `${c.key}:${c.model_id}`),
      ['current:v2']
    );
  });
});
