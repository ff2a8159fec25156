import {describe, it} from 'node:test';
import assert from 'node:assert/strict';
import {ModelCache, ModelUnavailableError} from '../../../src/model/model_cache.js';
import type {Classifier} from '../../../src/core/ports.js';
import type {CurrentModel} from '../../../src/core/model_record.js';
import {memoryLogger} from '../../../src/core/log.js';

function record(id: string): CurrentModel {
  return {model_id: id, model_name: id.replace(/\W/g, '_')} as CurrentModel;
}

/** A fake loader whose loads finish when the test says so. */
function loader() {
  const pending = new Map<string, {resolve: (m: Classifier) => void; reject: (e: Error) => void}>();
  const disposed: string[] = [];
  let calls = 0;
  const load = (r: CurrentModel) =>
    new Promise<Classifier>((resolve, reject) => {
      calls++;
      pending.set(r.model_id, {resolve, reject});
    });
  const finish = (id: string) =>
    pending.get(id)!.resolve({name: id, byteSize: 1, dispose: () => disposed.push(id)} as unknown as Classifier);
  const fail = (id: string) => pending.get(id)!.reject(new Error(`broken ${id}`));
  return {load, finish, fail, disposed, calls: () => calls};
}

const tick = () => new Promise(r => setImmediate(r));

describe('ModelCache', () => {
  it('never goes back to an older snapshot of the record, but follows a rollback', async () => {
    const l = loader();
    const cache = new ModelCache(l.load, {backoffMs: 1000, logger: memoryLogger()});
    const at = (id: string, revision: string): CurrentModel => ({...record(id), revision});
    const first = cache.acquire(at('v1', '000001767225601.000000001'));
    await tick();
    l.finish('v1');
    (await first).release();
    (await cache.acquire(at('v2', '000001767225601.000000002'))).release(); // starts loading v2
    l.finish('v2');
    await tick();
    // A late invocation still holding the v1 snapshot is served v2, and nothing reloads v1.
    const late = await cache.acquire(at('v1', '000001767225601.000000001'));
    assert.equal(late.record.model_id, 'v2');
    assert.equal(late.stale, false);
    late.release();
    assert.equal(l.calls(), 2);
    // A rollback to v1 is a new revision of the record: the cache follows it.
    (await cache.acquire(at('v1', '000001767225602.000000000'))).release();
    l.finish('v1');
    await tick();
    assert.equal(cache.activeModelId, 'v1');
    assert.equal(l.calls(), 3);
  });

  it('shares one load among concurrent first requests', async () => {
    const l = loader();
    const cache = new ModelCache(l.load, {backoffMs: 1000, logger: memoryLogger()});
    const leases = Array.from({length: 10}, () => cache.acquire(record('a')));
    await tick();
    l.finish('a');
    const got = await Promise.all(leases);
    assert.equal(l.calls(), 1);
    assert.ok(got.every(g => g.record.model_id === 'a' && !g.stale));
  });

  it('keeps serving the old model while the new one loads, then swaps; disposes the old one after its last lease', async () => {
    const l = loader();
    const cache = new ModelCache(l.load, {backoffMs: 1000, logger: memoryLogger()});
    const first = cache.acquire(record('a'));
    await tick();
    l.finish('a');
    const held = await first;
    const during = await cache.acquire(record('b'));
    assert.equal(during.record.model_id, 'a');
    assert.equal(during.stale, true);
    l.finish('b');
    await tick();
    const after = await cache.acquire(record('b'));
    assert.equal(after.record.model_id, 'b');
    assert.deepEqual(l.disposed, []); // 'a' still leased twice
    during.release();
    held.release();
    assert.deepEqual(l.disposed, ['a']);
    after.release();
    assert.equal(cache.activeModelId, 'b');
  });

  it('keeps the old model after a failed load and retries only after the back-off', async () => {
    const l = loader();
    let now = 0;
    const cache = new ModelCache(l.load, {backoffMs: 1000, logger: memoryLogger(), now: () => now});
    const first = cache.acquire(record('a'));
    await tick();
    l.finish('a');
    (await first).release();
    (await cache.acquire(record('b'))).release();
    l.fail('b');
    await tick();
    assert.equal(cache.stats.failedLoads, 1);
    for (let i = 0; i < 5; i++) assert.equal((await cache.acquire(record('b'))).record.model_id, 'a');
    assert.equal(l.calls(), 2);
    now = 1500;
    (await cache.acquire(record('b'))).release();
    assert.equal(l.calls(), 3);
  });

  it('fails as unavailable when there is no model at all and the load fails', async () => {
    const l = loader();
    const cache = new ModelCache(l.load, {backoffMs: 1000, logger: memoryLogger()});
    const p = cache.acquire(record('a'));
    await tick();
    l.fail('a');
    await assert.rejects(p, ModelUnavailableError);
    await assert.rejects(cache.acquire(record('a')), /retrying after the back-off/);
  });

  it('never swaps back to an older model whose load finished late', async () => {
    const l = loader();
    const cache = new ModelCache(l.load, {backoffMs: 1000, logger: memoryLogger()});
    const first = cache.acquire(record('a'));
    await tick();
    l.finish('a');
    (await first).release();
    (await cache.acquire(record('b'))).release();
    (await cache.acquire(record('c'))).release();
    l.finish('c');
    await tick();
    l.finish('b');
    await tick();
    assert.equal(cache.activeModelId, 'c');
    assert.ok(l.disposed.includes('b'));
  });
});
