/** recordModel through the Functions Framework (getTestServer + supertest), in both CloudEvent modes. */
import {describe, it} from 'node:test';
import assert from 'node:assert/strict';
import * as functions from '@google-cloud/functions-framework';
import {getTestServer} from '@google-cloud/functions-framework/testing';
import request from 'supertest';
import {makeRecordModelHandler} from '../../src/handlers/record_model.js';
import {parseConfig} from '../../src/config.js';
import {memoryLogger} from '../../src/core/log.js';
import {MemoryModelStore, storageObject} from '../helpers/fakes.js';

const store = new MemoryModelStore();
functions.cloudEvent(
  'recordModel',
  makeRecordModelHandler({
    config: parseConfig({MODEL_FILE_PATTERN: 'gs://models-bucket/prod/*.h5'}),
    store: () => store,
    logger: memoryLogger(),
    now: () => new Date(),
    validate: async () => ({input_shape: [224, 224, 3], output_width: 1000}),
  })
);
const server = getTestServer('recordModel');
const TYPE = 'google.cloud.storage.object.v1.finalized';
const SOURCE = '//storage.googleapis.com/projects/_/buckets/models-bucket';

function binary(id: string, data: unknown) {
  return request(server)
    .post('/')
    .set('ce-specversion', '1.0')
    .set('ce-type', TYPE)
    .set('ce-source', SOURCE)
    .set('ce-id', id)
    .set('ce-subject', 'objects/prod/a.h5')
    .set('content-type', 'application/json')
    .send(JSON.stringify(data));
}

function structured(id: string, data: unknown) {
  return request(server)
    .post('/')
    .set('content-type', 'application/cloudevents+json')
    .send(JSON.stringify({specversion: '1.0', type: TYPE, source: SOURCE, id, data}));
}

describe('recordModel over HTTP', () => {
  it('binary mode: 204 and the model is current', async () => {
    await binary('b1', storageObject('prod/a.h5', 1)).expect(204);
    assert.equal(store.currentDoc?.generation, '1');
  });

  it('structured mode: 204 and the newer model is current', async () => {
    await structured('s1', storageObject('prod/a.h5', 2)).expect(204);
    assert.equal(store.currentDoc?.generation, '2');
  });

  it('204 for an ignored object and for a stale one', async () => {
    await structured('s2', storageObject('elsewhere/a.h5', 9)).expect(204);
    await binary('b2', storageObject('prod/a.h5', 1)).expect(204);
    assert.equal(store.currentDoc?.generation, '2');
  });

  it('500 (retry) only when Firestore is unavailable', async () => {
    store.failWith = Object.assign(new Error('14 UNAVAILABLE'), {code: 14});
    try {
      await binary('b3', storageObject('prod/a.h5', 3)).expect(500);
    } finally {
      store.failWith = null;
    }
    await binary('b3', storageObject('prod/a.h5', 3)).expect(204);
    assert.equal(store.currentDoc?.generation, '3');
  });
});
