/**
 * classifyImage's record reads, with fakes (the model is a stub: only the reads are under
 * test): RECORD_MAX_STALENESS_MS=0 reads the record for every message, sharing a read in
 * flight; above 0 a read younger than the bound is reused, and an older one is read again.
 * A single image is read at the same time as the record, and its errors come after the
 * record's.
 */
import assert from 'node:assert/strict';
import {describe, it} from 'node:test';
import type {CloudEvent} from '@google-cloud/functions-framework';
import {parseConfig} from '../../../src/config.js';
import {memoryLogger} from '../../../src/core/log.js';
import type {Classifier, Lease, ModelProvider} from '../../../src/core/ports.js';
import {makeClassifyImageHandler, type MessagePublishedData} from '../../../src/handlers/classify_image.js';
import {localFiles} from '../../../src/adapters/local_files.js';
import {MemoryModelStore, MemoryObjectStore, storageObject} from '../../helpers/fakes.js';
import {buildRecord} from '../../../src/core/model_record.js';

const stub = {
  engine: 'stub',
  backend: 'stub',
  byteSize: 1,
  classify: async () => ({
    label: 'daisy',
    index: 0,
    score: 1,
    top_k: [{label: 'daisy', index: 0, score: 1}],
    inference_ms: 1,
    preprocess_ms: 1,
  }),
} as unknown as Classifier;
const models: ModelProvider = {
  acquire: async record => ({classifier: stub, record, stale: false, seq: 1, release: () => {}}) as Lease,
};

let ids = 0;
function message(): CloudEvent<MessagePublishedData> {
  const id = String(++ids);
  return {
    id,
    specversion: '1.0',
    type: 'google.cloud.pubsub.topic.v1.messagePublished',
    source: '//pubsub.googleapis.com/projects/p/topics/t',
    data: {message: {data: Buffer.from('gs://images/daisy.jpg').toString('base64'), messageId: id}},
  } as CloudEvent<MessagePublishedData>;
}

async function setup(staleness: string) {
  const store = new MemoryModelStore();
  await store.recordVersion(
    buildRecord(storageObject('prod/a.h5', 1), 'e', {scale: '0,1', labels: null}),
    'test',
    new Date()
  );
  const objects = new MemoryObjectStore();
  objects.put('images', 'daisy.jpg', Buffer.from('jpeg'));
  let now = Date.parse('2026-11-25T00:00:00Z');
  const written: string[] = [];
  const docs: Record<string, unknown>[] = [];
  const handler = makeClassifyImageHandler({
    config: parseConfig({
      MODEL_FILE_PATTERN: 'gs://models-bucket/prod/*.h5',
      IMAGE_BUCKETS: 'images',
      RECORD_MAX_STALENESS_MS: staleness,
      MAX_EVENT_AGE: '1000h',
    }),
    registry: () => store,
    objects,
    files: localFiles(),
    predictions: {
      write: async (id, doc) => void (written.push(id), docs.push(doc)),
      writeBatch: async () => {},
    },
    models,
    logger: memoryLogger(),
    now: () => new Date(now),
  });
  return {store, objects, handler, written, docs, advance: (ms: number) => (now += ms)};
}

describe('classifyImage record reads', () => {
  it('RECORD_MAX_STALENESS_MS=0 (default): one read per message', async () => {
    const {store, handler, written} = await setup('0');
    for (let i = 0; i < 3; i++) await handler(message());
    assert.equal(store.reads, 3);
    assert.equal(written.length, 3);
  });

  it('concurrent messages share the read in flight', async () => {
    const {store, handler, written} = await setup('0');
    await Promise.all([handler(message()), handler(message()), handler(message())]);
    assert.equal(store.reads, 1);
    assert.equal(written.length, 3);
  });

  it('RECORD_MAX_STALENESS_MS=60000: reuses a read younger than a minute, reads again after', async () => {
    const {store, handler, written, advance} = await setup('60000');
    for (let i = 0; i < 3; i++) await handler(message());
    assert.equal(store.reads, 1);
    advance(59_000);
    await handler(message());
    assert.equal(store.reads, 1);
    advance(2_000);
    await handler(message());
    assert.equal(store.reads, 2);
    assert.equal(written.length, 5);
  });

  it('refuses RECORD_MAX_STALENESS_MS with CUTOVER=consistent', () => {
    assert.throws(
      () => parseConfig({MODEL_FILE_PATTERN: 'gs://m/*.h5', RECORD_MAX_STALENESS_MS: '1000', CUTOVER: 'consistent'}),
      /RECORD_MAX_STALENESS_MS: must be 0 with CUTOVER=consistent/
    );
  });
});

describe('classifyImage reads the image while it reads the record', () => {
  it('the image read starts before the record read ends', async () => {
    const {store, objects, handler, written} = await setup('0');
    const current = store.current.bind(store);
    // The record answers only once the image has been asked for: a handler that read them
    // one after the other would never finish.
    store.current = async () => {
      const deadline = Date.now() + 5_000;
      while (objects.reads.length === 0) {
        if (Date.now() > deadline) throw new Error('the image was not read while the record was');
        await new Promise(r => setTimeout(r, 1));
      }
      return current();
    };
    await handler(message());
    assert.deepEqual(objects.reads, ['images/daisy.jpg']);
    assert.equal(written.length, 1);
  });

  it('a failed record read comes first: the message is redelivered, the image read is dropped quietly', async () => {
    const {store, objects, handler, written} = await setup('0');
    objects.objects.clear(); // the image is missing too
    store.current = async () => {
      throw new Error('UNAVAILABLE: firestore is down');
    };
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      await assert.rejects(handler(message()), /firestore is down/);
      await new Promise(r => setTimeout(r, 20));
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    assert.deepEqual(unhandled, []);
    assert.equal(written.length, 0);
  });

  it('a missing image with a good record: a failure document naming the model, as before', async () => {
    const {objects, handler, docs} = await setup('0');
    objects.objects.clear();
    await handler(message());
    assert.equal(docs.length, 1);
    assert.equal((docs[0]!['error'] as {kind: string}).kind, 'not_found');
    assert.equal(docs[0]!['model_name'], 'a');
  });
});
