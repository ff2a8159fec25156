import {describe, it} from 'node:test';
import assert from 'node:assert/strict';
import {matchesPattern, modelKeyOf, parseFilePattern} from '../../../src/core/glob.js';
import {messageModelKey} from '../../../src/core/model_key.js';
import {
  buildRecord,
  decide,
  ignoreReason,
  isNewer,
  modelName,
  type CurrentModel,
} from '../../../src/core/model_record.js';
import {storageObject} from '../../helpers/fakes.js';

describe('MODEL_FILE_PATTERN matching', () => {
  const table: Array<[string, string, string, boolean]> = [
    ['gs://m/prod/*.h5', 'm', 'prod/a.h5', true],
    ['gs://m/prod/*.h5', 'm', 'prod/sub/a.h5', false],
    ['gs://m/prod/*.h5', 'other', 'prod/a.h5', false],
    ['gs://m/prod/*.h5', 'm', 'prod/a.h5.tmp', false],
    ['gs://m/prod/*.h5', 'm', 'prod/a.keras', false],
    ['gs://m/**/*.h5', 'm', 'a/b/c.h5', true],
    ['gs://m/**/*.h5', 'm', 'c.h5', true],
    ['gs://m/v?/model.h5', 'm', 'v2/model.h5', true],
    ['gs://m/v?/model.h5', 'm', 'v10/model.h5', false],
    ['gs://m/[ab]*.h5', 'm', 'b1.h5', true],
    ['gs://m/[ab]*.h5', 'm', 'c1.h5', false],
    ['gs://m/model.v1.h5', 'm', 'modelXv1.h5', false],
    ['gs://m/**/*.{h5,keras}', 'm', 'a/b.keras', true],
    ['gs://m/**/*.{h5,keras}', 'm', 'a/b.h5', true],
    ['gs://m/**/*.{h5,keras}', 'm', 'a/b.hdf5', false],
  ];
  for (const [pattern, bucket, name, want] of table) {
    it(`${pattern} ${want ? 'matches' : 'does not match'} gs://${bucket}/${name}`, () => {
      assert.equal(matchesPattern(parseFilePattern(pattern), bucket, name), want);
    });
  }
  it('captures {key} as one path segment of id characters', () => {
    const p = parseFilePattern('gs://m/{key}/*.h5');
    assert.equal(modelKeyOf(p, 'm', 'flowers/v1.h5', 'current'), 'flowers');
    assert.equal(modelKeyOf(p, 'm', 'a/b/v1.h5', 'current'), null);
    assert.equal(modelKeyOf(p, 'm', 'bad key/v1.h5', 'current'), null);
    assert.equal(modelKeyOf(p, 'other', 'flowers/v1.h5', 'current'), null);
    // Without {key}, the one key is the given one.
    assert.equal(modelKeyOf(parseFilePattern('gs://m/**/*.h5'), 'm', 'x/v1.h5', 'current'), 'current');
  });
  it('rejects wildcard buckets and non-gs patterns', () => {
    assert.throws(() => parseFilePattern('gs://m*/a.h5'), /bucket part must be literal/);
    assert.throws(() => parseFilePattern('/tmp/*.h5'), /gs:\/\/bucket/);
  });
});

describe('ignore rules', () => {
  const matches = () => true;
  const table: Array<[string, Record<string, unknown>, RegExp | null]> = [
    ['a new object', storageObject('a.h5', 1), null],
    ['a zero-byte object (rejected later, in history)', storageObject('a.h5', 1, {size: '0'}), null],
    ['a metadata-only update', storageObject('a.h5', 1, {metageneration: '2'}), /metadata-only/],
    ['an event without an object', {foo: 1}, /not a Cloud Storage object/],
  ];
  for (const [name, object, want] of table) {
    it(`${name} → ${want ?? 'handled'}`, () => {
      const reason = ignoreReason(object as never, matches);
      if (want === null) assert.equal(reason, null);
      else assert.match(reason ?? '', want);
    });
  }
  it('an object outside the pattern', () => {
    assert.match(
      ignoreReason(storageObject('a.h5', 1) as never, () => false) ?? '',
      /does not match MODEL_FILE_PATTERN/
    );
  });
});

describe('record building', () => {
  it('builds the architecture contract from StorageObjectData', () => {
    const r = buildRecord(
      storageObject('prod/mobilenet_v2.h5', 7, {metadata: {scale: '-1,1', labels: 'labels/imagenet.txt'}}) as never,
      'ev1',
      {
        scale: '0,1',
        labels: null,
      }
    );
    assert.equal(r.model_id, 'gs://models-bucket/prod/mobilenet_v2.h5#7');
    assert.equal(r.model_name, 'mobilenet_v2');
    assert.equal(r.generation, '7');
    assert.equal(r.size, 1000);
    assert.equal(r.event_id, 'ev1');
    assert.equal(r.input_scale, '-1,1');
    assert.equal(r.labels, 'gs://models-bucket/labels/imagenet.txt');
    assert.equal(r.status, 'accepted');
  });
  it('falls back to the configured defaults', () => {
    const r = buildRecord(storageObject('a.h5', 1) as never, 'e', {scale: '-1,1', labels: 'gs://l/x.txt'});
    assert.equal(r.input_scale, '-1,1');
    assert.equal(r.labels, 'gs://l/x.txt');
  });
  it('reads the keras.applications modes from metadata (caffe, torch, tf, raw)', () => {
    for (const [declared, want] of [
      ['caffe', 'caffe'],
      ['torch', 'torch'],
      ['tf', '-1,1'],
      ['raw', '0,255'],
    ]) {
      const r = buildRecord(storageObject('a.h5', 1, {metadata: {scale: declared}}) as never, 'e', {
        scale: '0,1',
        labels: null,
      });
      assert.deepEqual([r.input_scale, r.status], [want, 'accepted'], declared);
    }
  });
  it('refuses a declared scale it cannot read, instead of using the default', () => {
    const r = buildRecord(storageObject('a.h5', 1, {metadata: {scale: 'cafe'}}) as never, 'e', {
      scale: '0,1',
      labels: null,
    });
    assert.equal(r.status, 'rejected');
    assert.match(r.reason!, /^invalid_scale: metadata scale 'cafe' is not one of .*caffe/);
  });
  const names: Array<[string, string]> = [
    ['prod/mobilenet_v2.h5', 'mobilenet_v2'],
    ['a/b/model-1.0.hdf5', 'model_1_0'],
    ['x.H5', 'x'],
  ];
  for (const [object, want] of names)
    it(`model name of ${object} is ${want}`, () => assert.equal(modelName(object), want));
});

describe('newer than', () => {
  const at = (updated: string, generation: string) => ({updated, generation});
  const table: Array<[string, ReturnType<typeof at>, ReturnType<typeof at>, boolean]> = [
    ['later updated', at('2026-01-02T00:00:00Z', '1'), at('2026-01-01T00:00:00Z', '9'), true],
    ['earlier updated', at('2026-01-01T00:00:00Z', '9'), at('2026-01-02T00:00:00Z', '1'), false],
    ['same updated, greater generation', at('2026-01-01T00:00:00Z', '2'), at('2026-01-01T00:00:00Z', '1'), true],
    ['same updated, same generation', at('2026-01-01T00:00:00Z', '1'), at('2026-01-01T00:00:00Z', '1'), false],
    [
      'generations beyond 2^53',
      at('2026-01-01T00:00:00Z', '9007199254740993'),
      at('2026-01-01T00:00:00Z', '9007199254740992'),
      true,
    ],
  ];
  for (const [name, a, b, want] of table) it(`${name} → ${want}`, () => assert.equal(isNewer(a, b), want));
});

describe('promotion decision', () => {
  const record = (g: number) => buildRecord(storageObject('a.h5', g) as never, 'e', {scale: '0,1', labels: null});
  const current = (g: number, pinned: string | null = null): CurrentModel => ({
    ...record(g),
    pinned,
    changed_by: 't',
    changed_at: '',
  });
  it('promotes into an empty registry', () => assert.equal(decide(record(1), null), 'promote'));
  it('promotes a newer version', () => assert.equal(decide(record(2), current(1)), 'promote'));
  it('keeps current for an older version', () => assert.equal(decide(record(1), current(2)), 'stale'));
  it('recognises a duplicate', () => assert.equal(decide(record(2), current(2)), 'duplicate'));
  it('respects a pin', () => assert.equal(decide(record(3), current(2, 'x')), 'pinned'));
  it('never promotes a rejected model', () =>
    assert.equal(decide({...record(3), status: 'rejected'}, current(2)), 'rejected'));
});

describe('messageModelKey', () => {
  const keyed = {keyed: true, attribute: 'model', defaultKey: null, unkeyed: 'current'};
  it('takes the attribute, else DEFAULT_MODEL_KEY', () => {
    assert.equal(messageModelKey({model: 'flowers'}, keyed), 'flowers');
    assert.equal(messageModelKey({}, {...keyed, defaultKey: 'dogs'}), 'dogs');
  });
  it('refuses a message naming no key or a malformed one, as unknown_model', () => {
    assert.throws(() => messageModelKey(undefined, keyed), {
      kind: 'unknown_model',
      message: /DEFAULT_MODEL_KEY is not set/,
    });
    assert.throws(() => messageModelKey({model: '../x'}, keyed), {kind: 'unknown_model', message: /not a model key/});
  });
  it('ignores attributes without {key} in the pattern', () => {
    assert.equal(messageModelKey({model: 'flowers'}, {...keyed, keyed: false}), 'current');
  });
});
