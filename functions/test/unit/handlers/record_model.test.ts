import {beforeEach, describe, it} from 'node:test';
import assert from 'node:assert/strict';
import type {CloudEvent} from '@google-cloud/functions-framework';
import {makeRecordModelHandler} from '../../../src/handlers/record_model.js';
import type {Validation} from '../../../src/core/ports.js';
import {parseConfig} from '../../../src/config.js';
import {memoryLogger} from '../../../src/core/log.js';
import type {ModelRecord, StorageObjectData} from '../../../src/core/model_record.js';
import {UnsupportedLayerError} from '../../../src/core/errors.js';
import {MemoryModelStore, storageObject} from '../../helpers/fakes.js';

const config = parseConfig({MODEL_FILE_PATTERN: 'gs://models-bucket/prod/*.h5'});

function event(data: Record<string, unknown>, id = `ev-${Math.random()}`): CloudEvent<StorageObjectData> {
  return {
    id,
    specversion: '1.0',
    source: '//storage.googleapis.com/projects/_/buckets/models-bucket',
    type: 'google.cloud.storage.object.v1.finalized',
    data,
  } as unknown as CloudEvent<StorageObjectData>;
}

describe('recordModel handler (fakes)', () => {
  let store: MemoryModelStore;
  let logger: ReturnType<typeof memoryLogger>;
  let validated: string[];
  let verdict: (r: ModelRecord) => Promise<Validation>;
  let handler: (e: CloudEvent<StorageObjectData>) => Promise<void>;

  beforeEach(() => {
    store = new MemoryModelStore();
    logger = memoryLogger();
    validated = [];
    verdict = async () => ({input_shape: [224, 224, 3], output_width: 1000});
    handler = makeRecordModelHandler({
      config,
      store: () => store,
      logger,
      now: () => new Date('2026-11-24T00:00:00Z'),
      validate: r => {
        validated.push(r.model_id);
        return verdict(r);
      },
    });
  });

  it('promotes the first model, with what the gate learnt', async () => {
    await handler(event(storageObject('prod/a.h5', 1)));
    assert.equal(store.currentDoc?.model_id, 'gs://models-bucket/prod/a.h5#1');
    assert.deepEqual(store.currentDoc?.input_shape, [224, 224, 3]);
    assert.equal(store.currentDoc?.pinned, null);
    assert.match(store.currentDoc!.changed_by, /^recordModel/);
    assert.equal(logger.entries.at(-1)!['outcome'], 'promote');
  });

  const ignored: Array<[string, Record<string, unknown>, RegExp]> = [
    ['outside the pattern', storageObject('staging/a.h5', 1), /does not match/],
    ['in another bucket', storageObject('prod/a.h5', 1, {bucket: 'other'}), /does not match/],
    ['a metadata update', storageObject('prod/a.h5', 1, {metageneration: '3'}), /metadata-only/],
  ];
  for (const [name, data, why] of ignored) {
    it(`ignores an object ${name}, with one log line saying why`, async () => {
      await handler(event(data));
      assert.equal(store.currentDoc, null);
      assert.equal(store.history.size, 0);
      assert.equal(validated.length, 0);
      assert.equal(logger.entries.length, 1);
      assert.match(logger.entries[0]!.message, why);
    });
  }

  it('records a zero-byte object as rejected (empty_object) without loading it', async () => {
    await handler(event(storageObject('prod/a.h5', 1, {size: '0'})));
    assert.equal(store.currentDoc, null);
    assert.equal(validated.length, 0);
    const [entry] = [...store.history.values()];
    assert.equal(entry?.status, 'rejected');
    assert.match(entry!.reason!, /^empty_object: /);
  });

  it('keeps the newest under duplicated, shuffled delivery and validates each version once', async () => {
    const events = [3, 1, 2, 3, 1, 2].map(g => event(storageObject('prod/a.h5', g), `e${g}`));
    for (const e of events) await handler(e);
    assert.equal(store.currentDoc?.generation, '3');
    assert.equal(store.history.size, 3);
    assert.deepEqual(validated.sort(), [
      'gs://models-bucket/prod/a.h5#1',
      'gs://models-bucket/prod/a.h5#2',
      'gs://models-bucket/prod/a.h5#3',
    ]);
    assert.deepEqual(
      logger.entries.map(e => e['outcome']),
      ['promote', 'stale', 'stale', 'duplicate', 'stale', 'stale']
    );
  });

  it('records a model the gate rejects, leaves current alone, and acks', async () => {
    await handler(event(storageObject('prod/a.h5', 1)));
    verdict = async () => {
      throw new UnsupportedLayerError("unsupported layer: Lambda 'lambda_1'");
    };
    await handler(event(storageObject('prod/b.h5', 2)));
    assert.equal(store.currentDoc?.generation, '1');
    const rejected = [...store.history.values()].find(r => r.generation === '2')!;
    assert.equal(rejected.status, 'rejected');
    assert.match(rejected.reason!, /^unsupported_layer: .*Lambda 'lambda_1'/);
    assert.equal(logger.entries.at(-1)!.severity, 'WARNING');
  });

  it('rejects a model over MAX_MODEL_BYTES without downloading it', async () => {
    await handler(event(storageObject('prod/big.h5', 1, {size: String(config.maxModelBytes + 1)})));
    assert.equal(validated.length, 0);
    assert.equal([...store.history.values()][0]!.status, 'rejected');
  });

  it('throws (retry) when the gate fails transiently, and records nothing', async () => {
    verdict = async () => {
      throw Object.assign(new Error('socket hang up'), {code: 'ECONNRESET'});
    };
    await assert.rejects(handler(event(storageObject('prod/a.h5', 1))), /socket hang up/);
    assert.equal(store.history.size, 0);
  });

  it('throws (retry) when Firestore is unavailable', async () => {
    store.failWith = Object.assign(new Error('14 UNAVAILABLE: no connection'), {code: 14});
    await assert.rejects(handler(event(storageObject('prod/a.h5', 1))), /UNAVAILABLE/);
  });

  it('skips the gate when VALIDATE_MODELS=false', async () => {
    const h = makeRecordModelHandler({
      config: {...config, validateModels: false},
      store: () => store,
      logger,
      now: () => new Date(),
      validate: async () => assert.fail('gate ran'),
    });
    await h(event(storageObject('prod/a.h5', 1)));
    assert.equal(store.currentDoc?.generation, '1');
    assert.equal(store.currentDoc?.input_shape, null);
  });

  it('with {key} in the pattern, records each key in its own record, rolled independently', async () => {
    const stores = new Map<string, MemoryModelStore>();
    const storeOf = (key: string) => stores.get(key) ?? stores.set(key, new MemoryModelStore()).get(key)!;
    const h = makeRecordModelHandler({
      config: parseConfig({MODEL_FILE_PATTERN: 'gs://models-bucket/{key}/*.h5'}),
      store: storeOf,
      logger,
      now: () => new Date(),
      validate: async () => ({input_shape: [224, 224, 3], output_width: 10}),
    });
    await h(event(storageObject('flowers/v1.h5', 1)));
    await h(event(storageObject('dogs/v1.h5', 2)));
    await h(event(storageObject('flowers/v2.h5', 3)));
    await h(event(storageObject('dogs/v0.h5', 0))); // older than dogs/v1: stale for dogs only
    assert.deepEqual([...stores.keys()].sort(), ['dogs', 'flowers']);
    assert.equal(stores.get('flowers')!.currentDoc?.model_id, 'gs://models-bucket/flowers/v2.h5#3');
    assert.equal(stores.get('dogs')!.currentDoc?.model_id, 'gs://models-bucket/dogs/v1.h5#2');
    assert.equal(logger.entries.at(-1)!['outcome'], 'stale');
    assert.equal(logger.entries.at(-1)!['model_key'], 'dogs');
  });
});
