/**
 * classifyImage's record reads, with fakes (the model is a stub: only the reads are under
 * test): RECORD_MAX_STALENESS_MS=0 reads the record for every message, sharing a read in
 * flight; above 0 a read younger than the bound is reused, and an older one is read again.
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
    predictions: {write: async id => void written.push(id), writeBatch: async () => {}},
    models,
    logger: memoryLogger(),
    now: () => new Date(now),
  });
  return {store, handler, written, advance: (ms: number) => (now += ms)};
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
