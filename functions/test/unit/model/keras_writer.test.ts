/** The project's Keras .h5 writer, read back by the project's reader. */
import assert from 'node:assert/strict';
import {before, describe, it} from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {readKerasH5} from '../../../src/model/keras/h5_reader.js';
import {WRITTEN_KERAS_VERSION, writeKerasH5} from '../../../../scripts/lib/keras_writer.js';
import {mobileNetV2, mobileNetV2H5, multiplyAdds} from '../../../../scripts/lib/mobilenet_v2.js';
import {backend, load} from '../../helpers/models.js';

const layersOf = (file: Awaited<ReturnType<typeof readKerasH5>>): unknown =>
  (file.modelConfig.config as {layers?: unknown} | null)?.layers;

describe('writeKerasH5', () => {
  before(backend);

  it('round-trips a small functional model: same layers, same weights, same predictions', async () => {
    const input = tf.input({shape: [8, 8, 3]});
    let x = tf.layers
      .conv2d({filters: 4, kernelSize: 3, padding: 'same', name: 'conv'})
      .apply(input) as tf.SymbolicTensor;
    x = tf.layers.batchNormalization({name: 'bn'}).apply(x) as tf.SymbolicTensor;
    x = tf.layers.reLU({maxValue: 6, name: 'relu6'}).apply(x) as tf.SymbolicTensor;
    x = tf.layers.globalAveragePooling2d({name: 'gap'}).apply(x) as tf.SymbolicTensor;
    const out = tf.layers.dense({units: 5, activation: 'softmax', name: 'head'}).apply(x) as tf.SymbolicTensor;
    const original = tf.model({inputs: input, outputs: out});
    const bytes = await writeKerasH5(original);

    const file = await readKerasH5(bytes);
    assert.equal(file.kerasVersion, WRITTEN_KERAS_VERSION);
    assert.equal(file.modelConfig.class_name, 'Functional');
    assert.deepEqual(
      file.layerWeights.get('bn')!.map(w => w.name),
      ['bn/gamma:0', 'bn/beta:0', 'bn/moving_mean:0', 'bn/moving_variance:0']
    );

    const loaded = await load(bytes);
    const image = Float32Array.from({length: 8 * 8 * 3}, (_, i) => (i % 17) / 17);
    const want = tf.tidy(() => (original.predict(tf.tensor4d(image, [1, 8, 8, 3])) as tf.Tensor).dataSync());
    const [got] = await loaded.classifyPixels([image], 5);
    for (const t of got!.top_k) assert.ok(Math.abs(t.score - want[t.index]!) < 1e-5, `class ${t.index}`);
    loaded.dispose();
    original.dispose();
  });

  it('writes SeparableConv2D’s depth_multiplier, which tfjs-layers’ own config leaves out: both engines load it', async () => {
    const input = tf.input({shape: [6, 6, 3]});
    const sep = tf.layers.separableConv2d({filters: 2, kernelSize: 3, depthMultiplier: 2, name: 'sep'}).apply(input);
    const flat = tf.layers.flatten({}).apply(sep) as tf.SymbolicTensor;
    const out = tf.layers.dense({units: 4, activation: 'softmax'}).apply(flat) as tf.SymbolicTensor;
    const original = tf.model({inputs: input, outputs: out});
    const bytes = await writeKerasH5(original);
    const layers = layersOf(await readKerasH5(bytes)) as Array<{config: Record<string, unknown>}>;
    assert.equal(layers.find(l => l.config['name'] === 'sep')?.config['depth_multiplier'], 2);
    const image = Float32Array.from({length: 6 * 6 * 3}, (_, i) => (i % 7) / 7);
    const want = tf.tidy(() => (original.predict(tf.tensor4d(image, [1, 6, 6, 3])) as tf.Tensor).dataSync());
    for (const engine of ['onnx', 'tfjs'] as const) {
      const loaded = await load(bytes, {engine});
      const [got] = await loaded.classifyPixels([image], 4);
      for (const t of got!.top_k) assert.ok(Math.abs(t.score - want[t.index]!) < 1e-5, `${engine}: class ${t.index}`);
      loaded.dispose();
    }
    original.dispose();
  });

  it('writes a MobileNetV2 1.0 224 that loads with Keras’ parameter count', async () => {
    const model = await load(await mobileNetV2H5(), {scale: '-1,1'});
    assert.equal(model.paramCount, 3_538_984); // keras.applications.MobileNetV2().count_params()
    assert.deepEqual([model.input.height, model.input.width, model.input.channels], [224, 224, 3]);
    assert.equal(model.outputWidth, 1000);
    assert.equal(model.scoring, 'probabilities');
    model.dispose();
  });

  it('counts MobileNetV2’s multiply-adds as the paper does: 300.8 M for 1.0 224', () => {
    const model = mobileNetV2();
    // Output positions × kernel elements per layer: Conv1 is 112·112 × 3·3·3·32, block_1_expand
    // 112·112 × 16·96, block_1_depthwise 56·56 × 3·3·96, predictions 1280·1000. Checked against
    // ONNX Runtime's profile of the translated model (node shapes): 314 020 736, of which
    // 13 246 464 are the NCHWc layout padding 24 channels to 32 in blocks 1–3.
    assert.equal(multiplyAdds(model), 300_774_272);
    model.dispose();
    const tiny = tf.sequential({
      layers: [
        tf.layers.conv2d({inputShape: [8, 8, 2], filters: 4, kernelSize: 3, padding: 'same'}),
        tf.layers.depthwiseConv2d({kernelSize: 3, strides: 2, padding: 'valid'}),
        tf.layers.flatten(),
        tf.layers.dense({units: 5}),
      ],
    });
    // 8·8 × 3·3·2·4 + 3·3 × 3·3·4 + 3·3·4 × 5
    assert.equal(multiplyAdds(tiny), 4608 + 324 + 180);
    tiny.dispose();
  });
});
