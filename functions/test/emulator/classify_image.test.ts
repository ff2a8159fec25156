/**
 * classifyImage through the Functions Framework (getTestServer + supertest) with the
 * Firestore and Storage emulators, the real model layer and the shared MobileNet.
 */
import {before, describe, it} from 'node:test';
import assert from 'node:assert/strict';
import * as functions from '@google-cloud/functions-framework';
import {getTestServer} from '@google-cloud/functions-framework/testing';
import request from 'supertest';
import {firestoreRegistry} from '../../src/adapters/firestore_registry.js';
import {firestorePredictionSink} from '../../src/adapters/firestore_predictions.js';
import {gcsObjectStore} from '../../src/adapters/gcs_object_store.js';
import {parseConfig} from '../../src/config.js';
import {memoryLogger} from '../../src/core/log.js';
import {buildRecord} from '../../src/core/model_record.js';
import type {ModelRegistry} from '../../src/core/ports.js';
import {makeClassifyImageHandler, preview} from '../../src/handlers/classify_image.js';
import {loadRecordedModel} from '../../src/model/loader.js';
import {localFiles} from '../../src/adapters/local_files.js';
import {ModelCache} from '../../src/model/model_cache.js';
import {MOBILENET, fixtureBytes, fixtureDir} from '../helpers/fixtures.js';
import {EMULATORS, firestore, storage, unique, upload} from '../helpers/emulators.js';
import {numTensors} from '../helpers/models.js';
import {predictionId} from '../../src/core/prediction_id.js';

const modelsBucket = unique('models');
const imagesBucket = unique('images');
const collection = unique('models');
const predictionsCollection = unique('predictions');
const config = parseConfig({
  MODEL_FILE_PATTERN: `gs://${modelsBucket}/*.h5`,
  MODELS_COLLECTION: collection,
  PREDICTIONS_COLLECTION: predictionsCollection,
  IMAGE_BUCKETS: imagesBucket,
  TOP_K: '5',
});
const db = firestore();
const s = storage();
const store = firestoreRegistry(db, config);
const objects = gcsObjectStore(s);
const files = localFiles();
const logger = memoryLogger();
let registryReads = 0;
let registryDown = false;
const registry: ModelRegistry = {
  current: () => {
    registryReads++;
    if (registryDown) return Promise.reject(Object.assign(new Error('14 UNAVAILABLE: simulated outage'), {code: 14}));
    return store.current();
  },
  reportRollout: (...args) => store.reportRollout(...args),
};
const cache = new ModelCache(
  r => loadRecordedModel(r, {objects, files, maxModelBytes: config.maxModelBytes}, {engine: config.engine, logger}),
  {
    backoffMs: 1000,
    logger,
  }
);
functions.cloudEvent(
  'classifyImage',
  makeClassifyImageHandler({
    config,
    registry: () => registry,
    objects,
    files,
    predictions: firestorePredictionSink(db, predictionsCollection),
    models: cache,
    logger,
    now: () => new Date(),
  })
);
const server = getTestServer('classifyImage');

let n = 0;
function pushBody(path: string | Buffer, id = `m-${++n}`) {
  const data = (Buffer.isBuffer(path) ? path : Buffer.from(path)).toString('base64');
  return {
    message: {data, messageId: id, publishTime: new Date().toISOString()},
    subscription: 'projects/demo-test/subscriptions/s',
  };
}
/** A structured-mode CloudEvent, as Eventarc delivers it. */
function structured(path: string, id = `m-${++n}`) {
  return request(server)
    .post('/')
    .set('content-type', 'application/cloudevents+json')
    .send(
      JSON.stringify({
        specversion: '1.0',
        type: 'google.cloud.pubsub.topic.v1.messagePublished',
        source: '//pubsub.googleapis.com/projects/demo-test/topics/images',
        id,
        time: new Date().toISOString(),
        data: pushBody(path, id),
      })
    );
}
/** A raw Pub/Sub push body (what a push subscription posts). */
function raw(path: string | Buffer, id = `m-${++n}`) {
  return request(server)
    .post('/')
    .set('content-type', 'application/json')
    .send(JSON.stringify(pushBody(path, id)));
}
async function prediction(id: string): Promise<Record<string, unknown> | undefined> {
  return (await db.collection(predictionsCollection).doc(predictionId(id)).get()).data();
}
let version = 0;
async function recordModel(name: string): Promise<string> {
  const data = await upload(s, modelsBucket, name, fixtureBytes(MOBILENET), {scale: '-1,1', labels: 'labels.json'});
  const r = buildRecord(
    {...data, updated: new Date(Date.UTC(2026, 0, 1, 0, 0, ++version)).toISOString()},
    `ev-${name}`,
    {scale: '0,1', labels: null}
  );
  await store.recordVersion(r, 'test', new Date());
  return r.model_id;
}

describe('classifyImage on the emulators', {skip: !EMULATORS && 'emulators not running (npm test starts them)'}, () => {
  let v1 = '';
  before(async () => {
    await upload(s, modelsBucket, 'labels.json', fixtureBytes('labels/imagenet_class_index.json'));
    for (const f of [...fixtureDir('images'), ...fixtureDir('bad-images')]) {
      const dir = fixtureDir('images').includes(f) ? 'images' : 'bad-images';
      await upload(s, imagesBucket, `${dir}/${f}`, fixtureBytes(`${dir}/${f}`));
    }
  });

  it('before any model is recorded, fails as transient (500) and writes nothing', async () => {
    await raw(`gs://${imagesBucket}/images/daisy.jpg`, 'early').expect(500);
    assert.equal(await prediction('early'), undefined);
  });

  it('a raw Pub/Sub push body: the daisy is a daisy, stamped with the current model_id', async () => {
    v1 = await recordModel('mobilenet_v1.h5');
    await raw(`gs://${imagesBucket}/images/daisy.jpg`, 'daisy').expect(204);
    const doc = (await prediction('daisy'))!;
    assert.equal(doc['label'], 'daisy');
    assert.ok((doc['score'] as number) > 0.9);
    assert.equal(doc['model_id'], v1);
    assert.equal(doc['model_name'], 'mobilenet_v1');
    assert.equal((doc['top_k'] as unknown[]).length, 5);
    assert.deepEqual([doc['engine'], doc['backend']], ['onnx', 'onnxruntime-cpu']);
  });

  it('a structured CloudEvent works the same, and a redelivery overwrites its own result', async () => {
    await structured(`gs://${imagesBucket}/images/tiger.jpeg`, 'tiger').expect(204);
    await structured(`gs://${imagesBucket}/images/tiger.jpeg`, 'tiger').expect(204);
    assert.equal((await prediction('tiger'))!['label'], 'tiger');
    const docs = await db
      .collection(predictionsCollection)
      .where('image', '==', `gs://${imagesBucket}/images/tiger.jpeg`)
      .get();
    assert.equal(docs.size, 1);
  });

  const badMessages: Array<[string, string | Buffer, string]> = [
    ['empty', '', 'bad_message'],
    ['1 MB', Buffer.alloc(1024 * 1024, 0x61), 'bad_message'],
    ['invalid UTF-8', Buffer.from([0xc3, 0x28]), 'bad_message'],
    ['the models bucket', `gs://${modelsBucket}/mobilenet_v1.h5`, 'not_allowed'],
    ['file:///etc/passwd', 'file:///etc/passwd', 'bad_message'],
    ['a missing object', `gs://${imagesBucket}/nope.jpg`, 'not_found'],
  ];
  for (const [name, data, kind] of badMessages) {
    it(`a bad message (${name}) → 204 and a failure record of kind ${kind}`, async () => {
      const id = `bad-${++n}`;
      await raw(data, id).expect(204);
      const doc = (await prediction(id))!;
      assert.equal((doc['error'] as {kind: string}).kind, kind);
      // The failure record shows what the message said when it named no usable image.
      if (doc['image'] === null) {
        const text = Buffer.from(data).toString('utf8');
        assert.equal(doc['message_data'], preview(Buffer.from(data)));
        if (text.length <= 200) assert.equal(JSON.parse(`"${String(doc['message_data'])}"`), text);
        else assert.match(String(doc['message_data']), /… \(1048576 bytes\)$/);
      }
    });
  }

  it('every bad image → 204 and either a prediction or a typed failure record', async () => {
    for (const f of fixtureDir('bad-images')) {
      const id = `img-${f}`;
      await raw(`gs://${imagesBucket}/bad-images/${f}`, id).expect(204);
      const doc = (await prediction(id))!;
      assert.ok(
        doc['label'] ||
          ['decode', 'too_many_pixels', 'unsupported_format', 'too_large'].includes(
            (doc['error'] as {kind: string}).kind
          ),
        f
      );
    }
  });

  it('an event older than MAX_EVENT_AGE is dropped (204, no record, a log line)', async () => {
    const old = new Date(Date.now() - 2 * 3_600_000).toISOString();
    const body = pushBody(`gs://${imagesBucket}/images/daisy.jpg`, 'too-old');
    body.message.publishTime = old;
    await request(server).post('/').set('content-type', 'application/json').send(JSON.stringify(body)).expect(204);
    assert.equal(await prediction('too-old'), undefined);
    assert.ok(logger.entries.some(e => e['outcome'] === 'dropped_too_old' && e['message_id'] === 'too-old'));
  });

  it('a folder message lists the bucket on the emulator: a document per photo, keyed by message and index; a redelivery adds none', async () => {
    const photos = fixtureDir('images').sort();
    await raw(`gs://${imagesBucket}/images/`, 'folder').expect(204);
    await raw(`gs://${imagesBucket}/images/`, 'folder').expect(204);
    const docs = await db.collection(predictionsCollection).where('message_id', '==', 'folder').get();
    assert.equal(docs.size, photos.length);
    const byIndex = new Map(docs.docs.map(d => [d.get('batch_index') as number, d]));
    photos.forEach((photo, i) => {
      const doc = byIndex.get(i)!;
      assert.equal(doc.id, predictionId('folder', i));
      assert.equal(doc.get('image'), `gs://${imagesBucket}/images/${photo}`);
      assert.equal(doc.get('model_id'), v1);
      assert.ok(doc.get('label'), photo);
    });
    assert.equal(byIndex.get(photos.indexOf('daisy.jpg'))!.get('label'), 'daisy');
  });

  it('a Firestore outage → 500 and no record', async () => {
    registryDown = true;
    try {
      await raw(`gs://${imagesBucket}/images/daisy.jpg`, 'outage').expect(500);
    } finally {
      registryDown = false;
    }
    assert.equal(await prediction('outage'), undefined);
  });

  it('50 concurrent invocations share far fewer than 50 registry reads', async () => {
    const before = registryReads;
    await Promise.all(
      Array.from({length: 50}, (_, i) => raw(`gs://${imagesBucket}/images/cat_tabby.jpg`, `c50-${i}`).expect(204))
    );
    const reads = registryReads - before;
    assert.ok(reads < 25, `${reads} reads`);
  });

  it('a model recorded mid-stream is used by every invocation after its load; nothing fails; the old model is freed', async () => {
    const oneModel = numTensors();
    const results: Array<{id: string; started: number}> = [];
    let v2 = '';
    let switchedAt = Infinity;
    const ids = Array.from({length: 40}, (_, i) => `sw-${i}`);
    const queue = [...ids];
    await Promise.all(
      Array.from({length: 8}, async () => {
        while (queue.length) {
          const id = queue.shift()!;
          if (id === 'sw-20') {
            v2 = await recordModel('mobilenet_v2.h5');
          }
          const started = Date.now();
          await raw(`gs://${imagesBucket}/images/coffee_mug.jpg`, id).expect(204);
          if (cache.activeModelId === v2 && switchedAt === Infinity) switchedAt = Date.now();
          results.push({id, started});
        }
      })
    );
    // The old model serves while the new one loads (nobody waits for a load): on a busy machine
    // the 20 invocations after the record can all finish first. Keep invoking, one at a time,
    // until the new model answers (bounded), so the test asserts the swap, not a race with it.
    const deadline = Date.now() + 20_000;
    for (let n = 0; cache.activeModelId !== v2 && Date.now() < deadline; n++) {
      const id = `sw-more-${n}`;
      const started = Date.now();
      await raw(`gs://${imagesBucket}/images/coffee_mug.jpg`, id).expect(204);
      if (cache.activeModelId === v2 && switchedAt === Infinity) switchedAt = Date.now();
      ids.push(id);
      results.push({id, started});
    }
    if (cache.activeModelId === v2) {
      // One invocation that starts after the swap: it must be answered by the new model.
      const started = Date.now();
      await raw(`gs://${imagesBucket}/images/coffee_mug.jpg`, 'sw-after').expect(204);
      ids.push('sw-after');
      results.push({id: 'sw-after', started});
    }
    const docs = await Promise.all(ids.map(async id => ({id, doc: (await prediction(id))!})));
    assert.ok(
      docs.every(d => d.doc['label']),
      'no invocation failed'
    );
    assert.ok(docs.every(d => [v1, v2].includes(d.doc['model_id'] as string)));
    assert.ok(
      docs.some(d => d.doc['model_id'] === v2),
      'the new model served'
    );
    for (const r of results) {
      if (r.started > switchedAt)
        assert.equal(docs.find(d => d.id === r.id)!.doc['model_id'], v2, `${r.id} started after the swap`);
    }
    assert.equal(cache.stats.disposed >= 1, true);
    assert.equal(numTensors(), oneModel, 'tensor count back to one model');
  });
});
