/** The Cloud Storage adapter against the storage emulator. */
import {describe, it} from 'node:test';
import assert from 'node:assert/strict';
import {gcsObjectStore} from '../../src/adapters/gcs_object_store.js';
import {ObjectNotFoundError, ObjectTooLargeError} from '../../src/core/errors.js';
import {fixtureBytes} from '../helpers/fixtures.js';
import {EMULATORS, storage, unique, upload} from '../helpers/emulators.js';

describe('gcsObjectStore on the emulator', {skip: !EMULATORS && 'emulators not running (npm test starts them)'}, () => {
  const s = storage();
  const objects = gcsObjectStore(s);
  const bucket = unique('objects');

  it('reads an object, exactly that generation', async () => {
    const bytes = fixtureBytes('images/daisy.jpg');
    const data = await upload(s, bucket, 'daisy.jpg', bytes);
    assert.deepEqual(await objects.read(bucket, 'daisy.jpg', {maxBytes: 1e6}), bytes);
    assert.deepEqual(
      await objects.read(bucket, 'daisy.jpg', {maxBytes: 1e6, generation: String(data.generation)}),
      bytes
    );
  });

  it('a missing object is ObjectNotFoundError (permanent)', async () => {
    await assert.rejects(objects.read(bucket, 'nope.jpg', {maxBytes: 1e6}), ObjectNotFoundError);
  });

  it('an object over maxBytes is ObjectTooLargeError (permanent)', async () => {
    await upload(s, bucket, 'big.png', fixtureBytes('images/coffee_espresso.png'));
    await assert.rejects(objects.read(bucket, 'big.png', {maxBytes: 100_000}), ObjectTooLargeError);
  });
});
