/**
 * A real Keras 3 archive (shared fixture, written by Keras 3.14.1 with QKeras layers): the
 * reader's `.keras` layout is Keras' own, and the refusal names the custom layers.
 */
import assert from 'node:assert/strict';
import {describe, it} from 'node:test';
import {readKerasModel} from '../../../../src/model/keras/read.js';
import {loadClassifier} from '../../../../src/model/loader.js';
import {fixtureBytes} from '../../../helpers/fixtures.js';

describe('a real .keras archive', () => {
  it('reads a real Keras 3 archive: version, config, and weights addressed by class (layers/q_dense_1/vars/0)', async () => {
    const file = await readKerasModel(fixtureBytes('models/not-hdf5/qkeras-v3_3layer.keras'));
    assert.equal(file.kerasVersion, '3.14.1');
    assert.equal(file.modelConfig.class_name, 'Sequential');
    const shapes = (name: string) => file.layerWeights.get(name)?.map(x => x.shape);
    assert.deepEqual(shapes('fc1'), [[16, 64], [64]]);
    assert.deepEqual(shapes('fc2'), [[64, 32], [32]]);
    assert.deepEqual(shapes('output'), [[32, 5], [5]]);
    assert.deepEqual(shapes('relu1'), []);
  });

  it('refuses the shared QKeras archive, naming its custom layers and where they come from', async () => {
    await assert.rejects(
      loadClassifier(fixtureBytes('models/not-hdf5/qkeras-v3_3layer.keras')),
      (e: Error & {kind?: string}) => {
        assert.equal(e.kind, 'unsupported_layer');
        for (const l of ["QDense 'fc1'", "QActivation 'relu1'", "QDense 'output'"])
          assert.ok(e.message.includes(l), e.message);
        assert.match(e.message, /custom layer from qkeras\.qlayers/);
        return true;
      }
    );
  });
});
