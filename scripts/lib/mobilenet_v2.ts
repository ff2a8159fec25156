/**
 * Keras' MobileNetV2 (alpha 1.0, 224×224, 1000 classes; `keras.applications.MobileNetV2`)
 * rebuilt layer for layer in TensorFlow.js, with the same layer names, so that
 * {@link writeKerasH5} gives a file shaped like the one Keras saves. Random weights
 * (Keras' own initialisers): right for timing, meaningless for classes.
 */
import * as tf from '@tensorflow/tfjs';
import {writeKerasH5} from './keras_writer.js';

/**
 * With default initialisers (moving variance 1) the activations of this random network shrink
 * through its 52 BatchNormalizations to ~1e-13: its output is a constant, which the promotion
 * gate rightly refuses. A moving variance of 0.1 (measured: features ~0.4 at the pooling)
 * keeps them alive; the cost of a prediction does not depend on the values.
 */
const bn = (name: string) =>
  tf.layers.batchNormalization({
    axis: -1,
    epsilon: 1e-3,
    momentum: 0.999,
    movingVarianceInitializer: tf.initializers.constant({value: 0.1}),
    name,
  });
const relu6 = (name: string) => tf.layers.reLU({maxValue: 6, name});

function makeDivisible(v: number, divisor = 8): number {
  const n = Math.max(divisor, Math.floor((v + divisor / 2) / divisor) * divisor);
  return n < 0.9 * v ? n + divisor : n;
}

function invertedResBlock(
  inputs: tf.SymbolicTensor,
  expansion: number,
  stride: number,
  filters: number,
  blockId: number
): tf.SymbolicTensor {
  const inChannels = inputs.shape[inputs.shape.length - 1]!;
  const pointwise = makeDivisible(filters);
  let prefix = `block_${blockId}_`;
  let x = inputs;
  if (blockId) {
    x = tf.layers
      .conv2d({
        filters: expansion * inChannels,
        kernelSize: 1,
        padding: 'same',
        useBias: false,
        name: `${prefix}expand`,
      })
      .apply(x) as tf.SymbolicTensor;
    x = bn(`${prefix}expand_BN`).apply(x) as tf.SymbolicTensor;
    x = relu6(`${prefix}expand_relu`).apply(x) as tf.SymbolicTensor;
  } else prefix = 'expanded_conv_';
  if (stride === 2) {
    // Keras' correct_pad for an even input: one row and column after.
    x = tf.layers
      .zeroPadding2d({
        padding: [
          [0, 1],
          [0, 1],
        ],
        name: `${prefix}pad`,
      })
      .apply(x) as tf.SymbolicTensor;
  }
  x = tf.layers
    .depthwiseConv2d({
      kernelSize: 3,
      strides: stride,
      useBias: false,
      padding: stride === 1 ? 'same' : 'valid',
      name: `${prefix}depthwise`,
    })
    .apply(x) as tf.SymbolicTensor;
  x = bn(`${prefix}depthwise_BN`).apply(x) as tf.SymbolicTensor;
  x = relu6(`${prefix}depthwise_relu`).apply(x) as tf.SymbolicTensor;
  x = tf.layers
    .conv2d({filters: pointwise, kernelSize: 1, padding: 'same', useBias: false, name: `${prefix}project`})
    .apply(x) as tf.SymbolicTensor;
  x = bn(`${prefix}project_BN`).apply(x) as tf.SymbolicTensor;
  if (inChannels === pointwise && stride === 1)
    return tf.layers.add({name: `${prefix}add`}).apply([inputs, x]) as tf.SymbolicTensor;
  return x;
}

/** The (filters, stride, expansion) of blocks 0–16, as in Keras. */
const BLOCKS: Array<[number, number, number]> = [
  [16, 1, 1],
  [24, 2, 6],
  [24, 1, 6],
  [32, 2, 6],
  [32, 1, 6],
  [32, 1, 6],
  [64, 2, 6],
  [64, 1, 6],
  [64, 1, 6],
  [64, 1, 6],
  [96, 1, 6],
  [96, 1, 6],
  [96, 1, 6],
  [160, 2, 6],
  [160, 1, 6],
  [160, 1, 6],
  [320, 1, 6],
];

/** Builds MobileNetV2 1.0 224 in TensorFlow.js (random weights). */
export function mobileNetV2(): tf.LayersModel {
  const input = tf.input({shape: [224, 224, 3], name: 'input_1'});
  let x = tf.layers
    .conv2d({filters: 32, kernelSize: 3, strides: 2, padding: 'same', useBias: false, name: 'Conv1'})
    .apply(input) as tf.SymbolicTensor;
  x = bn('bn_Conv1').apply(x) as tf.SymbolicTensor;
  x = relu6('Conv1_relu').apply(x) as tf.SymbolicTensor;
  BLOCKS.forEach(([filters, stride, expansion], id) => (x = invertedResBlock(x, expansion, stride, filters, id)));
  x = tf.layers.conv2d({filters: 1280, kernelSize: 1, useBias: false, name: 'Conv_1'}).apply(x) as tf.SymbolicTensor;
  x = bn('Conv_1_bn').apply(x) as tf.SymbolicTensor;
  x = relu6('out_relu').apply(x) as tf.SymbolicTensor;
  x = tf.layers.globalAveragePooling2d({name: 'global_average_pooling2d'}).apply(x) as tf.SymbolicTensor;
  const output = tf.layers
    .dense({units: 1000, activation: 'softmax', name: 'predictions'})
    .apply(x) as tf.SymbolicTensor;
  return tf.model({inputs: input, outputs: output, name: 'mobilenetv2_1.00_224'});
}

/**
 * The multiply-adds one image costs in a model's convolutions and dense layers: each layer's
 * kernel elements times the positions it is applied at (the spatial size of its output; one
 * for a dense layer). Batch normalisation, activations, additions and pooling are not
 * counted (folded away or negligible), as in the papers' "mult-adds": 300 774 272 for
 * {@link mobileNetV2}, which Sandler et al. (2018) give as 300 M.
 */
export function multiplyAdds(model: tf.LayersModel): number {
  let total = 0;
  for (const layer of model.layers) {
    const kernel = layer.weights.find(w => w.originalName.endsWith('kernel'));
    if (!kernel) continue;
    const out = layer.outputShape as number[];
    const positions = out.slice(1, -1).reduce((a, b) => a * b, 1);
    total += positions * kernel.shape.reduce((a: number, b) => a * (b ?? 1), 1);
  }
  return total;
}

/** A MobileNetV2 1.0 224 `.h5` written by this project's writer, and its multiply-adds an image. */
export async function mobileNetV2File(): Promise<{bytes: Uint8Array; multiplyAdds: number}> {
  const model = mobileNetV2();
  try {
    return {bytes: await writeKerasH5(model), multiplyAdds: multiplyAdds(model)};
  } finally {
    model.dispose();
  }
}

/** The bytes of a MobileNetV2 1.0 224 `.h5` written by this project's writer. */
export async function mobileNetV2H5(): Promise<Uint8Array> {
  return (await mobileNetV2File()).bytes;
}
