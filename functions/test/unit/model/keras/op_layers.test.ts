/**
 * Arithmetic written with operators or ops inside a functional model (keras/op_layers.ts):
 * tf.keras 2's TFOpLambda layers, as TensorFlow's transfer-learning tutorial saves
 * `preprocess_input` (x / 127.5 − 1) inside its model, and Keras 3's op classes. Written by
 * the project's Keras writer; expected outputs computed here by plain arithmetic.
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
  keras2Layer,
  layer,
  matVec,
  opEntry,
  scores,
  sigmoid,
  softmax,
  tfOpLambda,
  type Entry,
  w,
} from '../../../helpers/keras_specs.js';

/** A 2×2×3 image (HWC) of raw 0–255 pixels. */
const RAW = [12, 200, 99, 255, 0, 37, 140, 76, 8, 231, 150, 64];
const head = deterministic(3 * 3, 81);
const headBias = [0, 0.2, -0.1];
/** GlobalAveragePooling2D then the softmax head. */
const classify = (pixels: number[]) =>
  softmax(
    matVec(
      [0, 1, 2].map(c => [0, 1, 2, 3].reduce((s, p) => s + pixels[p * 3 + c]!, 0) / 4),
      head,
      headBias
    )
  );
const headLayers = (from: string, keras2: boolean): Entry[] =>
  keras2
    ? [
        {
          class_name: 'GlobalAveragePooling2D',
          name: 'pool',
          config: {name: 'pool', data_format: 'channels_last', keepdims: false},
          inbound_nodes: [[[from, 0, 0, {}]]],
        },
        {
          class_name: 'Dense',
          name: 'probs',
          config: {name: 'probs', units: 3, activation: 'softmax', use_bias: true},
          inbound_nodes: [[['pool', 0, 0, {}]]],
        },
      ]
    : [
        layer('GlobalAveragePooling2D', 'pool', {data_format: 'channels_last', keepdims: false}, [from]),
        dense('probs', 3, 'softmax', ['pool']),
      ];
const headWeights = {probs: [w('kernel', [3, 3], head), w('bias', [3], headBias)]};

// ---- tf.keras 2: TFOpLambda layers ----
function keras2Model(ops: Entry[], last: string, extra: Entry[] = []): ModelSpec['config'] {
  return {
    class_name: 'Functional',
    config: {
      name: 'model',
      layers: [
        {
          class_name: 'InputLayer',
          name: 'input_1',
          config: {batch_input_shape: [null, 2, 2, 3], dtype: 'float32', sparse: false, ragged: false, name: 'input_1'},
          inbound_nodes: [],
        },
        ...extra,
        ...ops,
        ...headLayers(last, true),
      ],
      input_layers: [['input_1', 0, 0]],
      output_layers: [['probs', 0, 0]],
    },
  };
}

// TensorFlow's transfer-learning tutorial: preprocess_input (x / 127.5, then − 1) inside the
// model; then a 1×1 convolution added back (`x + conv(x)`) and halved (`x * 0.5`).
const conv = deterministic(3 * 3, 82);
const convBias = [0.1, -0.2, 0];
const tutorial: ModelSpec = {
  kerasVersion: '2.13.1',
  config: keras2Model(
    [
      tfOpLambda('tf.math.truediv', 'math.truediv', 'input_1', 127.5),
      tfOpLambda('tf.math.subtract', 'math.subtract', 'tf.math.truediv', 1.0),
      {
        class_name: 'Conv2D',
        name: 'conv',
        config: {name: 'conv', ...conv2dConfig(3, 1, {padding: 'valid'})},
        inbound_nodes: [[['tf.math.subtract', 0, 0, {}]]],
      },
      tfOpLambda('tf.__operators__.add', '__operators__.add', 'tf.math.subtract', ['conv', 0, 0]),
      tfOpLambda('tf.math.multiply', 'math.multiply', 'tf.__operators__.add', 0.5),
    ],
    'tf.math.multiply'
  ),
  weights: {conv: [w('kernel', [1, 1, 3, 3], conv), w('bias', [3], convBias)], ...headWeights},
};
const tutorialExpected = (() => {
  const pre = RAW.map(x => x / 127.5 - 1);
  const out: number[] = [];
  for (let p = 0; p < 4; p++) {
    const x = pre.slice(p * 3, p * 3 + 3);
    out.push(...matVec(x, conv, convBias).map((c, i) => (x[i]! + c) * 0.5));
  }
  return classify(out);
})();

// TensorFlow's transfer-learning tutorial whole, as tf.keras 2 saves it: augmentation (a nested
// Sequential of RandomFlip and RandomRotation), preprocess_input, the base model (a nested
// Functional, called with training=False, which Keras 2 numbers node 1), pooling, Dropout and
// Dense(1), a binary head trained from logits.
const baseKernel = deterministic(3 * 2, 84);
const baseBias = [0.05, -0.1];
const logit = [1.3, -0.7];
const transferLearning: ModelSpec = {
  kerasVersion: '2.13.1',
  config: {
    class_name: 'Functional',
    config: {
      name: 'model',
      layers: [
        keras2Layer('InputLayer', 'input_2', {batch_input_shape: [null, 2, 2, 3], sparse: false, ragged: false}, null),
        {
          class_name: 'Sequential',
          name: 'sequential',
          config: {
            name: 'sequential',
            layers: [
              {class_name: 'InputLayer', config: {name: 'random_flip_input', batch_input_shape: [null, 2, 2, 3]}},
              {class_name: 'RandomFlip', config: {name: 'random_flip', mode: 'horizontal', seed: null}},
              {class_name: 'RandomRotation', config: {name: 'random_rotation', factor: 0.2, fill_mode: 'reflect'}},
            ],
          },
          inbound_nodes: [[['input_2', 0, 0, {}]]],
        },
        tfOpLambda('tf.math.truediv', 'math.truediv', 'sequential', 127.5),
        tfOpLambda('tf.math.subtract', 'math.subtract', 'tf.math.truediv', 1.0),
        {
          class_name: 'Functional',
          name: 'base',
          config: {
            name: 'base',
            layers: [
              keras2Layer('InputLayer', 'input_1', {batch_input_shape: [null, 2, 2, 3]}, null),
              keras2Layer('Conv2D', 'conv', conv2dConfig(2, 1, {padding: 'valid', activation: 'relu'}), 'input_1'),
            ],
            input_layers: [['input_1', 0, 0]],
            output_layers: [['conv', 0, 0]],
          },
          inbound_nodes: [[['tf.math.subtract', 0, 0, {training: false}]]],
        },
        keras2Layer('GlobalAveragePooling2D', 'pool', {data_format: 'channels_last', keepdims: false}, 'base', 1),
        keras2Layer('Dropout', 'dropout', {rate: 0.2}, 'pool'),
        keras2Layer('Dense', 'dense', {units: 1, activation: 'linear', use_bias: true}, 'dropout'),
      ],
      input_layers: [['input_2', 0, 0]],
      output_layers: [['dense', 0, 0]],
    },
  },
  weights: {
    base: [w('conv/kernel', [1, 1, 3, 2], baseKernel), w('conv/bias', [2], baseBias)],
    dense: [w('kernel', [2, 1], logit), w('bias', [1], [0.1])],
  },
};
const transferExpected = (() => {
  const features = [0, 1, 2, 3].map(p =>
    matVec(
      RAW.slice(p * 3, p * 3 + 3).map(x => x / 127.5 - 1),
      baseKernel,
      baseBias
    ).map(v => Math.max(v, 0))
  );
  const pooled = [0, 1].map(c => features.reduce((sum, f) => sum + f[c]!, 0) / 4);
  const p = sigmoid(matVec(pooled, logit, [0.1])[0]!);
  return [1 - p, p];
})();

// ---- Keras 3: op classes ----
// x / 255; 1 − that (a number first); their product (two tensors); + 0.25 (a NumPy scalar, as
// Keras 3 writes one).
const keras3Ops: ModelSpec = {
  config: functional(
    'ops',
    [
      input('image', [2, 2, 3]),
      opEntry('TrueDivide', 'div', ['image', 255]),
      opEntry('Subtract', 'rsub', [1, 'div']),
      opEntry('Multiply', 'mul', ['rsub', 'div']),
      opEntry('Add', 'add', ['mul', {class_name: '__numpy__', config: {value: 0.25, dtype: 'float32'}}]),
      ...headLayers('add', false),
    ],
    'image',
    'probs'
  ),
  weights: headWeights,
};
const keras3Expected = classify(RAW.map(x => (1 - x / 255) * (x / 255) + 0.25));

/** The Keras 3 image, then x / 255 ('div') and that − 0.5 (`centred`). */
const centred = (name: string): Entry[] => [
  input('image', [2, 2, 3]),
  opEntry('TrueDivide', 'div', ['image', 255]),
  opEntry('Subtract', name, ['div', 0.5]),
];

// Keras 3's other ops: maximum(x, 0) (a ReLU), minimum of two tensors, concatenate on the
// channels (the op's axis: ops.concatenate's default, 0, is the batch axis).
const head6 = deterministic(6 * 3, 83);
const moreOps: ModelSpec = {
  config: functional(
    'more_ops',
    [
      ...centred('centered'),
      opEntry('Maximum', 'relu', ['centered', 0]),
      opEntry('Minimum', 'mn', ['relu', 'div']),
      opEntry('Concatenate', 'cat', [['mn', 'centered']], {}, {axis: -1}),
      layer('GlobalAveragePooling2D', 'pool', {data_format: 'channels_last', keepdims: false}, ['cat']),
      dense('probs', 3, 'softmax', ['pool']),
    ],
    'image',
    'probs'
  ),
  weights: {probs: [w('kernel', [6, 3], head6), w('bias', [3], headBias)]},
};
const moreExpected = (() => {
  const features = [0, 1, 2, 3]
    .map(p => RAW.slice(p * 3, p * 3 + 3).map(x => x / 255))
    .map(d => [...d.map(v => Math.min(Math.max(v - 0.5, 0), v)), ...d.map(v => v - 0.5)]);
  const pooled = [0, 1, 2, 3, 4, 5].map(c => features.reduce((s, f) => s + f[c]!, 0) / 4);
  return softmax(matVec(pooled, head6, headBias));
})();

// Activation functions called as ops: Keras 3's relu, hard_sigmoid (relu6(x + 3) / 6, not
// Keras 2's 0.2 x + 0.5), silu and exact gelu; tf.keras 2's tf.nn.relu6, tf.math.sigmoid,
// tf.nn.silu and tf.nn.gelu: each of 4 · (x / 255 − 0.5), their outputs summed.
const act = {
  relu: (v: number) => Math.max(v, 0),
  hardSigmoid: (v: number) => Math.min(Math.max(v + 3, 0), 6) / 6,
  silu: (v: number) => v / (1 + Math.exp(-v)),
  gelu,
  relu6: (v: number) => Math.min(Math.max(v, 0), 6),
  sigmoid,
};
const activationsExpected = (fs: Array<(v: number) => number>) =>
  classify(RAW.map(x => (x / 255 - 0.5) * 4).map(v => fs.reduce((sum, f) => sum + f(v), 0)));
const keras3Activations: ModelSpec = {
  config: functional(
    'activation_ops',
    [
      ...centred('centred'),
      opEntry('Multiply', 'x', ['centred', 4]),
      opEntry('Relu', 'relu', ['x']),
      {...opEntry('HardSigmoid', 'hard_sigmoid', ['x']), module: 'keras.src.ops.nn'},
      {...opEntry('Silu', 'silu', ['x']), module: 'keras.src.ops.nn'},
      {...opEntry('Gelu', 'gelu', ['x'], {}, {approximate: false}), module: 'keras.src.ops.nn'},
      layer('Add', 'sum', {}, ['relu', 'hard_sigmoid', 'silu', 'gelu']),
      ...headLayers('sum', false),
    ],
    'image',
    'probs'
  ),
  weights: headWeights,
};
const tfActivation = (name: string, fn: string, from: string, kwargs: Entry = {}): Entry => ({
  ...tfOpLambda(name, fn, from, null),
  inbound_nodes: [[from, 0, 0, {name: null, ...kwargs}]],
});
const keras2Activations: ModelSpec = {
  kerasVersion: '2.13.1',
  config: keras2Model(
    [
      tfOpLambda('tf.math.truediv', 'math.truediv', 'input_1', 255),
      tfOpLambda('tf.math.subtract', 'math.subtract', 'tf.math.truediv', 0.5),
      tfOpLambda('x', 'math.multiply', 'tf.math.subtract', 4),
      tfActivation('tf.nn.relu6', 'nn.relu6', 'x'),
      tfActivation('tf.math.sigmoid', 'math.sigmoid', 'x'),
      tfActivation('tf.nn.silu', 'nn.silu', 'x'),
      tfActivation('tf.nn.gelu', 'nn.gelu', 'x', {approximate: false}),
      keras2Layer('Add', 'sum', {}, ['tf.nn.relu6', 'tf.math.sigmoid', 'tf.nn.silu', 'tf.nn.gelu']),
    ],
    'sum'
  ),
  weights: headWeights,
};

// preprocess_input's torch mode (DenseNet) inside the model: x / 255, then minus the ImageNet
// mean and divided by its std, per channel. tf.keras 2 writes a TFOpLambda truediv, a
// tf.nn.bias_add of the negated mean and a truediv by the std list; Keras 3 a TrueDivide, an
// add of a [1, 1, 1, 3] tensor constant and a TrueDivide by a [3] one.
const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];
const torchExpected = classify(RAW.map((x, i) => (x / 255 - MEAN[i % 3]!) / STD[i % 3]!));
const tensorConstant = (value: unknown): Entry => ({class_name: '__tensor__', config: {value, dtype: 'float32'}});
const torchKeras2: ModelSpec = {
  kerasVersion: '2.13.1',
  config: keras2Model(
    [
      tfOpLambda('tf.math.truediv', 'math.truediv', 'input_1', 255),
      {
        ...tfOpLambda('tf.nn.bias_add', 'nn.bias_add', 'tf.math.truediv', null),
        inbound_nodes: [['tf.math.truediv', 0, 0, {bias: MEAN.map(m => -m), data_format: null, name: null}]],
      },
      tfOpLambda('tf.math.truediv_1', 'math.truediv', 'tf.nn.bias_add', STD),
    ],
    'tf.math.truediv_1'
  ),
  weights: headWeights,
};
const torchKeras3: ModelSpec = {
  config: functional(
    'torch_mode',
    [
      input('image', [2, 2, 3]),
      opEntry('TrueDivide', 'true_divide', ['image', 255]),
      opEntry('Add', 'add', ['true_divide', tensorConstant([[[MEAN.map(m => -m)]]])]),
      opEntry('TrueDivide', 'true_divide_1', ['add', tensorConstant(STD)]),
      ...headLayers('true_divide_1', false),
    ],
    'image',
    'probs'
  ),
  weights: headWeights,
};

// preprocess_input's caffe mode (ResNet50, VGG) inside the model: RGB → BGR, then minus the
// ImageNet mean (in BGR order), per channel, on raw pixels. tf.keras 2 writes the flip as a
// SlicingOpLambda, x[..., ::-1], and the mean as tf.nn.bias_add; Keras 3 as
// ops.stack([x[..., i] for i in (2, 1, 0)], axis=-1), a GetItem op per channel and a Stack,
// then an add of a [1, 1, 1, 3] tensor constant.
const CAFFE_MEAN = [103.939, 116.779, 123.68];
const caffeExpected = classify(RAW.map((_, i) => RAW[i - (i % 3) + 2 - (i % 3)]! - CAFFE_MEAN[i % 3]!));
const ellipsis2 = {class_name: '__ellipsis__'};
/** tf.keras 2's `input_1[slice_spec]`: a SlicingOpLambda, the key in its node. */
const slicing = (spec: unknown[]): Entry => ({
  class_name: 'SlicingOpLambda',
  name: 'tf.__operators__.getitem',
  config: {name: 'tf.__operators__.getitem', trainable: true, dtype: 'float32', function: '__operators__.getitem'},
  inbound_nodes: [['input_1', 0, 0, {slice_spec: spec}]],
});
const caffeKeras2: ModelSpec = {
  kerasVersion: '2.13.1',
  config: keras2Model(
    [
      slicing([ellipsis2, {start: null, stop: null, step: -1}]),
      {
        ...tfOpLambda('tf.nn.bias_add', 'nn.bias_add', 'tf.__operators__.getitem', null),
        inbound_nodes: [
          ['tf.__operators__.getitem', 0, 0, {bias: CAFFE_MEAN.map(m => -m), data_format: null, name: null}],
        ],
      },
    ],
    'tf.nn.bias_add'
  ),
  weights: headWeights,
};
const ellipsis3 = {class_name: '__ellipsis__', config: {}};
/** Keras 3's `image[..., i]`: a GetItem op on the tensor and the key (Ellipsis, i). */
const getItem = (name: string, i: number): Entry => opEntry('GetItem', name, ['image', [ellipsis3, i]]);
const caffeKeras3: ModelSpec = {
  config: functional(
    'caffe_mode',
    [
      input('image', [2, 2, 3]),
      getItem('get_item', 2),
      getItem('get_item_1', 1),
      getItem('get_item_2', 0),
      opEntry('Stack', 'stack', [['get_item', 'get_item_1', 'get_item_2']], {}, {axis: -1}),
      opEntry('Add', 'add', ['stack', tensorConstant([[[CAFFE_MEAN.map(m => -m)]]])]),
      ...headLayers('add', false),
    ],
    'image',
    'probs'
  ),
  weights: headWeights,
};

// A custom squeeze-and-excite block written with reductions: the mean over the spatial axes
// (keepdims) gates the channels, then the max over them (without) feeds the head.
const gateKernel = deterministic(3 * 3, 86);
const gateBias = [0.1, -0.2, 0.3];
const reductionsExpected = (() => {
  const x = [0, 1, 2, 3].map(p => RAW.slice(p * 3, p * 3 + 3).map(v => v / 255));
  const mean = [0, 1, 2].map(c => x.reduce((s, px) => s + px[c]!, 0) / 4);
  const gate = matVec(mean, gateKernel, gateBias).map(sigmoid);
  const gated = x.map(px => px.map((v, c) => v * gate[c]!));
  const max = [0, 1, 2].map(c => Math.max(...gated.map(px => px[c]!)));
  return softmax(matVec(max, head, headBias));
})();
const reductionWeights = {
  gate: [w('kernel', [1, 1, 3, 3], gateKernel), w('bias', [3], gateBias)],
  probs: [w('kernel', [3, 3], head), w('bias', [3], headBias)],
};
const tfReduce = (name: string, fn: string, from: string, keepdims: boolean): Entry => ({
  ...tfOpLambda(name, fn, from, null),
  inbound_nodes: [[from, 0, 0, {axis: [1, 2], keepdims, name: null}]],
});
const reductionsKeras2: ModelSpec = {
  kerasVersion: '2.13.1',
  config: {
    class_name: 'Functional',
    config: {
      name: 'reductions',
      layers: [
        keras2Layer('InputLayer', 'input_1', {batch_input_shape: [null, 2, 2, 3]}, null),
        tfOpLambda('tf.math.truediv', 'math.truediv', 'input_1', 255),
        tfReduce('tf.math.reduce_mean', 'math.reduce_mean', 'tf.math.truediv', true),
        keras2Layer('Conv2D', 'gate', conv2dConfig(3, 1, {activation: 'sigmoid'}), 'tf.math.reduce_mean'),
        keras2Layer('Multiply', 'gated', {}, ['tf.math.truediv', 'gate']),
        tfReduce('tf.math.reduce_max', 'math.reduce_max', 'gated', false),
        keras2Layer('Dense', 'probs', {units: 3, activation: 'softmax', use_bias: true}, 'tf.math.reduce_max'),
      ],
      input_layers: [['input_1', 0, 0]],
      output_layers: [['probs', 0, 0]],
    },
  },
  weights: reductionWeights,
};
const reductionsKeras3: ModelSpec = {
  config: functional(
    'reductions',
    [
      input('image', [2, 2, 3]),
      opEntry('TrueDivide', 'div', ['image', 255]),
      opEntry('Mean', 'mean', ['div'], {}, {axis: [1, 2], keepdims: true}),
      layer('Conv2D', 'gate', conv2dConfig(3, 1, {activation: 'sigmoid'}), ['mean']),
      layer('Multiply', 'gated', {}, ['div', 'gate']),
      opEntry('Max', 'max', ['gated'], {}, {axis: [1, 2], keepdims: false, initial: null}),
      dense('probs', 3, 'softmax', ['max']),
    ],
    'image',
    'probs'
  ),
  weights: reductionWeights,
};

// Keras 3's ops.softmax over an axis of its own, here the rows (axis 1): the axis is in the
// op's config, where Keras saves what ops.softmax passed to the Softmax op.
const softmaxKeras3: ModelSpec = {
  config: functional(
    'softmax_op',
    [
      input('image', [2, 2, 3]),
      opEntry('TrueDivide', 'div', ['image', 255]),
      {...opEntry('Softmax', 'rows', ['div'], {}, {axis: 1}), module: 'keras.src.ops.nn'},
      ...headLayers('rows', false),
    ],
    'image',
    'probs'
  ),
  weights: headWeights,
};
const softmaxExpected = classify(
  RAW.map((v, i) => {
    const other = RAW[(i + 6) % 12]!; // the same column and channel in the other row
    return sigmoid((v - other) / 255);
  })
);

/** Models of each case, each with the format it is written in and what it must answer. */
const CASES: Array<{
  name: string;
  models: Array<[ModelSpec, 'h5' | 'keras', number[]]>;
  /** Where tfjs cannot run the case: what it says instead. */
  tfjsRefuses?: RegExp;
}> = [
  {
    name: "TensorFlow's transfer-learning model (preprocess_input inside, + and * too)",
    models: [[tutorial, 'h5', tutorialExpected]],
  },
  {
    name: 'Keras 3 ops with numbers either side and on two tensors',
    models: [
      [keras3Ops, 'h5', keras3Expected],
      [keras3Ops, 'keras', keras3Expected],
    ],
  },
  {name: 'Keras 3 maximum(x, 0), minimum, concatenate(axis=-1)', models: [[moreOps, 'keras', moreExpected]]},
  {
    name: 'Keras 3 softmax over axis 1, the rows',
    models: [[softmaxKeras3, 'keras', softmaxExpected]],
    tfjsRefuses: /tfjs \(\w+\) cannot run this model: Softmax along a non-last dimension/,
  },
  {
    name: 'activation functions called as ops, Keras 3 and tf.keras 2',
    models: [
      [keras3Activations, 'keras', activationsExpected([act.relu, act.hardSigmoid, act.silu, act.gelu])],
      [keras2Activations, 'h5', activationsExpected([act.relu6, act.sigmoid, act.silu, act.gelu])],
    ],
  },
  {
    name: "preprocess_input's torch mode inside the model (per-channel constants), tf.keras 2 and Keras 3",
    models: [
      [torchKeras2, 'h5', torchExpected],
      [torchKeras3, 'keras', torchExpected],
    ],
  },
  {
    name: "preprocess_input's caffe mode inside the model (RGB → BGR, minus the mean), tf.keras 2 and Keras 3",
    models: [
      [caffeKeras2, 'h5', caffeExpected],
      [caffeKeras3, 'h5', caffeExpected],
      [caffeKeras3, 'keras', caffeExpected],
    ],
  },
  {
    name: 'a mean and a max over the spatial axes as global poolings, tf.keras 2 and Keras 3',
    models: [
      [reductionsKeras2, 'h5', reductionsExpected],
      [reductionsKeras3, 'keras', reductionsExpected],
    ],
  },
];

describe('arithmetic ops inside a model: tf.keras 2 TFOpLambda, Keras 3 op classes', () => {
  for (const c of CASES) {
    for (const engine of ['onnx', 'tfjs'] as const) {
      it(`${c.name}, ${engine}`, async () => {
        for (const [spec, format, expected] of c.models) {
          if (engine === 'tfjs' && c.tfjsRefuses) {
            await assert.rejects(
              loadClassifier(await writeKerasModel(spec, format), {engine, scale: '0,255'}),
              c.tfjsRefuses
            );
            continue;
          }
          await answersAs(spec, format, {engine, scale: '0,255'}, RAW, expected, engine);
        }
      });
    }
  }

  it('caffe mode inside the model, served as 0–1 pixels: a WARNING says it expects raw ones (both Kerases)', async () => {
    for (const [spec, rescaling] of [
      [caffeKeras2, 'tf.nn.bias_add'],
      [caffeKeras3, 'add'],
    ] as const) {
      const logger = memoryLogger();
      const model = await loadClassifier(await writeKerasModel(spec, 'h5'), {scale: '0,1', logger});
      model.dispose();
      const warnings = logger.entries.filter(e => e.severity === 'WARNING').map(e => e.message);
      assert.equal(warnings.length, 1, warnings.join('\n'));
      assert.match(
        warnings[0]!,
        new RegExp(`'${rescaling}' \\(minus the ImageNet mean, caffe mode\\), expects raw 0–255 pixels`)
      );
    }
  });

  for (const engine of ['onnx', 'tfjs'] as const) {
    it(`TensorFlow's transfer-learning model whole (augmentation, preprocess_input, base, binary head), ${engine}`, async () => {
      const logger = memoryLogger();
      const model = await loadClassifier(await writeKerasModel(transferLearning, 'h5'), {engine, scale: '0,1', logger});
      try {
        assert.equal(model.outputWidth, 2);
        // Served as 0–1 pixels, it would see them divided twice: the warning says so, through the augmentation.
        const warnings = logger.entries.filter(e => e.severity === 'WARNING').map(e => e.message);
        assert.equal(warnings.length, 1, warnings.join('\n'));
        assert.match(warnings[0]!, /'tf\.math\.truediv' \(1\/127\.5\), expects raw 0–255 pixels/);
      } finally {
        model.dispose();
      }
      const raw = await loadClassifier(await writeKerasModel(transferLearning, 'h5'), {engine, scale: '0,255'});
      try {
        close(await scores(raw, RAW), transferExpected);
      } finally {
        raw.dispose();
      }
    });
  }

  it('tf.nn.softmax as the output: the scores are its probabilities, not a softmax of them', async () => {
    const spec: ModelSpec = {
      kerasVersion: '2.13.1',
      config: {
        class_name: 'Functional',
        config: {
          name: 'model',
          layers: [
            keras2Layer('InputLayer', 'input_1', {batch_input_shape: [null, 2, 2, 3]}, null),
            keras2Layer('GlobalAveragePooling2D', 'mean', {data_format: 'channels_last'}, 'input_1'),
            keras2Layer('Dense', 'logits', {units: 3, activation: 'linear', use_bias: true}, 'mean'),
            tfActivation('tf.nn.softmax', 'nn.softmax', 'logits', {axis: -1}),
          ],
          input_layers: [['input_1', 0, 0]],
          output_layers: [['tf.nn.softmax', 0, 0]],
        },
      },
      weights: {logits: [w('kernel', [3, 3], head), w('bias', [3], headBias)]},
    };
    for (const engine of ['onnx', 'tfjs'] as const) {
      await answersAs(spec, 'h5', {engine, scale: '0,255'}, RAW, classify(RAW));
    }
  });

  it('the tutorial model served with scale 0,1 logs that its first layer expects raw pixels', async () => {
    const logger = memoryLogger();
    const model = await loadClassifier(await writeKerasModel(tutorial, 'h5'), {scale: '0,1', logger});
    model.dispose();
    const warnings = logger.entries.filter(e => e.severity === 'WARNING').map(e => e.message);
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0]!, /'tf\.math\.truediv' \(1\/127\.5\), expects raw 0–255 pixels.*--scale=0,255/);
  });

  it('refuses, naming each, the ops it does not translate', async () => {
    const refusals: Array<[string, ModelSpec['config'], RegExp]> = [
      [
        'a tf.keras 2 slice other than the channel flip (x[:, 1:])',
        keras2Model(
          [
            slicing([
              {start: null, stop: null, step: null},
              {start: 1, stop: null, step: null},
            ]),
          ],
          'tf.__operators__.getitem'
        ),
        /SlicingOpLambda 'tf\.__operators__\.getitem' \(x\[.*\]: only x\[\.\.\., ::-1\] and x\[\.\.\., i\], on the channels, are read\)/,
      ],
      [
        'a Keras 3 ops.max over the spatial axes with an initial value (not a pooling)',
        functional(
          'ops',
          [
            input('image', [2, 2, 3]),
            opEntry('Max', 'max', ['image'], {}, {axis: [1, 2], keepdims: true, initial: 5}),
            ...headLayers('max', false),
          ],
          'image',
          'probs'
        ),
        /Max 'max' \(the keras\.ops call keras\.src\.ops\.numpy\.Max: a max with an initial value\)/,
      ],
      [
        'a Keras 3 stack on its default axis 0, the batch axis',
        functional(
          'ops',
          [
            input('image', [2, 2, 3]),
            getItem('get_item', 0),
            opEntry('Stack', 'stack', [['get_item', 'get_item']], {}, {axis: 0}),
            ...headLayers('stack', false),
          ],
          'image',
          'probs'
        ),
        /Stack 'stack' \(the keras\.ops call keras\.src\.ops\.numpy\.Stack: along axis 0: only a new last axis \(-1\) is read\)/,
      ],
      [
        'a TFOpLambda dividing two tensors',
        keras2Model([tfOpLambda('tf.math.truediv', 'math.truediv', 'input_1', ['input_1', 0, 0])], 'tf.math.truediv'),
        /TFOpLambda 'tf\.math\.truediv' \(tf\.math\.truediv: a division of two tensors/,
      ],
      [
        'a TFOpLambda of another function',
        keras2Model([tfOpLambda('tf.math.cumsum', 'math.cumsum', 'input_1', null)], 'tf.math.cumsum'),
        /TFOpLambda 'tf\.math\.cumsum' \(it calls a raw TensorFlow op\)/,
      ],
      [
        'a Keras 3 number divided by a tensor',
        functional(
          'ops',
          [input('image', [2, 2, 3]), opEntry('TrueDivide', 'div', [1, 'image']), ...headLayers('div', false)],
          'image',
          'probs'
        ),
        /TrueDivide 'div' \(the truedivide op: a number divided by a tensor\)/,
      ],
      [
        'a Keras 3 ops.average, which reduces over an axis (the Average layer averages its inputs)',
        functional(
          'ops',
          [
            input('image', [2, 2, 3]),
            opEntry('Average', 'avg', ['image'], {weights: null}, {axis: -1}),
            ...headLayers('avg', false),
          ],
          'image',
          'probs'
        ),
        /Average 'avg' \(the keras\.ops call keras\.src\.ops\.numpy\.Average: no layer here computes it\)/,
      ],
      [
        "a Keras 3 ops.gelu on its default, the tanh approximation (Activation('gelu') is exact)",
        functional(
          'ops',
          [
            input('image', [2, 2, 3]),
            {...opEntry('Gelu', 'gelu', ['image'], {}, {approximate: true}), module: 'keras.src.ops.nn'},
            ...headLayers('gelu', false),
          ],
          'image',
          'probs'
        ),
        /Gelu 'gelu' \(the keras\.ops call keras\.src\.ops\.nn\.Gelu: the tanh approximation/,
      ],
      [
        'a TFOpLambda mean over the channels (not a pooling)',
        keras2Model(
          [
            {
              ...tfOpLambda('tf.math.reduce_mean', 'math.reduce_mean', 'input_1', null),
              inbound_nodes: [['input_1', 0, 0, {axis: -1, keepdims: true, name: null}]],
            },
          ],
          'tf.math.reduce_mean'
        ),
        /TFOpLambda 'tf\.math\.reduce_mean' \(tf\.math\.reduce_mean over axis -1: only \[1, 2\], the spatial axes, is a pooling\)/,
      ],
      [
        'a Keras 3 ops.concatenate on its default axis 0, the batch axis',
        functional(
          'ops',
          [
            input('image', [2, 2, 3]),
            opEntry('Concatenate', 'cat', [['image', 'image']], {}, {axis: 0}),
            ...headLayers('cat', false),
          ],
          'image',
          'probs'
        ),
        /Concatenate 'cat' \(the keras\.ops call keras\.src\.ops\.numpy\.Concatenate: along axis 0, the batch axis\)/,
      ],
    ];
    for (const [what, config, message] of refusals) {
      const spec: ModelSpec = {
        config,
        weights: headWeights,
        kerasVersion: what.includes('Keras 3') ? '3.9.1' : '2.13.1',
      };
      for (const engine of ['auto', 'onnx', 'tfjs'] as const) {
        await assert.rejects(
          loadClassifier(await writeKerasModel(spec, 'h5'), {engine, scale: '0,255'}),
          (e: Error) => {
            assert.match(e.message, message, `${what}, ${engine}`);
            // Named once, with the rule's reason: not also as an unknown layer.
            assert.doesNotMatch(e.message, /no such built-in layer/, `${what}, ${engine}`);
            return true;
          }
        );
      }
    }
  });
});
