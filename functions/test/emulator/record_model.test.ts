/**
 * recordModel against the real Firestore emulator (transactions) and the Cloud Storage
 * emulator, with the real promotion gate (download + load + warm-up).
 */
import {before, describe, it} from 'node:test';
import assert from 'node:assert/strict';
import {spawnSync} from 'node:child_process';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import type {CloudEvent} from '@google-cloud/functions-framework';
import {firestoreRegistry} from '../../src/adapters/firestore_registry.js';
import {gcsObjectStore} from '../../src/adapters/gcs_object_store.js';
import {parseConfig} from '../../src/config.js';
import {memoryLogger} from '../../src/core/log.js';
import type {StorageObjectData} from '../../src/core/model_record.js';
import {validateModel} from '../../src/model/loader.js';
import {localFiles} from '../../src/adapters/local_files.js';
import {makeRecordModelHandler} from '../../src/handlers/record_model.js';
import {MOBILENET, fixtureBytes} from '../helpers/fixtures.js';
import {EMULATORS, firestore, storage, unique, upload} from '../helpers/emulators.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const SMALL = 'models/keras2/cnn_batch_norm_keras2.1.3.h5';

function setup() {
  const bucket = unique('models');
  const collection = unique('models');
  const config = parseConfig({MODEL_FILE_PATTERN: `gs://${bucket}/prod/*.{h5,keras}`, MODELS_COLLECTION: collection});
  const db = firestore();
  const s = storage();
  const store = firestoreRegistry(db, config);
  const objects = gcsObjectStore(s);
  const logger = memoryLogger();
  const handler = makeRecordModelHandler({
    config,
    store: () => store,
    logger,
    now: () => new Date(),
    validate: record =>
      validateModel(record, {objects, files: localFiles(), maxModelBytes: config.maxModelBytes}, {logger}),
  });
  let n = 0;
  const send = (data: StorageObjectData) =>
    handler({
      id: `ev-${++n}`,
      specversion: '1.0',
      source: 's',
      type: 'google.cloud.storage.object.v1.finalized',
      data,
    } as CloudEvent<StorageObjectData>);
  return {bucket, store, logger, send, s, db, config};
}

function shuffle<T>(items: T[]): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

async function pool<T>(items: T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all(
    Array.from({length: width}, async () => {
      while (queue.length) await fn(queue.shift()!);
    })
  );
}

describe('recordModel on the emulators', {skip: !EMULATORS && 'emulators not running (npm test starts them)'}, () => {
  before(() => {
    process.env['METADATA_SERVER_DETECTION'] = 'none';
  });

  it('30 events for 10 versions, each 1-3 times, shuffled, 8 at a time → newest is current, 10 history entries, no throw', async () => {
    const {bucket, store, send, s, db, config} = setup();
    const versions: StorageObjectData[] = [];
    for (let i = 0; i < 10; i++) versions.push(await upload(s, bucket, `prod/model_${i}.h5`, fixtureBytes(SMALL)));
    const events = versions.flatMap((v, i) => Array.from({length: 1 + (i % 3)}, () => v));
    while (events.length < 30) events.push(versions[events.length % 10]!);
    assert.equal(events.length, 30);
    const errors: unknown[] = [];
    await pool(shuffle(events), 8, async e => {
      await send(e).catch(err => errors.push(err));
    });
    assert.deepEqual(errors, []);
    const current = await store.current();
    assert.equal(current?.name, 'prod/model_9.h5');
    assert.equal(current?.generation, versions[9]!.generation);
    const history = await store.listHistory(100);
    assert.equal(history.length, 10);
    assert.ok(history.every(h => h.status === 'accepted'));
    // History lives under the current document: {MODELS_COLLECTION}/{CURRENT_MODEL_DOC}/history.
    const raw = await db.collection(`${config.modelsCollection}/current/history`).get();
    assert.equal(raw.size, 10);
  });

  it('a re-upload under the same name is a new model and becomes current', async () => {
    const {bucket, store, send, s} = setup();
    const first = await upload(s, bucket, 'prod/model.h5', fixtureBytes(SMALL));
    await send(first);
    await new Promise(r => setTimeout(r, 5));
    const second = await upload(s, bucket, 'prod/model.h5', fixtureBytes(SMALL));
    await send(second);
    const current = await store.current();
    assert.equal(current?.model_id, `gs://${bucket}/prod/model.h5#${second.generation}`);
    assert.notEqual(first.generation, second.generation);
  });

  it('reads the input contract and labels from object metadata through the real gate', async () => {
    const {bucket, store, send, s} = setup();
    await upload(s, bucket, 'labels/imagenet.json', fixtureBytes('labels/imagenet_class_index.json'));
    await send(
      await upload(s, bucket, 'prod/mobilenet.h5', fixtureBytes(MOBILENET), {
        scale: '-1,1',
        labels: 'labels/imagenet.json',
      })
    );
    const current = await store.current();
    assert.equal(current?.model_name, 'mobilenet');
    assert.equal(current?.input_scale, '-1,1');
    assert.equal(current?.labels, `gs://${bucket}/labels/imagenet.json`);
    assert.deepEqual(current?.input_shape, [224, 224, 3]);
    assert.equal(current?.output_width, 1000);
  });

  it('corrupt uploads are recorded rejected with their reason and leave current as it was', async () => {
    const {bucket, store, send, s} = setup();
    const good = await upload(s, bucket, 'prod/good.h5', fixtureBytes(SMALL));
    await send(good);
    const bad: Array<[string, Buffer, RegExp]> = [
      [
        'prod/lambda.h5',
        fixtureBytes('models/unsupported-layers/sequential_lambda.h5'),
        /^unsupported_layer: .*Lambda 'lambda_1'/,
      ],
      [
        'prod/attention.h5',
        fixtureBytes('models/unsupported-layers/keras-attention_Attention_keras2.11.h5'),
        /^unsupported_layer: .*Attention/,
      ],
      ['prod/truncated.h5', fixtureBytes(MOBILENET).subarray(0, 700_000), /^corrupt_hdf5: /],
      [
        'prod/qkeras.keras',
        fixtureBytes('models/not-hdf5/qkeras-v3_3layer.keras'),
        /^unsupported_layer: .*QDense 'fc1'/,
      ],
    ];
    for (const [name, bytes, why] of bad) {
      await new Promise(r => setTimeout(r, 3));
      const data = await upload(s, bucket, name, bytes);
      await send(data);
      const entry = await store.historyEntry({generation: data.generation as string, name});
      assert.equal(entry?.status, 'rejected', name);
      assert.match(entry!.reason!, why);
    }
    assert.equal((await store.current())?.name, 'prod/good.h5');
  });

  it('a pin holds against a newer upload; rollback restores the previous accepted version; unpin resumes', async () => {
    const {bucket, store, send, s} = setup();
    const v1 = await upload(s, bucket, 'prod/v1.h5', fixtureBytes(SMALL));
    await send(v1);
    await new Promise(r => setTimeout(r, 3));
    const v2 = await upload(s, bucket, 'prod/v2.h5', fixtureBytes(SMALL));
    await send(v2);
    assert.equal((await store.current())?.name, 'prod/v2.h5');

    const rolled = await store.rollback('test', new Date());
    assert.equal(rolled.name, 'prod/v1.h5');
    assert.equal(rolled.pinned, rolled.model_id);
    assert.equal((await store.current())?.changed_by, 'test');

    // A redelivered v2 event, and a brand new v3, do not move a pinned current.
    await send(v2);
    await new Promise(r => setTimeout(r, 3));
    const v3 = await upload(s, bucket, 'prod/v3.h5', fixtureBytes(SMALL));
    await send(v3);
    assert.equal((await store.current())?.name, 'prod/v1.h5');
    assert.equal(
      (await store.historyEntry({generation: v3.generation as string, name: 'prod/v3.h5'}))?.status,
      'accepted'
    );

    const pinned = await store.pin(`gs://${bucket}/prod/v2.h5#${v2.generation}`, 'test', new Date());
    assert.equal(pinned.name, 'prod/v2.h5');

    const resumed = await store.unpin('test', new Date());
    assert.equal(resumed.name, 'prod/v3.h5');
    assert.equal(resumed.pinned, null);
  });
});

describe(
  'npm run pin / unpin / rollback / status',
  {skip: !EMULATORS && 'emulators not running (npm test starts them)'},
  () => {
    it('change current through the scripts, recording who did it', async () => {
      const {bucket, store, send, s, config} = setup();
      const v1 = await upload(s, bucket, 'prod/v1.h5', fixtureBytes(SMALL));
      await send(v1);
      await new Promise(r => setTimeout(r, 3));
      await send(await upload(s, bucket, 'prod/v2.h5', fixtureBytes(SMALL)));
      const run = (...args: string[]) => {
        const out = spawnSync(
          process.execPath,
          [
            '--import',
            'tsx',
            'scripts/models.ts',
            ...args,
            '--collection',
            config.modelsCollection,
            '--by',
            'alice',
            '--json',
          ],
          {
            cwd: ROOT,
            encoding: 'utf8',
            env: {...process.env, GOOGLE_CLOUD_PROJECT: 'demo-test'},
            timeout: 60_000,
          }
        );
        return {
          code: out.status,
          json: out.stdout.trim()
            ? (JSON.parse(out.stdout.trim().split('\n').pop()!) as Record<string, unknown>)
            : null,
          stderr: out.stderr,
        };
      };
      const rolled = run('rollback');
      assert.equal(rolled.code, 0, rolled.stderr);
      assert.equal(rolled.json!['name'], 'prod/v1.h5');
      assert.equal((await store.current())?.changed_by, 'alice');
      assert.equal(run('unpin').json!['name'], 'prod/v2.h5');
      const status = run('status').json as {current: {name: string}; history: unknown[]};
      assert.equal(status.current.name, 'prod/v2.h5');
      assert.equal(status.history.length, 2);
      const bad = run('pin', 'gs://nope/x.h5#1');
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /no accepted model gs:\/\/nope\/x\.h5#1/);
    });
  }
);
