/**
 * Rollouts on the whole local stack: uploads declare `rollout` in their metadata, messages go
 * through the Pub/Sub emulator to classifyImage, which routes them, counts per arm, and
 * judges at its flushes (ROLLOUT_FLUSH_INTERVAL 500 ms here, ROLLOUT_MIN_SAMPLES 10).
 *
 * - canary 30% of a good candidate (same weights, new name): 20–40% of answers from it, a
 *   redelivered message keeps its arm, promoted after the bake with its figures in history;
 * - shadow 50% of a candidate with shuffled labels: never served, agreement near 0, rolled back;
 * - canary of a candidate that fails on every image (its file deleted after the gate): stable
 *   answers its share, and it is rolled back on failure rate.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {after, before, describe, it} from 'node:test';
import {spawnSync} from 'node:child_process';
import {ROOT, startStack, type Stack} from '../../../scripts/lib/stack.js';
import {predictionId} from '../../src/core/prediction_id.js';
import {FIXTURES} from '../helpers/fixtures.js';
import {
  CONTRACT as contract,
  MOBILENET,
  PHOTOS,
  sleep,
  stackClients,
  type StackClients,
} from '../helpers/local_stack.js';

const LABELS = fs.readFileSync(path.join(FIXTURES, 'labels/ImageNetLabels.txt'), 'utf8');

interface Doc {
  label?: string;
  model_id: string;
  arm?: string;
  shadow?: {model_id: string; label?: string; agrees?: boolean; error?: {kind: string}};
  error?: {kind: string; message: string};
}
interface Record {
  model_id: string;
  rollout?: {
    state: string;
    reason: string | null;
    candidate: {model_id: string};
    figures: {candidate: {answers: number; failures: number}; agreement: number | null} | null;
  } | null;
}

describe('rollouts on the local stack', {timeout: 600_000}, () => {
  let stack: Stack;
  let c: StackClients;
  let db: StackClients['db'];
  let storage: StackClients['storage'];
  let stable = '';
  const upload = (name: string, bytes: Uint8Array, metadata: {[k: string]: string} = {}) =>
    c.uploadModel(name, bytes, metadata);
  const record = async () => (await db.doc('models/current').get()).data() as Record;
  const waitRecord = async (what: string, ok: (r: Record) => boolean, during?: () => Promise<unknown>) => {
    const deadline = Date.now() + 90_000;
    for (;;) {
      const r = await record();
      if (r && ok(r)) return r;
      if (Date.now() > deadline) assert.fail(`${what}: record is ${JSON.stringify(r).slice(0, 600)}`);
      await (during ? during() : sleep(300));
    }
  };
  const publish = (n: number, offset = 0) => c.publishPhotos(n, {offset});
  const results = (ids: string[]) => c.results<Doc>(ids);
  /** Pushes a message to classifyImage as the Pub/Sub emulator does (a redelivery is the same body again). */
  const push = async (messageId: string) => {
    const body = {
      subscription: `projects/${stack.info.projectId}/subscriptions/${stack.info.subscription}`,
      message: {
        data: Buffer.from(`gs://${stack.info.imagesBucket}/photos/${PHOTOS[0]}`).toString('base64'),
        messageId,
        publishTime: new Date().toISOString(),
      },
    };
    const url = `${stack.functions.classifyImage.url}projects/${stack.info.projectId}/topics/${stack.info.topic}`;
    const res = await fetch(url, {
      method: 'POST',
      headers: {'content-type': 'application/json'},
      body: JSON.stringify(body),
    });
    assert.ok(res.status < 300, `push answered ${res.status}`);
    return (await db.doc(`predictions/${predictionId(messageId)}`).get()).data() as Doc;
  };

  before(
    async () => {
      stack = await startStack({
        functionEnv: {ROLLOUT_FLUSH_INTERVAL: '500ms', ROLLOUT_MIN_SAMPLES: '10', MODEL_RELOAD_BACKOFF: '1s'},
      });
      c = await stackClients(stack);
      ({db, storage} = c);
      // The same 1000 labels in another order (no label keeps its place: 388 i ≡ 983 mod 1000
      // has no solution), `background` still first: every top-1 label changes, no score does.
      const [background, ...classes] = LABELS.trimEnd().split('\n');
      const shuffled = classes.map((_, i) => classes[(i * 389 + 17) % classes.length]!);
      await upload('labels/shuffled.txt', Buffer.from([background, ...shuffled].join('\n')));
      stable = await upload('models/mobilenet_v1.h5', MOBILENET, contract);
      await waitRecord('v1 current', r => r.model_id === stable);
    },
    {timeout: 120_000}
  );

  after(async () => {
    await c?.close();
    await stack?.stop();
  });

  it('canary 30%: about 30% answered by the candidate, redeliveries keep their arm, promoted after the bake', async () => {
    const candidate = await upload('models/mobilenet_v1_canary.h5', MOBILENET, {
      ...contract,
      rollout: 'canary:30',
      // More candidate samples than the stream below gives (~45), so that it bakes throughout.
      bake_samples: '80',
      bake_seconds: '2',
    });
    await waitRecord('canary baking', r => r.rollout?.state === 'baking' && r.rollout.candidate.model_id === candidate);
    // A redelivery is the same push again: it must land on the same arm (and overwrite its document).
    for (let i = 0; i < 8; i++) {
      const first = await push(`redelivered-${i}`);
      const again = await push(`redelivered-${i}`);
      assert.equal(again.arm, first.arm, `redelivered-${i}`);
      assert.equal(again.model_id, first.model_id);
    }
    const docs = await results(await publish(150));
    const fromCandidate = docs.filter(d => d.arm === 'candidate');
    assert.ok(
      docs.every(d => d.label && d.arm),
      'every answer names its arm'
    );
    assert.ok(fromCandidate.every(d => d.model_id === candidate));
    assert.ok(docs.filter(d => d.arm === 'stable').every(d => d.model_id === stable));
    const share = fromCandidate.length / docs.length;
    assert.ok(share >= 0.2 && share <= 0.4, `${(share * 100).toFixed(1)}% from the candidate`);
    const promoted = await waitRecord(
      'canary promoted',
      r => r.model_id === candidate,
      async () => results(await publish(5)) // each round answered before the next: nothing left in flight
    );
    assert.equal(promoted.rollout?.state, 'promoted');
    assert.match(promoted.rollout!.reason!, /baked \d+ samples/);
    const history = (
      await db.collection('models/current/history').where('model_id', '==', candidate).get()
    ).docs[0]!.data();
    assert.equal(history['rollout'].state, 'promoted');
    assert.ok(history['rollout'].figures.candidate.answers >= 30);
    stable = candidate;
  });

  it('shadow 50% of shuffled labels: never served, agreement near 0, rolled back with the reason in history', async () => {
    const candidate = await upload('models/mobilenet_v1_shuffled.h5', MOBILENET, {
      scale: '-1,1',
      labels: 'labels/shuffled.txt',
      rollout: 'shadow:50',
      bake_samples: '1000',
    });
    await waitRecord('shadow baking', r => r.rollout?.state === 'baking' && r.rollout.candidate.model_id === candidate);
    const docs = await results(await publish(60));
    // No answer comes from the shadow candidate: stable's (arm 'stable' while the shadow bakes,
    // none after its rollback).
    assert.deepEqual(
      docs.filter(d => d.model_id === candidate || (d.arm ?? 'stable') !== 'stable'),
      [],
      'a message was answered by the shadow candidate'
    );
    assert.ok(docs.every(d => d.model_id === stable));
    const shadowed = docs.filter(d => d.shadow);
    assert.ok(
      shadowed.length >= 10,
      `${shadowed.length} shadowed (at least ROLLOUT_MIN_SAMPLES before the rollback): ${JSON.stringify(docs.slice(0, 2))} ${JSON.stringify(await record()).slice(0, 1500)}`
    );
    assert.ok(shadowed.every(d => d.shadow!.model_id === candidate && d.shadow!.agrees === false));
    const after = await waitRecord(
      'shadow rolled back',
      r => r.rollout?.state === 'rolled_back',
      async () => results(await publish(5)) // each round answered before the next: nothing left in flight
    );
    assert.equal(after.model_id, stable);
    assert.match(after.rollout!.reason!, /agreement 0\.0% with stable/);
    assert.equal(after.rollout!.figures!.agreement, 0);
    const history = (
      await db.collection('models/current/history').where('model_id', '==', candidate).get()
    ).docs[0]!.data();
    assert.equal(history['status'], 'rolled_back');
    assert.match(history['reason'], /^rolled_back: agreement/);
    // npm run status shows the rollout: mode, percent, per-arm counts, agreement, state, reason.
    const status = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'scripts/models.ts', 'status', '--project', stack.info.projectId],
      {cwd: ROOT, encoding: 'utf8'}
    );
    assert.equal(status.status, 0, status.stderr);
    assert.match(
      status.stdout,
      /rollout: shadow 50% of .*mobilenet_v1_shuffled\.h5#\d+, rolled_back \(agreement 0\.0% with stable/
    );
    assert.match(status.stdout, /^ {2}stable +\d+ answers, 0 failures, p50 [\d.]+ ms, p99 [\d.]+ ms$/m);
    assert.match(status.stdout, /^ {2}agreement 0\.0% of \d+ compared, mean top-1 score difference 0\.000$/m);
  });

  it('a candidate that fails on every image (its file is gone) is rolled back on failure rate; stable answers meanwhile', async () => {
    const name = 'models/mobilenet_v1_vanishing.h5';
    const candidate = await upload(name, MOBILENET, {...contract, rollout: 'canary:50', bake_samples: '1000'});
    await waitRecord(
      'failing canary baking',
      r => r.rollout?.state === 'baking' && r.rollout.candidate.model_id === candidate
    );
    // Deleted after the gate accepted it: every load of it fails from now on.
    await storage.bucket(stack.info.modelsBucket).file(name).delete();
    const docs = await results(await publish(60));
    assert.ok(
      docs.every(d => d.label && d.model_id === stable),
      'stable answered every message'
    );
    const failed = docs.filter(d => (d as {candidate_error?: {kind: string}}).candidate_error);
    assert.ok(
      failed.length >= 10,
      `${failed.length} messages of the candidate's share (at least ROLLOUT_MIN_SAMPLES before the rollback)`
    );
    assert.ok(
      failed.every(d => (d as {candidate_error?: {kind: string}}).candidate_error!.kind === 'model_unavailable')
    );
    const after = await waitRecord(
      'failing canary rolled back',
      r => r.rollout?.state === 'rolled_back',
      async () => results(await publish(5))
    );
    assert.equal(after.model_id, stable);
    assert.match(after.rollout!.reason!, /failure rate 100\.0% against stable's 0\.0%/);
  });
});
