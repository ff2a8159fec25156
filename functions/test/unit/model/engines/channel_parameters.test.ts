/**
 * Per-channel parameters along an axis that is not the last (a channels-first model's
 * BatchNormalization and PReLU), on both engines, against the formula written out in
 * JavaScript. tfjs' own kernels cycle such parameters along the last axis (batchNorm on every
 * backend, Prelu on wasm), so tfjs' predict cannot be the reference here.
 */
import assert from 'node:assert/strict';
import {before, describe, it} from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {loadClassifier} from '../../../../src/model/loader.js';
import {writeKerasH5} from '../../../../../scripts/lib/keras_writer.js';
import {backend} from '../../../helpers/models.js';

const [C, H, W] = [3, 4, 5];
const CLASSES = 4;

interface Case {
  readonly name: string;
  readonly channelsFirst: boolean;
  readonly layer: () => tf.layers.Layer;
  /** The layer's weights, in tfjs' order. */
  readonly weights: tf.Tensor[];
  /** What the layer gives value `x` of channel `c`, as Keras computes it. */
  readonly formula: (x: number, c: number) => number;
}

const GAMMA = [1.5, -0.5, 2];
const BETA = [0.1, -0.2, 0.3];
const MEAN = [0.2, -0.1, 0];
const VARIANCE = [0.5, 1.5, 2];
const ALPHA = [0.1, 0.5, -0.3];
const batchNorm = (x: number, c: number) => ((x - MEAN[c]!) / Math.sqrt(VARIANCE[c]! + 1e-3)) * GAMMA[c]! + BETA[c]!;
const bnWeights = () => [GAMMA, BETA, MEAN, VARIANCE].map(v => tf.tensor1d(v));

const CASES: Case[] = [
  {
    name: 'BatchNormalization over axis 1 of a channels-first input (nothing to fold it into)',
    channelsFirst: true,
    layer: () => tf.layers.batchNormalization({axis: 1}),
    weights: bnWeights(),
    formula: batchNorm,
  },
  {
    name: 'BatchNormalization over axis 3 of a channels-last input',
    channelsFirst: false,
    layer: () => tf.layers.batchNormalization({axis: 3}),
    weights: bnWeights(),
    formula: batchNorm,
  },
  {
    name: 'PReLU shared over the rows and columns of a channels-first input (alpha [C, 1, 1])',
    channelsFirst: true,
    layer: () => tf.layers.prelu({sharedAxes: [2, 3]}),
    weights: [tf.tensor3d(ALPHA, [C, 1, 1])],
    formula: (x, c) => (x > 0 ? x : ALPHA[c]! * x),
  },
  {
    name: 'PReLU shared over the rows and columns of a channels-last input (alpha [1, 1, C])',
    channelsFirst: false,
    layer: () => tf.layers.prelu({sharedAxes: [1, 2]}),
    weights: [tf.tensor3d(ALPHA, [1, 1, C])],
    formula: (x, c) => (x > 0 ? x : ALPHA[c]! * x),
  },
];

/** Pixels in HWC order (what the classifier takes), negative and positive. */
const PIXELS = Float32Array.from({length: H * W * C}, (_, i) => ((i * 7) % 13) / 6.5 - 1);

/** Keras' answer: the formula per value, flattened in the model's own order, then Dense and softmax. */
function reference(c: Case, kernel: Float32Array, bias: Float32Array): Float32Array {
  const flat: number[] = [];
  if (c.channelsFirst) {
    for (let ch = 0; ch < C; ch++)
      for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) flat.push(c.formula(PIXELS[(y * W + x) * C + ch]!, ch));
  } else {
    PIXELS.forEach((v, i) => flat.push(c.formula(v, i % C)));
  }
  const logits = Array.from(bias, (b, k) => flat.reduce((s, v, i) => s + v * kernel[i * CLASSES + k]!, b));
  const top = Math.max(...logits);
  const e = logits.map(l => Math.exp(l - top));
  const sum = e.reduce((a, b) => a + b, 0);
  return Float32Array.from(e, v => v / sum);
}

describe('per-channel parameters along an axis that is not the last, against the formula', () => {
  before(backend);

  for (const c of CASES) {
    for (const engine of ['onnx', 'tfjs'] as const) {
      it(`${engine}: ${c.name}`, async () => {
        const input = tf.input({shape: c.channelsFirst ? [C, H, W] : [H, W, C]});
        const layer = c.layer();
        const dense = tf.layers.dense({units: CLASSES, activation: 'softmax'});
        const model = tf.model({
          inputs: input,
          outputs: dense.apply(tf.layers.flatten({}).apply(layer.apply(input))) as tf.SymbolicTensor,
        });
        layer.setWeights(c.weights);
        const kernel = Float32Array.from({length: H * W * C * CLASSES}, (_, i) => (((i * 31) % 17) - 8) / 40);
        const bias = Float32Array.from({length: CLASSES}, (_, k) => k / 10);
        dense.setWeights([tf.tensor2d(kernel, [H * W * C, CLASSES]), tf.tensor1d(bias)]);
        const loaded = await loadClassifier(await writeKerasH5(model), {engine});
        model.dispose();
        try {
          assert.equal(loaded.engine, engine);
          const want = reference(c, kernel, bias);
          const [got] = await loaded.classifyPixels([PIXELS], CLASSES);
          for (const t of got!.top_k) {
            assert.ok(Math.abs(t.score - want[t.index]!) < 1e-5, `class ${t.index}: ${t.score} vs ${want[t.index]}`);
          }
        } finally {
          loaded.dispose();
        }
      });
    }
  }
});
