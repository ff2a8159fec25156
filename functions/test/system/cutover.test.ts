/**
 * CUTOVER=consistent on the local stack, with two classifyImage processes behind the push
 * endpoint (a round-robin balancer, as Cloud Run's URL): while messages stream, a new
 * version is promoted; no message published after the promotion's commit (the record's
 * update time) is answered by the old model. Each instance waits for the new model (or lets
 * Pub/Sub redeliver) instead of answering with the one it replaces.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {after, before, describe, it} from 'node:test';
import {Firestore} from '@google-cloud/firestore';
import {PubSub, type Topic} from '@google-cloud/pubsub';
import {Storage} from '@google-cloud/storage';
import {startStack, type Stack} from '../../../scripts/lib/stack.js';
import {mobileNetV2H5} from '../../../scripts/lib/mobilenet_v2.js';
import {upload as uploadObject} from '../helpers/emulators.js';
import {predictionId} from '../../src/core/prediction_id.js';

const FIXTURES = process.env['FIXTURES_DIR']!;
const MOBILENET = fs.readFileSync(path.join(FIXTURES, 'models/keras2/mobilenet_v1_0.25_224_imagenet.h5'));
const PHOTOS = fs.readdirSync(path.join(FIXTURES, 'images')).sort();
const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

describe('CUTOVER=consistent with two classifyImage instances', {timeout: 300_000}, () => {
  let stack: Stack;
  let db: Firestore;
  let storage: Storage;
  let pubsub: PubSub;
  let topic: Topic;
  const upload = async (name: string, bytes: Buffer, metadata: Record<string, string> = {}) => {
    const o = await uploadObject(storage, stack.info.modelsBucket, name, bytes, metadata);
    return `gs://${o.bucket}/${name}#${o.generation}`;
  };
  const contract = {scale: '-1,1', labels: 'labels/ImageNetLabels.txt'};
  const publish = (i: number) =>
    topic.publishMessage({data: Buffer.from(`gs://${stack.info.imagesBucket}/photos/${PHOTOS[i % PHOTOS.length]}`)});
  const results = async (ids: string[]) => {
    const deadline = Date.now() + 120_000;
    for (;;) {
      const snaps = await db.getAll(...ids.map(id => db.collection('predictions').doc(predictionId(id))));
      if (snaps.every(s => s.exists)) return snaps.map(s => s.data() as {model_id: string; label?: string});
      if (Date.now() > deadline) assert.fail(`${snaps.filter(s => s.exists).length} of ${ids.length} answered`);
      await sleep(300);
    }
  };
  /** Waits until models/current names `modelId`; returns the commit time (the document's update time). */
  const committed = async (modelId: string): Promise<number> => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const snap = await db.doc('models/current').get();
      if (snap.get('model_id') === modelId) return snap.updateTime!.toMillis();
      if (Date.now() > deadline) assert.fail(`models/current never became ${modelId}`);
      await sleep(50);
    }
  };

  let BIG: Buffer;
  before(
    async () => {
      BIG = Buffer.from(await mobileNetV2H5());
      stack = await startStack({classifyInstances: 2, functionEnv: {CUTOVER: 'consistent'}});
      db = new Firestore({projectId: stack.info.projectId});
      storage = new Storage({projectId: stack.info.projectId});
      pubsub = new PubSub({projectId: stack.info.projectId});
      topic = pubsub.topic(stack.info.topic);
      await upload('labels/ImageNetLabels.txt', fs.readFileSync(path.join(FIXTURES, 'labels/ImageNetLabels.txt')));
      for (const p of PHOTOS)
        await uploadObject(
          storage,
          stack.info.imagesBucket,
          `photos/${p}`,
          fs.readFileSync(path.join(FIXTURES, 'images', p))
        );
    },
    {timeout: 120_000}
  );

  after(async () => {
    await Promise.allSettled([pubsub?.close(), db?.terminate()]);
    await stack?.stop();
  });

  it('answers no message published after the promotion commit with the old model', async () => {
    const v1 = await upload('models/mobilenet_v1.h5', MOBILENET, contract);
    await committed(v1);
    await results(await Promise.all(Array.from({length: 20}, (_, i) => publish(i)))); // both instances warm
    assert.ok(stack.balancer!.counts.every(n => n > 0) && stack.balancer!.counts.length === 2, 'both instances served');

    const sent: Array<{id: Promise<string>; at: number}> = [];
    let streaming = true;
    const stream = (async () => {
      for (let i = 0; streaming; i++) {
        sent.push({id: publish(i), at: Date.now()});
        await sleep(100); // well under what two instances answer: no backlog, so messages arrive during the load
      }
    })();
    await sleep(1500);
    // A bigger model (MobileNetV2 1.0, 14 MB, random weights): its load takes long enough that
    // messages arrive while it loads, which CUTOVER=available would answer with v1.
    const v2 = await upload('models/mobilenet_v2.h5', BIG, {scale: '-1,1'});
    const commit = await committed(v2);
    await sleep(4000);
    streaming = false;
    await stream;
    const ids = await Promise.all(sent.map(s => s.id));
    const docs = await results(ids);
    const after = docs.filter((_, i) => sent[i]!.at > commit);
    const before = docs.filter((_, i) => sent[i]!.at < commit - 2000);
    assert.ok(after.length >= 20, `${after.length} messages published after the commit`);
    assert.deepEqual(
      after.filter(d => d.model_id !== v2).map(d => d.model_id),
      [],
      'a message published after the commit was answered by the old model'
    );
    assert.ok(before.length > 0 && before.some(d => d.model_id === v1));
    assert.ok(docs.every(d => d.label !== undefined));
  });
});
