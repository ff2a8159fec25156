/**
 * A file whose stored weights do not fit its own config (a hand-assembled file, or weights
 * copied from another model) is refused the same way on every engine: WeightMismatchError,
 * kind `weight_mismatch`, naming the layer. ONNX checks the weights against what the config
 * and the layer's input say before ONNX Runtime sees the graph; tfjs finds it in setWeights.
 */
import assert from 'node:assert/strict';
import {describe, it} from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {InvalidConfigError, WeightMismatchError} from '../../../src/core/errors.js';
import {writeKerasH5} from '../../../../scripts/lib/keras_writer.js';
import {backend, load} from '../../helpers/models.js';

/** The model's `.h5` with one option of one layer's config set to `value` (the weights unchanged). */
async function edited(model: tf.LayersModel, layer: string, option: string, value: unknown): Promise<Uint8Array> {
  let found = false;
  const file = await writeKerasH5(model, l => {
    if (l.config['name'] !== layer) return;
    assert.ok(option in l.config, `${layer} has ${option}`);
    l.config[option] = value;
    found = true;
  });
  model.dispose();
  assert.ok(found, `the config has layer ${layer}`);
  return file;
}

/** Input → the layers → Flatten → Dense softmax head, as a functional model. */
function classifier(shape: number[], layers: tf.layers.Layer[]): tf.LayersModel {
  const x = tf.input({shape, name: 'pixels'});
  let y = x as tf.SymbolicTensor;
  for (const layer of layers) y = layer.apply(y) as tf.SymbolicTensor;
  if (y.shape.length > 2) y = tf.layers.flatten({}).apply(y) as tf.SymbolicTensor;
  const out = tf.layers.dense({units: 3, activation: 'softmax', name: 'head'}).apply(y) as tf.SymbolicTensor;
  return tf.model({inputs: x, outputs: out});
}

const CASES: Array<{what: string; layer: string; file: () => Promise<Uint8Array>}> = [
  {
    what: 'a Dense whose units the config changes',
    layer: 'head',
    file: () => edited(classifier([4], []), 'head', 'units', 5),
  },
  {
    what: 'a Dense whose input the config changes (a Reshape before it, [48, 1] → [16, 3])',
    layer: 'mid',
    file: () =>
      edited(
        classifier(
          [4, 4, 3],
          [tf.layers.reshape({targetShape: [48, 1], name: 'flat'}), tf.layers.dense({units: 2, name: 'mid'})]
        ),
        'flat',
        'target_shape',
        [16, 3]
      ),
  },
  {
    what: 'a Conv2D whose filters the config changes',
    layer: 'conv',
    file: () =>
      edited(
        classifier([6, 6, 3], [tf.layers.conv2d({filters: 4, kernelSize: 3, name: 'conv'})]),
        'conv',
        'filters',
        6
      ),
  },
  {
    what: 'a Conv2D whose kernel size the config changes',
    layer: 'conv',
    file: () =>
      edited(
        classifier([6, 6, 3], [tf.layers.conv2d({filters: 4, kernelSize: 3, name: 'conv'})]),
        'conv',
        'kernel_size',
        [2, 2]
      ),
  },
  {
    what: 'a DepthwiseConv2D whose depth multiplier the config changes',
    layer: 'dw',
    file: () =>
      edited(
        classifier([6, 6, 3], [tf.layers.depthwiseConv2d({kernelSize: 3, depthMultiplier: 1, name: 'dw'})]),
        'dw',
        'depth_multiplier',
        2
      ),
  },
  {
    what: 'a PReLU whose shared axes the config changes',
    layer: 'slope',
    file: () =>
      edited(
        classifier([4, 4, 3], [tf.layers.prelu({sharedAxes: [1, 2], name: 'slope'})]),
        'slope',
        'shared_axes',
        [1, 3]
      ),
  },
  {
    what: 'an Embedding whose width the config changes',
    layer: 'embed',
    file: () =>
      edited(
        classifier([4, 4], [tf.layers.embedding({inputDim: 10, outputDim: 4, name: 'embed'})]),
        'embed',
        'output_dim',
        6
      ),
  },
  {
    what: 'a Conv2DTranspose whose filters the config changes',
    layer: 'up',
    file: () =>
      edited(
        classifier([3, 3, 2], [tf.layers.conv2dTranspose({filters: 4, kernelSize: 2, strides: 2, name: 'up'})]),
        'up',
        'filters',
        6
      ),
  },
  {
    what: 'a BatchNormalization (not folded: nothing before it) whose input the config changes',
    layer: 'bn',
    file: () =>
      edited(classifier([4, 4, 3], [tf.layers.batchNormalization({name: 'bn'})]), 'pixels', 'batch_input_shape', [
        null,
        4,
        4,
        1,
      ]),
  },
  {
    what: 'a GRU whose units the config changes',
    layer: 'gru',
    file: () => edited(classifier([5, 2], [tf.layers.gru({units: 4, name: 'gru'})]), 'gru', 'units', 6),
  },
  {
    what: 'an LSTM whose units the config changes',
    layer: 'lstm',
    file: () => edited(classifier([5, 2], [tf.layers.lstm({units: 4, name: 'lstm'})]), 'lstm', 'units', 6),
  },
];

describe('a file whose weights do not fit its config', () => {
  for (const engine of ['onnx', 'tfjs', 'auto'] as const) {
    for (const c of CASES) {
      it(`engine ${engine}: ${c.what} is refused as weight_mismatch, naming the layer`, async () => {
        if (engine !== 'onnx') await backend();
        await assert.rejects(load(await c.file(), {engine}), (e: unknown) => {
          assert.ok(e instanceof WeightMismatchError, String(e));
          assert.equal(e.kind, 'weight_mismatch');
          assert.match(e.message, new RegExp(`layer '${c.layer}'`));
          return true;
        });
      });
    }
  }

  it('engine onnx: the message gives the stored shape and the one the layer needs', async () => {
    await assert.rejects(load(await CASES[0]!.file(), {engine: 'onnx'}), {
      message: "layer 'head' (Dense): weight head/kernel:0 has shape [4,3] but the layer needs [4,5]",
    });
  });
});

describe('a Reshape whose target does not hold its input', () => {
  for (const engine of ['onnx', 'tfjs', 'auto'] as const) {
    it(`engine ${engine}: refused as invalid_config, naming the layer and both sizes`, async () => {
      if (engine !== 'onnx') await backend();
      const x = tf.input({shape: [4, 4, 3]});
      const flat = tf.layers.reshape({targetShape: [48], name: 'flat'}).apply(x) as tf.SymbolicTensor;
      const out = tf.layers.dense({units: 3, activation: 'softmax'}).apply(flat) as tf.SymbolicTensor;
      const bytes = await edited(tf.model({inputs: x, outputs: out}), 'flat', 'target_shape', [96]);
      await assert.rejects(load(bytes, {engine}), (e: unknown) => {
        assert.ok(e instanceof InvalidConfigError, String(e));
        assert.equal(e.kind, 'invalid_config');
        assert.equal(e.message, "Reshape 'flat' cannot make [4,4,3] (48 values) into [96]");
        return true;
      });
    });
  }
});
