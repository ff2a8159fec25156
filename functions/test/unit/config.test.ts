import {describe, it} from 'node:test';
import assert from 'node:assert/strict';
import {ConfigError, parseConfig} from '../../src/config.js';

describe('parseConfig', () => {
  it('applies the documented defaults', () => {
    const c = parseConfig({MODEL_FILE_PATTERN: 'gs://models/prod/*.h5'});
    assert.equal(c.modelFilePattern.bucket, 'models');
    assert.equal(c.modelsCollection, 'models');
    assert.equal(c.currentDocument, 'current');
    assert.equal(c.predictionsCollection, 'predictions');
    assert.equal(c.validateModels, true);
    assert.equal(c.maxModelBytes, 512 * 1024 * 1024);
    assert.equal(c.defaultScale, '0,1');
    assert.equal(c.maxEventAgeMs, 3_600_000);
    assert.equal(c.topK, 5);
    assert.deepEqual(c.imageBuckets, []);
    assert.equal(c.iccProfiles, 'ignore');
    assert.equal(c.engine, 'auto');
    assert.equal(c.inferenceThreads, 'auto');
    assert.equal(c.ortSpin, 'off');
  });

  it('reads every option', () => {
    const c = parseConfig({
      MODEL_FILE_PATTERN: 'gs://m/*.h5',
      VALIDATE_MODELS: 'false',
      IMAGE_BUCKETS: 'gs://a, b/',
      MAX_EVENT_AGE: '15m',
      DEFAULT_INPUT_SCALE: '[-1,1]',
      TOP_K: '3',
      LOCAL_IMAGE_DIR: '/data/images/',
      ICC_PROFILES: 'apply',
      INFERENCE_THREADS: '3',
      ORT_SPIN: ' auto ',
      TFJS_BACKEND: 'wasm ',
    });
    assert.equal(c.iccProfiles, 'apply');
    assert.equal(c.backend, 'wasm');
    assert.equal(parseConfig({MODEL_FILE_PATTERN: 'gs://m/*.h5', TFJS_BACKEND: 'auto'}).backend, null);
    assert.equal(c.inferenceThreads, 3);
    assert.equal(c.ortSpin, 'auto');
    assert.equal(c.validateModels, false);
    assert.deepEqual(c.imageBuckets, ['a', 'b']);
    assert.equal(c.maxEventAgeMs, 900_000);
    assert.equal(c.defaultScale, '-1,1');
    assert.equal(c.topK, 3);
    assert.equal(c.localImageDir, '/data/images');
  });

  it('lists every bad variable in one ConfigError', () => {
    assert.throws(
      () =>
        parseConfig({
          MODEL_FILE_PATTERN: 'gs://m*/x.h5',
          TOP_K: '0',
          VALIDATE_MODELS: 'maybe',
          MAX_EVENT_AGE: 'soon',
          ICC_PROFILES: 'srgb',
          INFERENCE_ENGINE: 'gpu',
          ORT_SPIN: ' sometimes ',
          CUTOVER: 'eventual',
          TFJS_BACKEND: 'webgl',
        }),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        for (const name of ['MODEL_FILE_PATTERN', 'TOP_K', 'VALIDATE_MODELS', 'MAX_EVENT_AGE', 'ICC_PROFILES'])
          assert.match(e.message, new RegExp(name));
        assert.match(e.message, /ICC_PROFILES: must be ignore or apply, not 'srgb'/);
        assert.match(e.message, /INFERENCE_ENGINE: must be auto, onnx or tfjs, not 'gpu'/);
        assert.match(e.message, /ORT_SPIN: must be auto, on or off, not ' sometimes '/);
        assert.match(e.message, /CUTOVER: must be available or consistent, not 'eventual'/);
        assert.match(e.message, /TFJS_BACKEND: must be auto, tensorflow, wasm or cpu, not 'webgl'/);
        return true;
      }
    );
  });

  it('requires MODEL_FILE_PATTERN', () => {
    assert.throws(() => parseConfig({}), /MODEL_FILE_PATTERN: required/);
  });

  it('reads the model-key options, and refuses DEFAULT_MODEL_KEY without {key}', () => {
    const c = parseConfig({
      MODEL_FILE_PATTERN: 'gs://m/{key}/*.h5',
      DEFAULT_MODEL_KEY: 'flowers',
      MODEL_KEY_ATTRIBUTE: 'tenant',
      MAX_CACHED_MODELS: '2',
      MODEL_CACHE_BYTES: '1000000',
    });
    assert.equal(c.modelFilePattern.keyed, true);
    assert.equal(c.defaultModelKey, 'flowers');
    assert.equal(c.modelKeyAttribute, 'tenant');
    assert.equal(c.maxCachedModels, 2);
    assert.equal(c.modelCacheBytes, 1_000_000);
    const d = parseConfig({MODEL_FILE_PATTERN: 'gs://m/*.h5'});
    assert.equal(d.modelFilePattern.keyed, false);
    assert.equal(d.defaultModelKey, null);
    assert.equal(d.maxCachedModels, 4);
    assert.throws(
      () => parseConfig({MODEL_FILE_PATTERN: 'gs://m/*.h5', DEFAULT_MODEL_KEY: 'a', MODEL_KEY_ATTRIBUTE: 'goog-x'}),
      (e: unknown) => /DEFAULT_MODEL_KEY: only meaningful/.test(String(e)) && /MODEL_KEY_ATTRIBUTE/.test(String(e))
    );
    assert.throws(() => parseConfig({MODEL_FILE_PATTERN: 'gs://m/{key}/{key}.h5'}), /once/);
  });
});
