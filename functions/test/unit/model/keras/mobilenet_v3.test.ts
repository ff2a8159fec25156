/**
 * keras.applications' MobileNetV3 writes its hard sigmoid with operators, not a layer:
 * `ReLU(6)(x + 3) * (1 / 6)` (keras/src/applications/mobilenet_v3.py), in every
 * squeeze-and-excite block, and tf.keras 2 its hard swish as `Multiply()([x, hard_sigmoid(x)])`.
 * Keras 3 saves `+ 3` and `* (1/6)` as its add and multiply ops on a number, tf.keras 2 as
 * TFOpLambda layers. Until keras/op_layers.ts read the number, ONNX Runtime served Keras 3's
 * `x + 3` and `x * (1/6)` as `x`: every SE gate was ReLU6(x) instead of ReLU6(x + 3) / 6, an
 * answer that looked like any other. Here one SE block and a hard swish, as each Keras writes
 * them, against the block written out.
 */
import {describe, it} from 'node:test';
import type {ModelSpec} from '../../../../../scripts/lib/keras_writer.js';
import {
  answersAs,
  conv2dConfig,
  dense,
  deterministic,
  functional,
  input,
  keras2Layer,
  layer,
  matVec,
  opEntry,
  softmax,
  tfOpLambda,
  type Entry,
  w,
} from '../../../helpers/keras_specs.js';

/** A 2×2×3 image of raw 0–255 pixels; the model rescales it to [−1, 1] itself. */
const RAW = [30, 220, 140, 255, 5, 90, 170, 60, 10, 240, 120, 75];
const squeeze = deterministic(3 * 2, 91); // 1×1, 3 → 2
const squeezeBias = [0.2, -0.3];
const excite = deterministic(2 * 3, 92); // 1×1, 2 → 3
const exciteBias = [0.5, -2, 1];
const head = deterministic(3 * 3, 93);
const headBias = [0, 0.1, -0.2];
const weights: ModelSpec['weights'] = {
  se_conv: [w('kernel', [1, 1, 3, 2], squeeze), w('bias', [2], squeezeBias)],
  se_conv_1: [w('kernel', [1, 1, 2, 3], excite), w('bias', [3], exciteBias)],
  probs: [w('kernel', [3, 3], head), w('bias', [3], headBias)],
};

const relu6 = (v: number) => Math.min(Math.max(v, 0), 6);
const hardSigmoid = (v: number) => relu6(v + 3) / 6;
/** The block by hand: rescale, SE (gate = hard_sigmoid), hard swish, pooling, softmax head. */
const expected = (() => {
  const x = RAW.map(v => v / 127.5 - 1);
  const pixels = [0, 1, 2, 3].map(p => x.slice(p * 3, p * 3 + 3));
  const mean = [0, 1, 2].map(c => pixels.reduce((s, px) => s + px[c]!, 0) / 4);
  const gate = matVec(
    matVec(mean, squeeze, squeezeBias).map(v => Math.max(v, 0)),
    excite,
    exciteBias
  ).map(hardSigmoid);
  const out = pixels.map(px => px.map((v, c) => v * gate[c]!).map(v => v * hardSigmoid(v)));
  return softmax(
    matVec(
      [0, 1, 2].map(c => out.reduce((s, px) => s + px[c]!, 0) / 4),
      head,
      headBias
    )
  );
})();

const rescaling = {scale: 1 / 127.5, offset: -1};
const pooling = {data_format: 'channels_last', keepdims: true};

/** Keras 3: `x + 3.0` and `* (1.0 / 6.0)` are ops; hard swish is Activation('hard_swish'). */
const keras3: ModelSpec = {
  config: functional(
    'mobilenet_v3_block',
    [
      input('image', [2, 2, 3]),
      layer('Rescaling', 'rescaling', rescaling, ['image']),
      layer('GlobalAveragePooling2D', 'se_avg_pool', pooling, ['rescaling']),
      layer('Conv2D', 'se_conv', conv2dConfig(2, 1), ['se_avg_pool']),
      layer('ReLU', 'se_relu', {}, ['se_conv']),
      layer('Conv2D', 'se_conv_1', conv2dConfig(3, 1), ['se_relu']),
      opEntry('Add', 'add', ['se_conv_1', 3.0]),
      layer('ReLU', 're_lu', {max_value: 6}, ['add']),
      opEntry('Multiply', 'multiply', ['re_lu', 1.0 / 6.0]),
      layer('Multiply', 'se_mul', {}, ['rescaling', 'multiply']),
      layer('Activation', 'hard_swish', {activation: 'hard_swish'}, ['se_mul']),
      layer('GlobalAveragePooling2D', 'pool', {data_format: 'channels_last', keepdims: false}, ['hard_swish']),
      dense('probs', 3, 'softmax', ['pool']),
    ],
    'image',
    'probs'
  ),
  weights,
};

/** tf.keras 2: the same ops as TFOpLambda layers; hard swish is Multiply()([x, hard_sigmoid(x)]). */
const hardSigmoid2 = (from: string, n: string): Entry[] => [
  tfOpLambda(`tf.__operators__.add${n}`, '__operators__.add', from, 3.0),
  keras2Layer('ReLU', `re_lu${n}`, {max_value: 6}, `tf.__operators__.add${n}`),
  tfOpLambda(`tf.math.multiply${n}`, 'math.multiply', `re_lu${n}`, 1.0 / 6.0),
];
const keras2: ModelSpec = {
  kerasVersion: '2.13.1',
  config: {
    class_name: 'Functional',
    config: {
      name: 'mobilenet_v3_block',
      layers: [
        keras2Layer('InputLayer', 'image', {batch_input_shape: [null, 2, 2, 3]}, null),
        keras2Layer('Rescaling', 'rescaling', rescaling, 'image'),
        keras2Layer('GlobalAveragePooling2D', 'se_avg_pool', pooling, 'rescaling'),
        keras2Layer('Conv2D', 'se_conv', conv2dConfig(2, 1), 'se_avg_pool'),
        keras2Layer('ReLU', 'se_relu', {}, 'se_conv'),
        keras2Layer('Conv2D', 'se_conv_1', conv2dConfig(3, 1), 'se_relu'),
        ...hardSigmoid2('se_conv_1', ''),
        keras2Layer('Multiply', 'se_mul', {}, ['rescaling', 'tf.math.multiply']),
        ...hardSigmoid2('se_mul', '_1'),
        keras2Layer('Multiply', 'hard_swish', {}, ['se_mul', 'tf.math.multiply_1']),
        keras2Layer('GlobalAveragePooling2D', 'pool', {data_format: 'channels_last', keepdims: false}, 'hard_swish'),
        keras2Layer('Dense', 'probs', {units: 3, activation: 'softmax', use_bias: true}, 'pool'),
      ],
      input_layers: [['image', 0, 0]],
      output_layers: [['probs', 0, 0]],
    },
  },
  weights,
};

describe("MobileNetV3's hard sigmoid and hard swish, as Keras 3 and tf.keras 2 write them", () => {
  const cases: Array<[string, ModelSpec, readonly ('h5' | 'keras')[]]> = [
    ['Keras 3 (add and multiply ops on numbers)', keras3, ['h5', 'keras']],
    ['tf.keras 2 (TFOpLambda layers)', keras2, ['h5']],
  ];
  for (const [what, spec, formats] of cases) {
    for (const format of formats) {
      for (const engine of ['onnx', 'tfjs'] as const) {
        it(`${what}, .${format}, ${engine}`, async () => {
          await answersAs(spec, format, {engine, scale: '0,255'}, RAW, expected, engine);
        });
      }
    }
  }
});
