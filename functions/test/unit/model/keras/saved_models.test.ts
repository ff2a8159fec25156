/**
 * The models people save: Keras 3 `.keras` archives beside legacy `.h5`, the layers
 * keras.applications models carry (Normalization, hard_swish, swish, gelu, the Multiply
 * and Reshape of squeeze-and-excite blocks), and nested models (transfer learning).
 *
 * Each model is written by this project's Keras writer in both formats and run on both
 * engines; the expected outputs are computed here, by plain arithmetic on the same
 * numbers, not by the code under test. The `.keras` layout itself is checked against a
 * real Keras 3 archive from the shared fixtures (keras_archive_fixture.test.ts).
 */
import assert from 'node:assert/strict';
import {describe, it} from 'node:test';
import {loadClassifier} from '../../../../src/model/loader.js';
import {memoryLogger} from '../../../../src/core/log.js';
import {writeKerasModel, type ModelSpec} from '../../../../../scripts/lib/keras_writer.js';
import {
  answersAs,
  close,
  conv2dConfig,
  dense,
  deterministic,
  functional,
  gelu,
  input,
  kerasTensor,
  layer,
  matVec,
  scores,
  sigmoid,
  softmax,
  type Entry,
  w,
} from '../../../helpers/keras_specs.js';

// ---- the test image, and plain arithmetic for the expected outputs ----
const PIXELS = [0.1, 0.5, 0.9, 0.2, 0.4, 0.6, 0.8, 0.3, 0.7, 0.0, 1.0, 0.25]; // 2×2×3, HWC
/** Each channel's mean over the 4 pixels: what GlobalAveragePooling2D gives. */
const CHANNEL_MEANS = [0, 1, 2].map(c => [0, 1, 2, 3].reduce((sum, p) => sum + PIXELS[p * 3 + c]!, 0) / 4);
const relu6 = (x: number) => Math.min(Math.max(x, 0), 6);
const hardSwish = (x: number) => (x * relu6(x + 3)) / 6;
const hardSigmoid3 = (x: number) => relu6(x + 3) / 6;
const swish = (x: number) => x * sigmoid(x);

interface Case {
  readonly name: string;
  readonly spec: ModelSpec;
  readonly expected: number[];
  /** The engines that run it (default both). */
  readonly engines?: readonly ('onnx' | 'tfjs')[];
  /** The image it classifies, as the model takes it (default PIXELS). */
  readonly pixels?: number[];
}

const cases: Case[] = [];
/** Models only ONNX Runtime can run. */
const gruCases: Case[] = [];

{
  // Normalization (mean and variance in the config) → Flatten → Dense with hard_swish → softmax.
  const mean = [0.2, 0.5, 0.4];
  const variance = [0.04, 0.25, 1.0];
  const kernel = deterministic(12 * 3, 1);
  const bias = [0.1, -0.2, 0.3];
  const normalized = PIXELS.map((x, i) => (x - mean[i % 3]!) / Math.sqrt(variance[i % 3]!));
  cases.push({
    name: 'Normalization (config), Dense with hard_swish, Activation softmax',
    spec: {
      config: functional(
        'norm_hswish',
        [
          input('image', [2, 2, 3]),
          layer('Normalization', 'norm', {axis: -1, mean, variance, invert: false}, ['image']),
          layer('Flatten', 'flat', {data_format: 'channels_last'}, ['norm']),
          dense('logits', 3, 'hard_swish', ['flat']),
          layer('Activation', 'probs', {activation: 'softmax'}, ['logits']),
        ],
        'image',
        'probs'
      ),
      weights: {logits: [w('kernel', [12, 3], kernel), w('bias', [3], bias)]},
    },
    expected: softmax(matVec(normalized, kernel, bias).map(hardSwish)),
  });
}

{
  // Normalization adapted (mean, variance, count as weights, tf.keras style) with invert, then
  // Keras 3's hard_sigmoid as an Activation layer.
  const mean = [1, 2, 3];
  const variance = [4, 9, 16];
  const kernel = deterministic(12 * 4, 2);
  const bias = [0, 0.5, -0.5, 0.25];
  const inverted = PIXELS.map((x, i) => mean[i % 3]! + x * Math.sqrt(variance[i % 3]!));
  const hidden = matVec(inverted, kernel, bias).map(hardSigmoid3);
  cases.push({
    name: 'Normalization (adapted weights, invert), Keras 3 hard_sigmoid',
    spec: {
      config: functional(
        'norm_adapted',
        [
          input('image', [2, 2, 3]),
          layer('Normalization', 'denorm', {axis: -1, mean: null, variance: null, invert: true}, ['image']),
          layer('Flatten', 'flat', {}, ['denorm']),
          dense('hidden', 4, 'linear', ['flat']),
          layer('Activation', 'gate', {activation: 'hard_sigmoid'}, ['hidden']),
          dense('probs', 2, 'softmax', ['gate']),
        ],
        'image',
        'probs'
      ),
      weights: {
        denorm: [w('mean', [3], mean), w('variance', [3], variance), w('count', [], [100])],
        hidden: [w('kernel', [12, 4], kernel), w('bias', [4], bias)],
        probs: [w('kernel', [4, 2], [1, -1, 0.5, 0.5, -1, 2, 0.3, 0]), w('bias', [2], [0, 0.1])],
      },
    },
    expected: softmax(matVec(hidden, [1, -1, 0.5, 0.5, -1, 2, 0.3, 0], [0, 0.1])),
  });
}

{
  // Two Dense branches of the flattened image, their difference (Subtract), then
  // ActivityRegularization (a training-time loss, the identity at inference): tfjs-layers has
  // neither class, so the tfjs engine runs this project's own.
  const ka = deterministic(12 * 3, 21);
  const ba = [0.1, 0, -0.1];
  const kb = deterministic(12 * 3, 22);
  const bb = [0, 0.2, 0.1];
  const difference = matVec(PIXELS, ka, ba).map((a, i) => a - matVec(PIXELS, kb, bb)[i]!);
  cases.push({
    name: 'Subtract of two Dense branches, then ActivityRegularization',
    spec: {
      config: functional(
        'difference',
        [
          input('image', [2, 2, 3]),
          layer('Flatten', 'flat', {}, ['image']),
          dense('a', 3, 'linear', ['flat']),
          dense('b', 3, 'linear', ['flat']),
          layer('Subtract', 'diff', {}, ['a', 'b']),
          layer('ActivityRegularization', 'reg', {l1: 0.01, l2: 0.001}, ['diff']),
          layer('Activation', 'probs', {activation: 'softmax'}, ['reg']),
        ],
        'image',
        'probs'
      ),
      weights: {a: [w('kernel', [12, 3], ka), w('bias', [3], ba)], b: [w('kernel', [12, 3], kb), w('bias', [3], bb)]},
    },
    expected: softmax(difference),
  });
}

{
  // Subtract of inputs of different ranks: the image [2, 2, 3] minus a vector of its channels
  // [3], which Keras lines up after the batch axis ([N, 1, 1, 3]).
  const kd = deterministic(3 * 3, 23);
  const bd = [0.2, -0.1, 0];
  const shift = matVec(CHANNEL_MEANS, kd, bd);
  const ko = deterministic(12 * 2, 24);
  cases.push({
    name: 'Subtract of an image and a vector of its channels (inputs of different ranks)',
    spec: {
      config: functional(
        'shifted',
        [
          input('image', [2, 2, 3]),
          layer('GlobalAveragePooling2D', 'gap', {data_format: 'channels_last', keepdims: false}, ['image']),
          dense('shift', 3, 'linear', ['gap']),
          layer('Subtract', 'centred', {}, ['image', 'shift']),
          layer('Flatten', 'flat', {}, ['centred']),
          dense('probs', 2, 'softmax', ['flat']),
        ],
        'image',
        'probs'
      ),
      weights: {
        shift: [w('kernel', [3, 3], kd), w('bias', [3], bd)],
        probs: [w('kernel', [12, 2], ko), w('bias', [2], [0.1, 0])],
      },
    },
    expected: softmax(
      matVec(
        PIXELS.map((x, i) => x - shift[i % 3]!),
        ko,
        [0.1, 0]
      )
    ),
  });
}

{
  // The heads a binary or multi-label classifier ends in (model/head.ts): one sigmoid unit p is
  // two classes [1 − p, p]; one unit without an activation is Keras' binary head trained
  // from_logits (keras.io's "image classification from scratch"), p = sigmoid(z); several
  // sigmoid units are independent probabilities, not normalised.
  const kernel = deterministic(12 * 3, 25);
  const bias = [0.3, -0.2, 0.1];
  const z = matVec(PIXELS, kernel, bias);
  const head = (name: string, units: number, activation: string): ModelSpec => ({
    config: functional(
      name,
      [input('image', [2, 2, 3]), layer('Flatten', 'flat', {}, ['image']), dense('head', units, activation, ['flat'])],
      'image',
      'head'
    ),
    weights: {
      head: [
        w('kernel', [12, units], units === 3 ? kernel : kernel.filter((_, i) => i % 3 === 0)),
        w('bias', [units], bias.slice(0, units)),
      ],
    },
  });
  const p = sigmoid(z[0]!);
  cases.push({
    name: 'a binary head: one sigmoid unit p, two classes [1 − p, p]',
    spec: head('binary', 1, 'sigmoid'),
    expected: [1 - p, p],
  });
  cases.push({
    name: 'a binary head trained from logits: one unit, p = sigmoid(z)',
    spec: head('binary_logit', 1, 'linear'),
    expected: [1 - p, p],
  });
  cases.push({
    name: 'a multi-label head: three sigmoid units, each its own probability',
    spec: head('multi_label', 3, 'sigmoid'),
    expected: z.map(sigmoid),
  });
}

{
  // A squeeze-and-excite block: GAP → Dense(swish) → Dense(sigmoid) → Reshape(1,1,C) →
  // Multiply with the input, then Flatten → Dense(gelu) → softmax.
  const k1 = deterministic(3 * 2, 3);
  const b1 = [0.1, -0.1];
  const k2 = deterministic(2 * 3, 4);
  const b2 = [0, 0.2, -0.2];
  const k3 = deterministic(12 * 3, 5);
  const b3 = [0.05, 0, -0.05];
  const excite = matVec(matVec(CHANNEL_MEANS, k1, b1).map(swish), k2, b2).map(sigmoid);
  const scaled = PIXELS.map((x, i) => x * excite[i % 3]!);
  cases.push({
    name: 'squeeze-and-excite: swish, sigmoid, Reshape, Multiply, then gelu',
    spec: {
      config: functional(
        'se_block',
        [
          input('image', [2, 2, 3]),
          layer('GlobalAveragePooling2D', 'squeeze', {data_format: 'channels_last', keepdims: false}, ['image']),
          dense('reduce', 2, 'swish', ['squeeze']),
          dense('expand', 3, 'sigmoid', ['reduce']),
          layer('Reshape', 'se_shape', {target_shape: [1, 1, 3]}, ['expand']),
          layer('Multiply', 'excite', {}, ['image', 'se_shape']),
          layer('Flatten', 'flat', {}, ['excite']),
          dense('head', 3, 'gelu', ['flat']),
          layer('Softmax', 'probs', {axis: -1}, ['head']),
        ],
        'image',
        'probs'
      ),
      weights: {
        reduce: [w('kernel', [3, 2], k1), w('bias', [2], b1)],
        expand: [w('kernel', [2, 3], k2), w('bias', [3], b2)],
        head: [w('kernel', [12, 3], k3), w('bias', [3], b3)],
      },
    },
    expected: softmax(matVec(scaled, k3, b3).map(gelu)),
  });
}

{
  // Transfer learning: Sequential([base, GlobalAveragePooling2D(), Dense(3, softmax)]), the base a
  // Functional model (1×1 Conv2D with ReLU, then a BatchNormalization) used as a layer.
  const conv = deterministic(3 * 2, 6); // [1, 1, 3, 2]
  const convBias = [0.1, -0.3];
  const gamma = [1.5, 0.5];
  const beta = [0.1, 0.2];
  const mm = [0.2, -0.1];
  const mv = [0.5, 2];
  const head = deterministic(2 * 3, 7);
  const headBias = [0, 0.1, 0.2];
  const features = [0, 1, 2, 3].map(p =>
    matVec(PIXELS.slice(p * 3, p * 3 + 3), conv, convBias)
      .map(v => Math.max(v, 0))
      .map((v, c) => (gamma[c]! * (v - mm[c]!)) / Math.sqrt(mv[c]! + 1e-3) + beta[c]!)
  );
  const pooled = [0, 1].map(c => features.reduce((s, f) => s + f[c]!, 0) / 4);
  const baseWeights = [
    w('conv/kernel', [1, 1, 3, 2], conv),
    w('conv/bias', [2], convBias),
    w('bn/gamma', [2], gamma),
    w('bn/beta', [2], beta),
    w('bn/moving_mean', [2], mm),
    w('bn/moving_variance', [2], mv),
  ];
  const base = functional(
    'base',
    [
      input('base_input', [2, 2, 3]),
      layer('Conv2D', 'conv', conv2dConfig(2, 1, {padding: 'valid', activation: 'relu'}), ['base_input']),
      layer('BatchNormalization', 'bn', {axis: -1, epsilon: 1e-3, center: true, scale: true}, ['conv']),
    ],
    'base_input',
    'bn'
  );
  cases.push({
    name: 'a nested Functional base inside a Sequential (transfer learning)',
    spec: {
      config: {
        class_name: 'Sequential',
        config: {
          name: 'classifier',
          layers: [
            {...input('image', [2, 2, 3]), inbound_nodes: undefined},
            {module: 'keras', ...base, name: 'base'},
            {
              ...layer('GlobalAveragePooling2D', 'pool', {data_format: 'channels_last', keepdims: false}),
              inbound_nodes: undefined,
            },
            {...dense('probs', 3, 'softmax', []), inbound_nodes: undefined},
          ],
        },
      },
      weights: {
        base: baseWeights,
        probs: [w('kernel', [2, 3], head), w('bias', [3], headBias)],
      },
    },
    expected: softmax(matVec(pooled, head, headBias)),
  });
  // keras.io's transfer-learning guide builds the same model functionally:
  // `x = base_model(inputs, training=False)`, the base called on a tensor like any layer.
  cases.push({
    name: 'a nested Functional base called on the input of a Functional model (keras.io transfer learning)',
    spec: {
      config: functional(
        'classifier',
        [
          input('image', [2, 2, 3]),
          {
            module: 'keras',
            ...base,
            name: 'base',
            inbound_nodes: [
              {
                args: [kerasTensor('image')],
                kwargs: {training: false},
              },
            ],
          },
          layer('GlobalAveragePooling2D', 'pool', {data_format: 'channels_last', keepdims: false}, ['base']),
          dense('probs', 3, 'softmax', ['pool']),
        ],
        'image',
        'probs'
      ),
      weights: {
        base: baseWeights,
        probs: [w('kernel', [2, 3], head), w('bias', [3], headBias)],
      },
    },
    expected: softmax(matVec(pooled, head, headBias)),
  });
  // keras.io's transfer-learning guide whole: augmentation (a Sequential built by its first
  // call, so without an InputLayer of its own), Rescaling(1/127.5, offset=-1), the base called
  // with training=False, pooling, Dropout and Dense(1), a binary head trained from logits.
  const logit = [0.8, -1.1];
  const rawPixels = PIXELS.map(v => v * 255);
  const fromRaw = [0, 1, 2, 3].map(p =>
    matVec(
      rawPixels.slice(p * 3, p * 3 + 3).map(v => v / 127.5 - 1),
      conv,
      convBias
    )
      .map(v => Math.max(v, 0))
      .map((v, c) => (gamma[c]! * (v - mm[c]!)) / Math.sqrt(mv[c]! + 1e-3) + beta[c]!)
  );
  const z = matVec(
    [0, 1].map(c => fromRaw.reduce((s, f) => s + f[c]!, 0) / 4),
    logit,
    [0.2]
  )[0]!;
  cases.push({
    name: "keras.io's transfer-learning model whole (augmentation Sequential, Rescaling, base, Dense(1) logit)",
    pixels: rawPixels,
    spec: {
      config: functional(
        'transfer',
        [
          input('image', [2, 2, 3]),
          {
            module: 'keras',
            class_name: 'Sequential',
            name: 'data_augmentation',
            registered_name: null,
            config: {
              name: 'data_augmentation',
              trainable: true,
              layers: [
                {...layer('RandomFlip', 'random_flip', {mode: 'horizontal', seed: null}), inbound_nodes: undefined},
                {...layer('RandomRotation', 'random_rotation', {factor: 0.1}), inbound_nodes: undefined},
              ],
            },
            inbound_nodes: [{args: [kerasTensor('image')], kwargs: {}}],
          },
          layer('Rescaling', 'rescaling', {scale: 1 / 127.5, offset: -1}, ['data_augmentation']),
          {
            module: 'keras',
            ...base,
            name: 'base',
            inbound_nodes: [{args: [kerasTensor('rescaling')], kwargs: {training: false}}],
          },
          layer('GlobalAveragePooling2D', 'pool', {data_format: 'channels_last', keepdims: false}, ['base']),
          layer('Dropout', 'dropout', {rate: 0.2}, ['pool']),
          dense('logit', 1, 'linear', ['dropout']),
        ],
        'image',
        'logit'
      ),
      weights: {
        base: baseWeights,
        logit: [w('kernel', [2, 1], logit), w('bias', [1], [0.2])],
      },
    },
    expected: [sigmoid(-z), sigmoid(z)],
  });
}

/**
 * `tf.image.resize` of an HWC image (half-pixel centres, no antialiasing), written out:
 * bilinear reads `in = (out + 0.5) · inSize / outSize − 0.5` between its clamped neighbours;
 * nearest reads `floor((out + 0.5) · inSize / outSize)`.
 */
function tfResize(pixels: number[], [h, w, c]: number[], [oh, ow]: number[], nearest: boolean): number[] {
  const at = (y: number, x: number, ch: number) => pixels[(y * w! + x) * c! + ch]!;
  const out: number[] = [];
  const axis = (o: number, inSize: number, outSize: number) => {
    if (nearest) {
      const i = Math.min(Math.floor(((o + 0.5) * inSize) / outSize), inSize - 1);
      return {lo: i, hi: i, t: 0};
    }
    const src = ((o + 0.5) * inSize) / outSize - 0.5;
    const f = Math.floor(src);
    return {lo: Math.max(f, 0), hi: Math.min(f + 1, inSize - 1), t: src - f};
  };
  for (let y = 0; y < oh!; y++) {
    const ay = axis(y, h!, oh!);
    for (let x = 0; x < ow!; x++) {
      const ax = axis(x, w!, ow!);
      for (let ch = 0; ch < c!; ch++) {
        const top = at(ay.lo, ax.lo, ch) * (1 - ax.t) + at(ay.lo, ax.hi, ch) * ax.t;
        const bottom = at(ay.hi, ax.lo, ch) * (1 - ax.t) + at(ay.hi, ax.hi, ch) * ax.t;
        out.push(top * (1 - ay.t) + bottom * ay.t);
      }
    }
  }
  return out;
}

for (const [what, resize, size, nearest] of [
  [
    'Resizing 2×2 → 3×3, bilinear',
    {class: 'Resizing', config: {height: 3, width: 3, interpolation: 'bilinear', crop_to_aspect_ratio: false}},
    [3, 3],
    false,
  ],
  [
    'Resizing 2×2 → 3×3, nearest',
    {class: 'Resizing', config: {height: 3, width: 3, interpolation: 'nearest', crop_to_aspect_ratio: false}},
    [3, 3],
    true,
  ],
  [
    'UpSampling2D ×2, bilinear',
    {class: 'UpSampling2D', config: {size: [2, 2], data_format: 'channels_last', interpolation: 'bilinear'}},
    [4, 4],
    false,
  ],
] as const) {
  // tfjs-layers' own Resizing aligns corners and its bilinear UpSampling2D has no half-pixel
  // centres: both would miss these numbers. The project's KerasResize layer resizes as Keras.
  const n = size[0] * size[1] * 3;
  const kernel = deterministic(n * 3, 8);
  const bias = [0.1, 0, -0.1];
  const resized = tfResize(PIXELS, [2, 2, 3], [...size], nearest);
  cases.push({
    name: `${what} (Keras' half-pixel sampling)`,
    spec: {
      config: functional(
        'resize',
        [
          input('image', [2, 2, 3]),
          layer(resize.class, 'resize', {data_format: 'channels_last', ...resize.config}, ['image']),
          layer('Flatten', 'flat', {}, ['resize']),
          dense('probs', 3, 'softmax', ['flat']),
        ],
        'image',
        'probs'
      ),
      weights: {probs: [w('kernel', [n, 3], kernel), w('bias', [3], bias)]},
    },
    expected: softmax(matVec(resized, kernel, bias)),
  });
}

{
  // Augmentation inside the model (as Keras' tutorials train it) is the identity at inference.
  const augment: Array<[string, Entry]> = [
    ['RandomFlip', {mode: 'horizontal_and_vertical', seed: null}],
    ['RandomRotation', {factor: 0.2, fill_mode: 'reflect', interpolation: 'bilinear', seed: null}],
    ['RandomZoom', {height_factor: 0.2, width_factor: null, fill_mode: 'reflect', seed: null}],
    ['RandomTranslation', {height_factor: 0.1, width_factor: 0.1, fill_mode: 'reflect', seed: null}],
    ['RandomContrast', {factor: 0.2, value_range: [0, 255], seed: null}],
    ['RandomBrightness', {factor: 0.2, value_range: [0, 255], seed: null}],
    ['RandomHeight', {factor: 0.2, interpolation: 'bilinear', seed: null}],
    ['RandomWidth', {factor: 0.2, interpolation: 'bilinear', seed: null}],
  ];
  const kernel = deterministic(12 * 3, 31);
  const bias = [0.2, 0, -0.2];
  let previous = 'image';
  const layers = augment.map(([cls, config], i) => {
    const name = `augment_${i}`;
    const entry = layer(cls, name, {data_format: 'channels_last', ...config}, [previous]);
    previous = name;
    return entry;
  });
  cases.push({
    name: 'augmentation layers (RandomFlip … RandomWidth) are the identity at inference',
    spec: {
      config: functional(
        'augmented',
        [
          input('image', [2, 2, 3]),
          ...layers,
          layer('Flatten', 'flat', {}, [previous]),
          dense('probs', 3, 'softmax', ['flat']),
        ],
        'image',
        'probs'
      ),
      weights: {probs: [w('kernel', [12, 3], kernel), w('bias', [3], bias)]},
    },
    expected: softmax(matVec(PIXELS, kernel, bias)),
  });
}

/** Rows `[top, top + h)` and columns `[left, left + w)` of an HWC image `[, width, c]`. */
function crop(pixels: number[], [width, c]: number[], [top, left, h, w]: number[]): number[] {
  const out: number[] = [];
  for (let y = top!; y < top! + h!; y++)
    for (let x = left!; x < left! + w!; x++)
      for (let ch = 0; ch < c!; ch++) out.push(pixels[(y * width! + x) * c! + ch]!);
  return out;
}

// CenterCrop, both branches. tfjs-layers' own CenterCrop samples between pixels; the project's
// KerasCenterCrop (and ONNX's Slice) take the middle pixels, offsets rounded down. An input
// smaller than the target is Keras' smart_resize: the centred box of the target's aspect
// ratio, resized (ONNX has no translation of that branch: auto serves it with tfjs).
for (const [what, before, target, expectedPixels] of [
  [
    'CenterCrop 5×5 → 2×3: the middle pixels, offsets rounded down (1, 1)',
    [5, 5],
    [2, 3],
    crop(tfResize(PIXELS, [2, 2, 3], [5, 5], false), [5, 3], [1, 1, 2, 3]),
  ],
  [
    "CenterCrop 2×2 → 3×2 (larger): Keras' smart_resize, the centred 2×1 box resized",
    [2, 2],
    [3, 2],
    tfResize(crop(PIXELS, [2, 3], [0, 0, 2, 1]), [2, 1, 3], [3, 2], false),
  ],
] as const) {
  const n = target[0] * target[1] * 3;
  const kernel = deterministic(n * 3, 13);
  const bias = [0, 0.1, -0.1];
  const resize =
    before[0] === 2 ? [] : [layer('Resizing', 'resize', {height: 5, width: 5, interpolation: 'bilinear'}, ['image'])];
  cases.push({
    name: what,
    spec: {
      config: functional(
        'crop',
        [
          input('image', [2, 2, 3]),
          ...resize,
          layer('CenterCrop', 'crop', {height: target[0], width: target[1]}, [resize.length ? 'resize' : 'image']),
          layer('Flatten', 'flat', {}, ['crop']),
          dense('probs', 3, 'softmax', ['flat']),
        ],
        'image',
        'probs'
      ),
      weights: {probs: [w('kernel', [n, 3], kernel), w('bias', [3], bias)]},
    },
    expected: softmax(matVec([...expectedPixels], kernel, bias)),
    ...(before[0] === 2 ? {engines: ['tfjs'] as const} : {}),
  });
}

{
  // GRU with reset_after=True (TF 2's and Keras 3's default): the recurrent bias is applied
  // before the reset gate multiplies, h̃ = tanh(x·Wh + bh + r ⊙ (h·Uh + b'h)). tfjs-layers
  // cannot run it; ONNX Runtime's GRU with linear_before_reset=1 can.
  const units = 2;
  const K = deterministic(3 * 3 * units, 10); // [3, 3·units]: z, r, h
  const U = deterministic(units * 3 * units, 11); // [units, 3·units]
  const B = deterministic(2 * 3 * units, 12); // [2, 3·units]: input row, recurrent row
  const col = (m: number[], cols: number, row: number[], j: number) =>
    row.reduce((s, v, i) => s + v * m[i * cols + j]!, 0);
  let h = [0, 0];
  for (let t = 0; t < 4; t++) {
    const x = PIXELS.slice(t * 3, t * 3 + 3);
    const gate = (g: number, u: number) => ({
      x: col(K, 3 * units, x, g * units + u) + B[g * units + u]!,
      h: col(U, 3 * units, h, g * units + u) + B[3 * units + g * units + u]!,
    });
    h = h.map((prev, u) => {
      const z = sigmoid(gate(0, u).x + gate(0, u).h);
      const r = sigmoid(gate(1, u).x + gate(1, u).h);
      const candidate = Math.tanh(gate(2, u).x + r * gate(2, u).h);
      return z * prev + (1 - z) * candidate;
    });
  }
  const head = deterministic(units * 3, 13);
  gruCases.push({
    name: 'GRU with reset_after=True over the image rows',
    spec: {
      config: functional(
        'gru_model',
        [
          input('image', [2, 2, 3]),
          layer('Reshape', 'rows', {target_shape: [4, 3]}, ['image']),
          layer(
            'GRU',
            'gru',
            {
              units,
              activation: 'tanh',
              recurrent_activation: 'sigmoid',
              use_bias: true,
              return_sequences: false,
              return_state: false,
              go_backwards: false,
              stateful: false,
              unroll: false,
              reset_after: true,
            },
            ['rows']
          ),
          dense('probs', 3, 'softmax', ['gru']),
        ],
        'image',
        'probs'
      ),
      weights: {
        gru: [
          w('gru/gru_cell/kernel', [3, 3 * units], K),
          w('gru/gru_cell/recurrent_kernel', [units, 3 * units], U),
          w('gru/gru_cell/bias', [2, 3 * units], B),
        ],
        probs: [w('kernel', [units, 3], head), w('bias', [3], [0, 0.1, -0.1])],
      },
    },
    expected: softmax(matVec(h, head, [0, 0.1, -0.1])),
  });
}

// Hard activations inside a recurrence: Keras 3's hard_sigmoid is relu6(x + 3) / 6, Keras 2's
// clip(0.2 x + 0.5, 0, 1), and a recurrent layer applies its activations at every step (a
// HardActivation layer after its output would compute something else).
{
  const hardSigmoid2 = (x: number) => Math.min(Math.max(0.2 * x + 0.5, 0), 1);
  const units = 2;
  const col = (m: number[], cols: number, row: number[], j: number) =>
    row.reduce((s, v, i) => s + v * m[i * cols + j]!, 0);
  const head = deterministic(units * 3, 23);
  const rowsModel = (name: string, cls: string, config: Entry): ModelSpec['config'] =>
    functional(
      name,
      [
        input('image', [2, 2, 3]),
        layer('Reshape', 'rows', {target_shape: [4, 3]}, ['image']),
        layer(
          cls,
          'rnn',
          // A generic RNN carries only the sequence flags; its cell carries the rest.
          {
            ...(cls === 'RNN' ? {} : {units, use_bias: true}),
            return_sequences: false,
            go_backwards: false,
            stateful: false,
            ...config,
          },
          ['rows']
        ),
        dense('probs', 3, 'softmax', ['rnn']),
      ],
      'image',
      'probs'
    );
  // SimpleRNN: h = f(x·K + h·U + b).
  for (const [what, act, f, version, engines] of [
    [
      "Keras 3 SimpleRNN, activation='hard_sigmoid' (relu6(x + 3) / 6)",
      'hard_sigmoid',
      hardSigmoid3,
      '3.9.1',
      ['onnx', 'tfjs'],
    ],
    [
      "Keras 2 SimpleRNN, activation='hard_sigmoid' (0.2 x + 0.5)",
      'hard_sigmoid',
      hardSigmoid2,
      '2.13.1',
      ['onnx', 'tfjs'],
    ],
    [
      "Keras 3 SimpleRNN, activation='hard_swish' (tfjs: ONNX's RNN has no such activation)",
      'hard_swish',
      hardSwish,
      '3.9.1',
      ['tfjs'],
    ],
  ] as const) {
    const K = deterministic(3 * units, 20);
    const U = deterministic(units * units, 21);
    const B = deterministic(units, 22);
    let h = [0, 0];
    for (let t = 0; t < 4; t++) {
      const x = PIXELS.slice(t * 3, t * 3 + 3);
      h = h.map((_, u) => f(col(K, units, x, u) + col(U, units, h, u) + B[u]!));
    }
    cases.push({
      name: what,
      engines,
      spec: {
        kerasVersion: version,
        config: rowsModel('rnn_model', 'SimpleRNN', {activation: act}),
        weights: {
          rnn: [
            w('rnn/simple_rnn_cell/kernel', [3, units], K),
            w('rnn/simple_rnn_cell/recurrent_kernel', [units, units], U),
            w('rnn/simple_rnn_cell/bias', [units], B),
          ],
          probs: [w('kernel', [units, 3], head), w('bias', [3], [0, 0.1, -0.1])],
        },
      },
      expected: softmax(matVec(h, head, [0, 0.1, -0.1])),
    });
  }
  // LSTM, Keras gate order i, f, c, o: c = f ⊙ c + i ⊙ tanh(·), h = o ⊙ tanh(c).
  const K = deterministic(3 * 4 * units, 24);
  const U = deterministic(units * 4 * units, 25);
  const B = deterministic(4 * units, 26);
  let h = [0, 0];
  let c = [0, 0];
  for (let t = 0; t < 4; t++) {
    const x = PIXELS.slice(t * 3, t * 3 + 3);
    const z = (g: number, u: number) =>
      col(K, 4 * units, x, g * units + u) + col(U, 4 * units, h, g * units + u) + B[g * units + u]!;
    const next = h.map((_, u) => {
      const i = hardSigmoid3(z(0, u));
      const f = hardSigmoid3(z(1, u));
      const cell = f * c[u]! + i * Math.tanh(z(2, u));
      return {cell, h: hardSigmoid3(z(3, u)) * Math.tanh(cell)};
    });
    c = next.map(n => n.cell);
    h = next.map(n => n.h);
  }
  const lstm = {activation: 'tanh', recurrent_activation: 'hard_sigmoid'};
  for (const [what, config] of [
    ["Keras 3 LSTM, recurrent_activation='hard_sigmoid' (relu6(x + 3) / 6)", rowsModel('lstm_model', 'LSTM', lstm)],
    [
      "Keras 3 RNN(LSTMCell), recurrent_activation='hard_sigmoid': the LSTM layer by another name",
      rowsModel('rnn_cell_model', 'RNN', {cell: {class_name: 'LSTMCell', config: {units, use_bias: true, ...lstm}}}),
    ],
  ] as const) {
    cases.push({
      name: what,
      engines: ['onnx', 'tfjs'],
      spec: {
        config,
        weights: {
          rnn: [
            w('rnn/lstm_cell/kernel', [3, 4 * units], K),
            w('rnn/lstm_cell/recurrent_kernel', [units, 4 * units], U),
            w('rnn/lstm_cell/bias', [4 * units], B),
          ],
          probs: [w('kernel', [units, 3], head), w('bias', [3], [0, 0.1, -0.1])],
        },
      },
      expected: softmax(matVec(h, head, [0, 0.1, -0.1])),
    });
  }
}

describe('GRU reset_after=True: ONNX Runtime runs it (tfjs-layers cannot)', () => {
  for (const c of gruCases) {
    for (const format of ['h5', 'keras'] as const) {
      it(`${c.name} (.${format}, auto → onnx)`, async () => {
        await answersAs(c.spec, format, {scale: '0,1'}, PIXELS, c.expected, 'onnx');
      });
    }
    it(`${c.name}: INFERENCE_ENGINE=tfjs refuses it, naming reset_after`, async () => {
      await assert.rejects(
        loadClassifier(await writeKerasModel(c.spec, 'h5'), {engine: 'tfjs', scale: '0,1'}),
        /reset_after/
      );
    });
  }
});

describe('saved models: .h5 and .keras, both engines, against hand-computed outputs', () => {
  it('refuses the Resizing options neither engine follows as Keras does, naming them', async () => {
    for (const [option, config] of [
      ['crop_to_aspect_ratio', {crop_to_aspect_ratio: true}],
      ['antialias', {antialias: true}],
      ["interpolation 'bicubic'", {interpolation: 'bicubic'}],
    ] as const) {
      const spec: ModelSpec = {
        config: functional(
          'resize',
          [
            input('image', [2, 2, 3]),
            layer('Resizing', 'resize', {height: 3, width: 3, ...config}, ['image']),
            layer('Flatten', 'flat', {}, ['resize']),
            dense('probs', 2, 'softmax', ['flat']),
          ],
          'image',
          'probs'
        ),
        weights: {probs: [w('kernel', [27, 2], deterministic(54, 9)), w('bias', [2], [0, 0])]},
      };
      await assert.rejects(loadClassifier(await writeKerasModel(spec, 'keras'), {scale: '0,1'}), (e: Error) =>
        e.message.includes(`Resizing 'resize' (${option})`)
      );
    }
  });

  for (const c of cases) {
    for (const format of ['h5', 'keras'] as const) {
      for (const engine of c.engines ?? (['onnx', 'tfjs'] as const)) {
        it(`${c.name} (.${format}, ${engine})`, async () => {
          await answersAs(c.spec, format, {engine, scale: '0,1'}, c.pixels ?? PIXELS, c.expected, engine);
        });
      }
    }
  }
});

describe('a binary head and its labels', () => {
  it('takes a label file of two lines and names the class the sigmoid favours', async () => {
    const c = cases.find(x => x.name.startsWith('a binary head: one sigmoid unit'))!;
    const model = await loadClassifier(await writeKerasModel(c.spec, 'h5'), {scale: '0,1', labels: ['cat', 'dog']});
    try {
      assert.equal(model.outputWidth, 2);
      assert.equal(model.scoring, 'binary');
      const [result] = await model.classifyPixels([Float32Array.from(PIXELS)], 2);
      assert.equal(result!.label, c.expected[1]! > 0.5 ? 'dog' : 'cat');
      assert.deepEqual(result!.top_k.map(t => t.label).sort(), ['cat', 'dog']);
    } finally {
      model.dispose();
    }
    await assert.rejects(
      loadClassifier(await writeKerasModel(c.spec, 'h5'), {scale: '0,1', labels: ['dog']}),
      /has 1 labels but the model has 2 outputs/
    );
  });
});

describe('a model that rescales its own input (Rescaling(1/255) first)', () => {
  const spec = (scale: number, offset: number): ModelSpec => ({
    config: functional(
      'rescales',
      [
        input('image', [2, 2, 3]),
        layer('Rescaling', 'rescale', {scale, offset}, ['image']),
        layer('Flatten', 'flat', {}, ['rescale']),
        dense('probs', 2, 'softmax', ['flat']),
      ],
      'image',
      'probs'
    ),
    weights: {probs: [w('kernel', [12, 2], deterministic(24, 26)), w('bias', [2], [0, 0])]},
  });
  for (const [scale, offset, factor] of [
    [1 / 255, 0, '1/255'],
    [1 / 127.5, -1, '1/127.5, offset -1'],
  ] as const) {
    it(`${factor}: served with scale 0,1, one WARNING says it expects raw pixels; with 0,255, none`, async () => {
      const bytes = await writeKerasModel(spec(scale, offset), 'keras');
      for (const [declared, warned] of [
        ['0,1', true],
        ['0,255', false],
      ] as const) {
        const logger = memoryLogger();
        const model = await loadClassifier(bytes, {scale: declared, logger, name: 'rescales'});
        model.dispose();
        const warnings = logger.entries.filter(e => e.severity === 'WARNING').map(e => e.message);
        if (warned) {
          assert.deepEqual(warnings, [
            `model rescales: its first layer, Rescaling 'rescale' (${factor}), expects raw 0–255 pixels, but it is served with scale 0,1: it sees its pixels scaled twice. Upload it with --scale=0,255 (object metadata scale=0,255)`,
          ]);
        } else assert.deepEqual(warnings, []);
      }
    });
  }
});

describe('CenterCrop to more than its input', () => {
  it('auto serves it with tfjs (Keras resizes there), with one log line naming the layer', async () => {
    const c = cases.find(x => x.name.startsWith('CenterCrop 2×2 → 3×2'))!;
    const logger = memoryLogger();
    const model = await loadClassifier(await writeKerasModel(c.spec, 'h5'), {engine: 'auto', scale: '0,1', logger});
    try {
      assert.equal(model.engine, 'tfjs');
      assert.match(logger.entries.map(e => e.message).join('\n'), /CenterCrop 'crop' to more than its 2x2 input/);
      close(await scores(model, PIXELS), c.expected);
    } finally {
      model.dispose();
    }
  });
});

describe('.keras archives', () => {
  it('refuses a zip that is not a Keras archive, and one whose entry declares more than the size limit', async () => {
    const {zipSync, strToU8} = await import('fflate');
    await assert.rejects(loadClassifier(zipSync({'readme.txt': strToU8('hello')})), {kind: 'corrupt_archive'});
    const big = zipSync({'config.json': new Uint8Array(2_000_000)}); // compresses to a few KB
    await assert.rejects(loadClassifier(big, {maxBytes: 1_000_000}), {
      kind: 'model_too_large',
      message: /declares 2000000 bytes/,
    });
  });
});
