/**
 * Batch messages through classifyImage with in-memory adapters and the real model layer
 * (the shared MobileNet, real photos and a corrupt one): a result per image, in order, each
 * bad entry its own failure; folders listed; bounds; a transient error mid-batch writes
 * nothing and its redelivery writes the same documents.
 */
import assert from 'node:assert/strict';
import {after, before, describe, it} from 'node:test';
import type {CloudEvent} from '@google-cloud/functions-framework';
import {localFiles} from '../../../src/adapters/local_files.js';
import {parseConfig} from '../../../src/config.js';
import {memoryLogger} from '../../../src/core/log.js';
import {buildRecord, type CurrentModel} from '../../../src/core/model_record.js';
import type {Classifier, ModelProvider} from '../../../src/core/ports.js';
import {makeClassifyImageHandler, type MessagePublishedData} from '../../../src/handlers/classify_image.js';
import {MemoryModelStore, MemoryObjectStore, storageObject} from '../../helpers/fakes.js';
import {fixtureBytes} from '../../helpers/fixtures.js';
import {loadMobileNet} from '../../helpers/models.js';

type Doc = Record<string, unknown>;
let classifier: Classifier;
let record: CurrentModel;
const store = new MemoryModelStore();
const models: ModelProvider = {
  acquire: async r => ({classifier, record: r, stale: false, seq: 1, release: () => {}}),
};

let ids = 0;
function message(data: string, id = `b-${++ids}`): CloudEvent<MessagePublishedData> {
  return {
    id,
    specversion: '1.0',
    type: 'google.cloud.pubsub.topic.v1.messagePublished',
    source: '//pubsub.googleapis.com/projects/p/topics/t',
    data: {message: {data: Buffer.from(data).toString('base64'), messageId: id}},
  } as CloudEvent<MessagePublishedData>;
}

function setup(env: Record<string, string> = {}) {
  const objects = new MemoryObjectStore();
  for (const photo of ['daisy.jpg', 'tiger.jpeg', 'coffee_mug.jpg', 'cat_tabby.jpg'])
    objects.put('images', `photos/${photo}`, fixtureBytes(`images/${photo}`));
  objects.put('images', 'photos/nested/daisy.jpg', fixtureBytes('images/daisy.jpg'));
  objects.put('images', 'corrupt-header.jpg', fixtureBytes('bad-images/corrupt-header.jpg'));
  const single = new Map<string, Doc>();
  const batches = new Map<string, Doc[]>();
  let batchWrites = 0;
  const handler = makeClassifyImageHandler({
    config: parseConfig({
      MODEL_FILE_PATTERN: 'gs://models-bucket/*.h5',
      IMAGE_BUCKETS: 'images',
      MAX_EVENT_AGE: '1000h',
      INFERENCE_BATCH: '3',
      ...env,
    }),
    registry: () => store,
    objects,
    files: localFiles(),
    predictions: {
      write: async (id, doc) => void single.set(id, doc),
      writeBatch: async (id, docs) => {
        batchWrites++;
        batches.set(id, [...docs]);
      },
    },
    models,
    logger: memoryLogger(),
    now: () => new Date(),
  });
  return {handler, objects, single, batches, writes: () => batchWrites};
}

const kinds = (docs: Doc[]) => docs.map(d => (d['error'] as {kind: string} | undefined)?.kind ?? d['label']);

describe('classifyImage batch messages', () => {
  before(async () => {
    classifier = await loadMobileNet();
    const outcome = await store.recordVersion(
      buildRecord(storageObject('mobilenet.h5', 1), 'e', {scale: '-1,1', labels: null}),
      'test',
      new Date()
    );
    record = outcome.current!;
  });
  after(() => classifier.dispose());

  it('{"images": […]}: one result per entry, in order, bad entries failing alone; same answers as one at a time', async () => {
    const {handler, batches, single} = setup();
    const images = [
      'gs://images/photos/daisy.jpg',
      'gs://images/photos/tiger.jpeg',
      'gs://images/photos/missing.jpg',
      'gs://images/corrupt-header.jpg',
      'gs://elsewhere/x.jpg',
      42,
      'gs://images/photos/coffee_mug.jpg',
      'gs://images/photos/cat_tabby.jpg',
    ];
    await handler(message(JSON.stringify({images}), 'batch-1'));
    assert.equal(single.size, 0);
    const docs = batches.get('batch-1')!;
    assert.deepEqual(kinds(docs), [
      'daisy',
      'tiger',
      'not_found',
      'decode',
      'not_allowed',
      'bad_message',
      'coffee_mug',
      'tabby',
    ]);
    docs.forEach((d, i) => {
      assert.equal(d['batch_index'], i);
      assert.equal(d['batch_size'], 8);
      assert.equal(d['message_id'], 'batch-1');
      assert.equal(d['model_id'], record.model_id);
    });
    assert.equal(docs[0]!['image'], 'gs://images/photos/daisy.jpg');
    assert.equal(docs[5]!['image'], null);
    // Batching changes no number: the tiger scores what it scores alone.
    const alone = await classifier.classify(fixtureBytes('images/tiger.jpeg'), 5);
    assert.ok(Math.abs((docs[1]!['score'] as number) - alone.score) < 1e-5);
  });

  it('gs://bucket/folder/: the folder’s objects (not its sub-folders), in name order', async () => {
    const {handler, batches} = setup();
    await handler(message('gs://images/photos/', 'folder'));
    const docs = batches.get('folder')!;
    assert.deepEqual(
      docs.map(d => d['image']),
      ['cat_tabby.jpg', 'coffee_mug.jpg', 'daisy.jpg', 'tiger.jpeg'].map(f => `gs://images/photos/${f}`)
    );
    assert.deepEqual(kinds(docs), ['tabby', 'coffee_mug', 'daisy', 'tiger']);
  });

  const refused: Array<[string, string, string]> = [
    [
      'more images than MAX_BATCH_IMAGES',
      JSON.stringify({images: Array(5).fill('gs://images/a.jpg')}),
      'batch_too_large',
    ],
    ['a folder holding more than MAX_BATCH_IMAGES', 'gs://images/photos/', 'batch_too_large'],
    ['an empty folder', 'gs://images/nothing/', 'bad_message'],
    ['a folder outside IMAGE_BUCKETS', 'gs://elsewhere/photos/', 'not_allowed'],
    ['JSON that is not a batch', '{"image": "gs://images/a.jpg"}', 'bad_message'],
    ['broken JSON', '{"images": [', 'bad_message'],
    ['an empty list', '{"images": []}', 'bad_message'],
  ];
  for (const [name, data, kind] of refused) {
    it(`refuses ${name} as a whole: one failure document (${kind})`, async () => {
      const {handler, batches, single} = setup({MAX_BATCH_IMAGES: '3'});
      await handler(message(data, 'refused'));
      assert.equal(batches.size, 0);
      const doc = single.get('refused')!;
      assert.equal((doc['error'] as {kind: string}).kind, kind);
      assert.ok(String(doc['message_data']).length > 0);
    });
  }

  it('a transient read error mid-batch writes nothing and is redelivered; the redelivery writes the same documents', async () => {
    const {handler, objects, batches, writes} = setup();
    const read = objects.read.bind(objects);
    let calls = 0;
    objects.read = async (...args) => {
      // The fifth read fails while other images (INFERENCE_BATCH=3) are in flight.
      if (++calls === 5) throw Object.assign(new Error('503 Service Unavailable'), {code: 503});
      return read(...args);
    };
    const images = [...Array(7).keys()].map(i => `gs://images/photos/${i % 2 ? 'daisy.jpg' : 'tiger.jpeg'}`);
    const event = message(JSON.stringify({images}), 'flaky');
    await assert.rejects(handler(event), /503/);
    assert.equal(writes(), 0);
    await handler(event);
    await handler(event); // a second redelivery overwrites the same seven documents
    assert.equal(writes(), 2);
    assert.deepEqual(kinds(batches.get('flaky')!), ['tiger', 'daisy', 'tiger', 'daisy', 'tiger', 'daisy', 'tiger']);
  });

  it('a single path still answers as before (no batch fields)', async () => {
    const {handler, single, batches} = setup();
    await handler(message('gs://images/photos/daisy.jpg', 'one'));
    assert.equal(batches.size, 0);
    const doc = single.get('one')!;
    assert.equal(doc['label'], 'daisy');
    assert.ok(!('batch_index' in doc));
  });
});
