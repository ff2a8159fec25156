/**
 * The rollout side of the Firestore registry on the emulator: a version that declares a
 * rollout starts one beside the stable model; several instances' totals are merged when it
 * is judged; a decision is written to the record and to the candidate's history entry;
 * `npm run rollout`'s start, promote and abort; a rolled-back version is not promoted again
 * by a redelivered event. Registry transactions read documents, never a
 * query: on the emulator a query's lock spans every collection of that name.
 */
import assert from 'node:assert/strict';
import {describe, it} from 'node:test';
import {DocumentReference, Transaction} from '@google-cloud/firestore';
import {firestoreRegistry} from '../../src/adapters/firestore_registry.js';
import {historyId, type ModelRecord} from '../../src/core/model_record.js';
import {DEFAULT_THRESHOLDS, judge} from '../../src/core/rollout.js';
import {count, emptyCounts} from '../../src/core/rollout_counts.js';
import {EMULATORS, firestore, unique} from '../helpers/emulators.js';

function version(n: number, rollout: string | null = null): ModelRecord {
  return {
    model_id: `gs://m/v${n}.h5#${n}`,
    model_name: `v${n}`,
    bucket: 'm',
    name: `v${n}.h5`,
    generation: String(n),
    metageneration: '1',
    updated: new Date(Date.UTC(2026, 0, 1) + n * 1000).toISOString(),
    size: 1,
    md5Hash: null,
    content_type: null,
    event_id: `e${n}`,
    input_scale: '0,1',
    labels: null,
    input_shape: [2, 2, 3],
    output_width: 3,
    status: 'accepted',
    reason: null,
    rollout_plan: rollout ? {mode: 'canary', percent: 50, bake_samples: 10, bake_seconds: 0} : null,
  };
}

describe('rollouts in the Firestore registry (emulator)', {skip: !EMULATORS && 'emulators not running'}, () => {
  const now = new Date('2026-06-01T00:00:00Z');
  const judgeNow = (r: Parameters<typeof judge>[0], m: Parameters<typeof judge>[1]) =>
    judge(r, m, DEFAULT_THRESHOLDS, now);

  it('starts a rollout, merges two instances, promotes, and records the decision in history', async () => {
    const db = firestore();
    const store = firestoreRegistry(db, {modelsCollection: unique('models'), currentDocument: 'current'});
    await store.recordVersion(version(1), 'test', now);
    const started = await store.recordVersion(version(2, 'canary:50'), 'test', now);
    assert.equal(started.decision, 'start_rollout');
    assert.equal((await store.current())!.model_id, version(1).model_id);
    // The same event again: nothing restarts.
    assert.equal((await store.recordVersion(version(2, 'canary:50'), 'test', now)).decision, 'duplicate');
    const half = emptyCounts();
    for (let i = 0; i < 6; i++) {
      count(half.stable, {latencyMs: 5});
      count(half.candidate, {latencyMs: 5});
    }
    const candidate = version(2).model_id;
    assert.equal((await store.reportRollout('a', candidate, half, judgeNow, now))?.decision, 'wait'); // 6 < 10
    assert.equal((await store.reportRollout('a', candidate, half, judgeNow, now))?.decision, 'wait'); // idempotent
    // A report whose share says no stores its totals and judges nothing (the count query saw both instances).
    const asked: number[] = [];
    const no = (n: number) => {
      asked.push(n);
      return false;
    };
    assert.equal((await store.reportRollout('b', candidate, half, judgeNow, now, no))?.decision, 'wait');
    assert.deepEqual(asked, [2]);
    assert.equal((await store.current())!.model_id, version(1).model_id, 'not judged');
    assert.equal((await store.rolloutCounts(candidate)).candidate.answers, 12, 'but stored');
    const verdict = await store.reportRollout('b', candidate, half, judgeNow, now, () => true); // 12 ≥ 10
    assert.equal(verdict?.decision, 'promote');
    const current = (await store.current())!;
    assert.equal(current.model_id, candidate);
    assert.equal(current.rollout?.state, 'promoted');
    assert.equal(current.rollout?.figures?.candidate.answers, 12);
    const entry = await store.historyEntry(version(2));
    assert.equal((entry as unknown as {rollout: {state: string}}).rollout.state, 'promoted');
    assert.equal((await store.rolloutCounts(candidate)).candidate.answers, 12);
    await db.terminate();
  });

  it('aborts by hand; the rolled-back version is never promoted by its event again', async () => {
    const db = firestore();
    const store = firestoreRegistry(db, {modelsCollection: unique('models'), currentDocument: 'current'});
    await store.recordVersion(version(1), 'test', now);
    await store.recordVersion(version(3), 'test', now); // accepted, current
    await assert.rejects(store.endRollout('abort', 'test', now), /no rollout is baking/);
    await store.rollback('test', now); // v1 current (pinned): v3 is rolled out again by hand
    const rolling = await store.startRollout(
      version(3).model_id,
      {mode: 'shadow', percent: 20, bake_samples: 5, bake_seconds: 0},
      'me',
      now
    );
    assert.equal(rolling.rollout?.state, 'baking');
    const aborted = await store.endRollout('abort', 'me', now);
    assert.equal(aborted.model_id, version(1).model_id);
    assert.equal(aborted.rollout?.state, 'aborted');
    const entry = (await store.historyEntry(version(3)))!;
    assert.equal(entry.status, 'rolled_back');
    // Its finalize event redelivered: the stored verdict stands.
    assert.equal((await store.recordVersion(entry, 'redelivery', now)).decision, 'rejected');
    await db.terminate();
  });

  it('reads documents only in its transactions, never a query (which would lock every history collection)', async () => {
    const db = firestore();
    const store = firestoreRegistry(db, {modelsCollection: unique('models'), currentDocument: 'current'});
    const reads: string[] = [];
    const get = Transaction.prototype.get;
    const original = get as unknown as (this: Transaction, ref: unknown) => Promise<unknown>;
    Transaction.prototype.get = function (this: Transaction, ref: unknown) {
      reads.push(ref instanceof DocumentReference ? 'document' : 'query');
      return original.call(this, ref);
    } as unknown as typeof get;
    try {
      await store.recordVersion(version(1), 'test', now);
      await store.recordVersion(version(2), 'test', now);
      assert.equal((await store.rollback('test', now)).model_id, version(1).model_id);
      assert.equal((await store.pin(version(2).model_id, 'test', now)).model_id, version(2).model_id);
      assert.equal((await store.unpin('test', now)).model_id, version(2).model_id);
      await store.startRollout(
        version(1).model_id,
        {mode: 'canary', percent: 50, bake_samples: 10, bake_seconds: 0},
        'me',
        now
      );
      assert.equal(
        (await store.reportRollout('a', version(1).model_id, emptyCounts(), judgeNow, now))?.decision,
        'wait'
      );
      assert.equal((await store.endRollout('abort', 'me', now)).rollout?.state, 'aborted');
    } finally {
      Transaction.prototype.get = get;
    }
    assert.ok(reads.length >= 6, `${reads.length} transactional reads`);
    assert.deepEqual([...new Set(reads)], ['document']);
    await db.terminate();
  });

  it('re-reads what it picked: a version rolled back between its query and its transaction is passed over', async () => {
    const db = firestore();
    const models = unique('models');
    const store = firestoreRegistry(db, {modelsCollection: models, currentDocument: 'current'});
    for (const n of [1, 2, 3]) await store.recordVersion(version(n), 'test', now);
    // The first transaction starts only after v2, the newest older version, has left `accepted`.
    const run = db.runTransaction.bind(db);
    let first = true;
    db.runTransaction = (async (...args: Parameters<typeof run>) => {
      if (first) {
        first = false;
        const v2 = db
          .collection(models)
          .doc('current')
          .collection('history')
          .doc(historyId(version(2)));
        assert.equal((await v2.get()).data()?.['status'], 'accepted');
        await v2.update({status: 'rolled_back'});
      }
      return run(...args);
    }) as typeof run;
    assert.equal((await store.rollback('test', now)).model_id, version(1).model_id);
    await db.terminate();
  });
});
