import {describe, it} from 'node:test';
import assert from 'node:assert/strict';
import {readKerasH5} from '../../../../src/model/keras/h5_reader.js';
import {
  CorruptHdf5Error,
  ModelTooLargeError,
  ModelUnusableError,
  NotHdf5Error,
  UnsupportedKerasVersionError,
  WeightsOnlyError,
} from '../../../../src/core/errors.js';
import {MOBILENET, fixtureBytes, fixtureDir} from '../../../helpers/fixtures.js';

/** Any ModelUnusableError subclass. */
type ErrorClass = new (...args: never[]) => ModelUnusableError;
type Rejection = [name: string, bytes: () => Buffer, errorClass: ErrorClass, words: RegExp];

describe('readKerasH5', () => {
  it('reads the Keras 2.8 MobileNet: attributes, every layer, every parameter', async () => {
    const file = await readKerasH5(fixtureBytes(MOBILENET));
    assert.equal(file.kerasVersion, '2.8.0');
    assert.equal(file.backend, 'tensorflow');
    assert.equal(file.modelConfig.class_name, 'Functional');
    assert.equal(file.paramCount, 475544); // MANIFEST.md: all datasets under model_weights
    const conv1 = file.layerWeights.get('conv1')!;
    assert.deepEqual(
      conv1.map(w => [w.name, w.shape]),
      [['conv1/kernel:0', [3, 3, 3, 8]]]
    );
    assert.deepEqual(
      file.layerWeights.get('conv1_bn')!.map(w => w.name),
      ['conv1_bn/gamma:0', 'conv1_bn/beta:0', 'conv1_bn/moving_mean:0', 'conv1_bn/moving_variance:0']
    );
  });

  it('reads a Keras 3 legacy h5: weight paths without :0, DTypePolicy dtypes', async () => {
    const file = await readKerasH5(fixtureBytes('models/keras3/mnist_cnn_keras3.9.1.h5'));
    assert.equal(file.kerasVersion, '3.9.1');
    assert.equal(file.paramCount, 539370);
    assert.deepEqual(
      file.layerWeights.get('conv2d')!.map(w => w.name),
      ['sequential/conv2d/kernel', 'sequential/conv2d/bias']
    );
    assert.match(JSON.stringify(file.modelConfig), /DTypePolicy/);
  });

  it('reads a tf.keras 2.13 file that also carries optimizer weights', async () => {
    const file = await readKerasH5(fixtureBytes('models/keras2/mnist_cnn_tfkeras_2.13.1.h5'));
    assert.equal(file.kerasVersion, '2.13.1');
    assert.equal(file.paramCount, 225034);
  });

  const rejections: Rejection[] = [
    ...fixtureDir('models/keras1').map(
      f =>
        [
          `Keras 1 file ${f}`,
          () => fixtureBytes(`models/keras1/${f}`),
          UnsupportedKerasVersionError,
          /Keras 1\.\d/,
        ] as [string, () => Buffer, typeof ModelUnusableError, RegExp]
    ),
    ...fixtureDir('models/weights-only')
      .filter(f => f.endsWith('.h5'))
      .map(
        f =>
          [
            `weights-only file ${f}`,
            () => fixtureBytes(`models/weights-only/${f}`),
            WeightsOnlyError,
            /weights-only.*save_weights\(\).*model\.save/,
          ] as [string, () => Buffer, typeof ModelUnusableError, RegExp]
      ),
    [
      'a Keras 3 .keras zip',
      () => fixtureBytes('models/not-hdf5/qkeras-v3_3layer.keras'),
      NotHdf5Error,
      /this is a Keras 3 \.keras archive.*save with model\.save\('x\.h5'\)/,
    ],
    [
      'a model.to_json() file',
      () => fixtureBytes('models/weights-only/KERAS_conv2d_model.json'),
      NotHdf5Error,
      /looks like JSON/,
    ],
    ['an empty file', () => Buffer.alloc(0), NotHdf5Error, /empty/],
    ['a JPEG', () => fixtureBytes('images/daisy.jpg'), NotHdf5Error, /no HDF5 signature/],
    [
      'the MobileNet cut to 3000 bytes',
      () => fixtureBytes(MOBILENET).subarray(0, 3000),
      CorruptHdf5Error,
      /truncated or corrupt/,
    ],
    [
      'the MobileNet cut to 1 MB',
      () => fixtureBytes(MOBILENET).subarray(0, 1_000_000),
      CorruptHdf5Error,
      /truncated or corrupt/,
    ],
  ];
  for (const [name, bytes, errorClass, words] of rejections) {
    it(`rejects ${name} with ${errorClass.name}`, async () => {
      await assert.rejects(readKerasH5(bytes()), (e: unknown) => {
        assert.ok(e instanceof errorClass, `got ${String(e)}`);
        assert.ok(e instanceof ModelUnusableError);
        assert.match((e as Error).message, words);
        return true;
      });
    });
  }

  it('refuses a file over the size cap before reading it', async () => {
    await assert.rejects(readKerasH5(fixtureBytes(MOBILENET), {maxBytes: 1000}), (e: unknown) => {
      assert.ok(e instanceof ModelTooLargeError);
      assert.match((e as Error).message, /MAX_MODEL_BYTES \(1000\)/);
      return true;
    });
  });

  it('keeps HDF5 diagnostics out of stderr and in the error', async () => {
    const original = process.stderr.write.bind(process.stderr);
    let written = '';
    process.stderr.write = ((chunk: string | Uint8Array) => {
      written += String(chunk);
      return true;
    }) as typeof process.stderr.write;
    try {
      await assert.rejects(readKerasH5(fixtureBytes(MOBILENET).subarray(0, 3000)), /HDF5 says: /);
    } finally {
      process.stderr.write = original;
    }
    assert.doesNotMatch(written, /HDF5-DIAG/);
  });

  it('reads concurrently without the reads colliding', async () => {
    const files = await Promise.all([
      readKerasH5(fixtureBytes(MOBILENET)),
      readKerasH5(fixtureBytes('models/keras3/mnist_cnn_keras3.9.1.h5')),
      readKerasH5(fixtureBytes(MOBILENET)),
    ]);
    assert.deepEqual(
      files.map(f => f.paramCount),
      [475544, 539370, 475544]
    );
  });
});
