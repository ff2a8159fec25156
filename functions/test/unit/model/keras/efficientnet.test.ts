/**
 * keras.applications' EfficientNet, in miniature and laid out as keras/src/applications/
 * efficientnet.py builds it: a stem that takes raw pixels (Rescaling(1/255), an adapted
 * Normalization, a Rescaling by one number per channel, the `correct_pad` ZeroPadding2D and a
 * stride-2 valid Conv2D), one MBConv block (expand, depthwise, squeeze-and-excite with its
 * Reshape to 1×1×C and a broadcasting `multiply`, project, a Dropout with
 * `noise_shape=(None, 1, 1, 1)`, the residual `add`), and the top (1×1 Conv2D, pooling,
 * Dropout, softmax). Swish throughout, BatchNormalization after every convolution.
 * Written by the project's Keras writer as Keras 3 (both formats); the expected output is the
 * network written out here.
 */
import {describe, it} from 'node:test';
import type {ModelSpec} from '../../../../../scripts/lib/keras_writer.js';
import {
  answersAs,
  conv2dConfig,
  dense,
  depthwiseConfig,
  deterministic,
  functional,
  groupedConv,
  input,
  layer,
  matVec,
  sigmoid,
  softmax,
  w,
} from '../../../helpers/keras_specs.js';

const [H, W, C] = [4, 4, 3];
const RAW = deterministic(H * W * C, 81).map(v => Math.round((v + 0.8) * 159));
const [STEM, EXPANDED, SQUEEZED, TOP, CLASSES] = [4, 8, 1, 5, 3];

const mean = [0.485, 0.456, 0.406];
const variance = [0.229, 0.224, 0.225].map(s => s * s);
const stddevScale = [0.229, 0.224, 0.225].map(s => 1 / Math.sqrt(s));
const stemKernel = deterministic(3 * 3 * C * STEM, 82);
const expandKernel = deterministic(STEM * EXPANDED, 83);
const dwKernel = deterministic(3 * 3 * EXPANDED, 84);
const [reduceKernel, reduceBias] = [deterministic(EXPANDED * SQUEEZED, 85), [0.3]];
const [exciteKernel, exciteBias] = [deterministic(SQUEEZED * EXPANDED, 86), deterministic(EXPANDED, 87)];
const projectKernel = deterministic(EXPANDED * STEM, 88);
const topKernel = deterministic(STEM * TOP, 89);
const [head, headBias] = [deterministic(TOP * CLASSES, 90), [0.1, -0.2, 0]];

/** A BatchNormalization of `n` channels: its weights, and what it computes. */
function batchNorm(n: number, seed: number) {
  const gamma = deterministic(n, seed + 1).map(v => 1 + v / 2);
  const [beta, movingMean] = [deterministic(n, seed + 2), deterministic(n, seed + 3)];
  const movingVariance = deterministic(n, seed + 4).map(v => 0.5 + Math.abs(v));
  return {
    weights: [
      w('gamma', [n], gamma),
      w('beta', [n], beta),
      w('moving_mean', [n], movingMean),
      w('moving_variance', [n], movingVariance),
    ],
    apply: (x: number[]) =>
      x.map((v, i) => {
        const c = i % n;
        return (gamma[c]! * (v - movingMean[c]!)) / Math.sqrt(movingVariance[c]! + 1e-3) + beta[c]!;
      }),
  };
}
const bn = {
  stem: batchNorm(STEM, 100),
  expand: batchNorm(EXPANDED, 110),
  dw: batchNorm(EXPANDED, 120),
  project: batchNorm(STEM, 130),
  top: batchNorm(TOP, 140),
};

const swish = (x: number[]) => x.map(v => v * sigmoid(v));
/** A 1×1 convolution of `pixels` pixels, `cin` → `cout`, no bias. */
const pointwise = (x: number[], cin: number, cout: number, kernel: number[], pixels: number) =>
  Array.from({length: pixels}, (_, p) =>
    matVec(x.slice(p * cin, p * cin + cin), kernel, new Array(cout).fill(0))
  ).flat();

/** The network by hand. */
const expected = (() => {
  // Stem: 0–255 → [0, 1] → normalised → per-channel scale; pad one row and column after; 3×3 stride 2.
  const x = RAW.map((v, i) => ((v / 255 - mean[i % C]!) / Math.sqrt(variance[i % C]!)) * stddevScale[i % C]!);
  const padded = (y: number, xx: number, c: number) => (y < H && xx < W ? x[(y * W + xx) * C + c]! : 0);
  const stem: number[] = [];
  for (let y = 0; y < 2; y++)
    for (let xx = 0; xx < 2; xx++)
      for (let o = 0; o < STEM; o++) {
        let sum = 0;
        for (let dy = 0; dy < 3; dy++)
          for (let dx = 0; dx < 3; dx++)
            for (let c = 0; c < C; c++)
              sum += padded(2 * y + dy, 2 * xx + dx, c) * stemKernel[((dy * 3 + dx) * C + c) * STEM + o]!;
        stem.push(sum);
      }
  const block = swish(bn.stem.apply(stem));
  // MBConv: expand, depthwise 3×3 'same', SE, project, residual.
  const expanded = swish(bn.expand.apply(pointwise(block, STEM, EXPANDED, expandKernel, 4)));
  const dw = swish(
    bn.dw.apply(
      groupedConv(expanded, [2, 2, EXPANDED], dwKernel, [3, 3], EXPANDED, EXPANDED, new Array(EXPANDED).fill(0))
    )
  );
  const squeezed = [...Array(EXPANDED).keys()].map(
    c => [0, 1, 2, 3].reduce((s, p) => s + dw[p * EXPANDED + c]!, 0) / 4
  );
  const gate = matVec(swish(matVec(squeezed, reduceKernel, reduceBias)), exciteKernel, exciteBias).map(sigmoid);
  const excited = dw.map((v, i) => v * gate[i % EXPANDED]!);
  const projected = bn.project.apply(pointwise(excited, EXPANDED, STEM, projectKernel, 4));
  const residual = projected.map((v, i) => v + block[i]!);
  const top = swish(bn.top.apply(pointwise(residual, STEM, TOP, topKernel, 4)));
  const pooled = [...Array(TOP).keys()].map(c => [0, 1, 2, 3].reduce((s, p) => s + top[p * TOP + c]!, 0) / 4);
  return softmax(matVec(pooled, head, headBias));
})();

const noBias = (filters: number, size: number, extra = {}) => conv2dConfig(filters, size, {use_bias: false, ...extra});
const activation = (name: string, from: string) => layer('Activation', name, {activation: 'swish'}, [from]);
const bnLayer = (name: string, from: string) =>
  layer('BatchNormalization', name, {axis: -1, momentum: 0.99, epsilon: 1e-3, center: true, scale: true}, [from]);

const keras3: ModelSpec = {
  config: functional(
    'efficientnetb0',
    [
      input('input_layer', [H, W, C]),
      layer('Rescaling', 'rescaling', {scale: 1 / 255, offset: 0}, ['input_layer']),
      layer('Normalization', 'normalization', {axis: -1, mean: null, variance: null, invert: false}, ['rescaling']),
      layer('Rescaling', 'rescaling_1', {scale: stddevScale, offset: 0}, ['normalization']),
      layer(
        'ZeroPadding2D',
        'stem_conv_pad',
        {
          padding: [
            [0, 1],
            [0, 1],
          ],
          data_format: 'channels_last',
        },
        ['rescaling_1']
      ),
      layer('Conv2D', 'stem_conv', noBias(STEM, 3, {strides: [2, 2], padding: 'valid'}), ['stem_conv_pad']),
      bnLayer('stem_bn', 'stem_conv'),
      activation('stem_activation', 'stem_bn'),
      layer('Conv2D', 'block1a_expand_conv', noBias(EXPANDED, 1), ['stem_activation']),
      bnLayer('block1a_expand_bn', 'block1a_expand_conv'),
      activation('block1a_expand_activation', 'block1a_expand_bn'),
      layer('DepthwiseConv2D', 'block1a_dwconv', depthwiseConfig(3, {use_bias: false}), ['block1a_expand_activation']),
      bnLayer('block1a_bn', 'block1a_dwconv'),
      activation('block1a_activation', 'block1a_bn'),
      layer('GlobalAveragePooling2D', 'block1a_se_squeeze', {data_format: 'channels_last', keepdims: false}, [
        'block1a_activation',
      ]),
      layer('Reshape', 'block1a_se_reshape', {target_shape: [1, 1, EXPANDED]}, ['block1a_se_squeeze']),
      layer('Conv2D', 'block1a_se_reduce', conv2dConfig(SQUEEZED, 1, {activation: 'swish'}), ['block1a_se_reshape']),
      layer('Conv2D', 'block1a_se_expand', conv2dConfig(EXPANDED, 1, {activation: 'sigmoid'}), ['block1a_se_reduce']),
      layer('Multiply', 'block1a_se_excite', {}, ['block1a_activation', 'block1a_se_expand']),
      layer('Conv2D', 'block1a_project_conv', noBias(STEM, 1), ['block1a_se_excite']),
      bnLayer('block1a_project_bn', 'block1a_project_conv'),
      layer('Dropout', 'block1a_drop', {rate: 0.2, noise_shape: [null, 1, 1, 1], seed: null}, ['block1a_project_bn']),
      layer('Add', 'block1a_add', {}, ['block1a_drop', 'stem_activation']),
      layer('Conv2D', 'top_conv', noBias(TOP, 1), ['block1a_add']),
      bnLayer('top_bn', 'top_conv'),
      activation('top_activation', 'top_bn'),
      layer('GlobalAveragePooling2D', 'avg_pool', {data_format: 'channels_last', keepdims: false}, ['top_activation']),
      layer('Dropout', 'top_dropout', {rate: 0.2, noise_shape: null, seed: null}, ['avg_pool']),
      dense('predictions', CLASSES, 'softmax', ['top_dropout']),
    ],
    'input_layer',
    'predictions'
  ),
  weights: {
    normalization: [w('mean', [C], mean), w('variance', [C], variance), w('count', [], [0])],
    stem_conv: [w('kernel', [3, 3, C, STEM], stemKernel)],
    stem_bn: bn.stem.weights,
    block1a_expand_conv: [w('kernel', [1, 1, STEM, EXPANDED], expandKernel)],
    block1a_expand_bn: bn.expand.weights,
    block1a_dwconv: [w('kernel', [3, 3, EXPANDED, 1], dwKernel)],
    block1a_bn: bn.dw.weights,
    block1a_se_reduce: [w('kernel', [1, 1, EXPANDED, SQUEEZED], reduceKernel), w('bias', [SQUEEZED], reduceBias)],
    block1a_se_expand: [w('kernel', [1, 1, SQUEEZED, EXPANDED], exciteKernel), w('bias', [EXPANDED], exciteBias)],
    block1a_project_conv: [w('kernel', [1, 1, EXPANDED, STEM], projectKernel)],
    block1a_project_bn: bn.project.weights,
    top_conv: [w('kernel', [1, 1, STEM, TOP], topKernel)],
    top_bn: bn.top.weights,
    predictions: [w('kernel', [TOP, CLASSES], head), w('bias', [CLASSES], headBias)],
  },
};

describe("keras.applications' EfficientNet in miniature (Keras 3), from raw pixels", () => {
  for (const format of ['h5', 'keras'] as const) {
    for (const engine of ['onnx', 'tfjs'] as const) {
      it(`.${format}, ${engine}: answers as the network written out`, async () => {
        await answersAs(keras3, format, {engine, scale: '0,255'}, RAW, expected);
      });
    }
  }
});
