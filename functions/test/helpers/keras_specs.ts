/**
 * Model specs for the project's Keras writer (scripts/lib/keras_writer.ts), written as Keras 3
 * (and, where named, tf.keras 2) serialises them, and the plain arithmetic tests compute expected outputs with:
 * the expected side never runs the code under test.
 */
import assert from 'node:assert/strict';
import type {Classifier} from '../../src/core/ports.js';
import {loadClassifier, type LoadOptions} from '../../src/model/loader.js';
import {writeKerasModel, type ModelSpec, type WeightSpec} from '../../../scripts/lib/keras_writer.js';

/** One Keras 3 config entry. */
export type Entry = Record<string, unknown>;
/** A Keras 3 reference to `from`'s output, as a node's arguments hold it. */
export const kerasTensor = (from: string) => ({
  class_name: '__keras_tensor__',
  config: {shape: null, dtype: 'float32', keras_history: [from, 0, 0]},
});
/** A layer entry called on `inputs` (layer names), as Keras 3 writes it. */
export function layer(className: string, name: string, config: Entry, inputs: string[] = []): Entry {
  return {
    module: 'keras.layers',
    class_name: className,
    config: {
      name,
      trainable: true,
      dtype: {module: 'keras', class_name: 'DTypePolicy', config: {name: 'float32'}},
      ...config,
    },
    registered_name: null,
    name,
    inbound_nodes: inputs.length
      ? [{args: inputs.length === 1 ? [kerasTensor(inputs[0]!)] : [inputs.map(kerasTensor)], kwargs: {}}]
      : [],
  };
}
/** One positional argument of a Keras 3 op: a layer's output (its name), a number, a serialised object, or a list of them. */
export type OpArg = string | number | Entry | OpArg[];
/**
 * A Keras 3 op called in a functional model (`x + y`, `x / 255`): its own class from
 * keras.src.ops.numpy (`Add`, `TrueDivide`, …) on positional arguments ({@link OpArg}: names
 * become that layer's output, at any depth, as in a list of tensors or an index key
 * `[Ellipsis, 2]`; anything else stays as written); and keyword arguments. What
 * the op function passes to the op's constructor (`ops.concatenate(xs, axis)` is
 * `Concatenate(axis=axis)(xs)`) is in its `config`, defaults included, as Keras' Operation
 * records it (keras/src/ops/operation.py, `_auto_config`).
 */
export function opEntry(className: string, name: string, args: OpArg[], kwargs: Entry = {}, config: Entry = {}): Entry {
  const arg = (a: OpArg): unknown => (Array.isArray(a) ? a.map(arg) : typeof a === 'string' ? kerasTensor(a) : a);
  return {
    module: 'keras.src.ops.numpy',
    class_name: className,
    config: {name, ...config},
    registered_name: className,
    name,
    inbound_nodes: [{args: args.map(arg), kwargs}],
  };
}
/** An InputLayer of per-image `shape`. */
export const input = (name: string, shape: number[]) =>
  layer('InputLayer', name, {batch_shape: [null, ...shape], sparse: false});
/** A Functional model config of `layers`, one input and one output. */
export function functional(name: string, layers: Entry[], inputName: string, outputName: string): ModelSpec['config'] {
  return {
    class_name: 'Functional',
    config: {name, trainable: true, layers, input_layers: [inputName, 0, 0], output_layers: [outputName, 0, 0]},
  } as ModelSpec['config'];
}
/** What Keras writes for a square `size` kernel: stride 1, `same` padding, channels last, no dilation, linear, a bias. */
const spatialConfig = (size: number): Entry => ({
  kernel_size: [size, size],
  strides: [1, 1],
  padding: 'same',
  data_format: 'channels_last',
  dilation_rate: [1, 1],
  activation: 'linear',
  use_bias: true,
});
/** A Conv2D's config as Keras writes it ({@link spatialConfig}, one group); `extra` overrides any of it. */
export const conv2dConfig = (filters: number, size: number, extra: Entry = {}): Entry => ({
  filters,
  ...spatialConfig(size),
  groups: 1,
  ...extra,
});
/** A DepthwiseConv2D's config as Keras writes it ({@link spatialConfig}, depth multiplier 1); `extra` overrides any of it. */
export const depthwiseConfig = (size: number, extra: Entry = {}): Entry => ({
  ...spatialConfig(size),
  depth_multiplier: 1,
  ...extra,
});
/** A Dense layer entry. */
export const dense = (name: string, units: number, activation: string, inputs: string[]) =>
  layer('Dense', name, {units, activation, use_bias: true}, inputs);
/** One weight of a layer, by name, shape and values (row-major). */
export const w = (name: string, shape: number[], values: number[]): WeightSpec => ({name, shape, values});

/** `n` fixed values in (-0.8, 0.8), different for each seed. */
export const deterministic = (n: number, seed: number) =>
  Array.from({length: n}, (_, i) => Math.sin(seed * 7.1 + i * 1.7) * 0.8);
/** `x · kernel + bias`, kernel `[x.length, bias.length]` row-major. */
export const matVec = (x: number[], kernel: number[], bias: number[]) =>
  bias.map((b, j) => x.reduce((sum, xi, i) => sum + xi * kernel[i * bias.length + j]!, b));
/** The logistic sigmoid. */
export const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
/** Softmax of `z`. */
export const softmax = (z: number[]) => {
  const m = Math.max(...z);
  const e = z.map(v => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map(v => v / s);
};

/** erf by its Taylor series, for |x| < 3 (Abramowitz–Stegun 7.1.26, at 1.5e-7, is too coarse here). */
export function erf(x: number): number {
  let sum = 0;
  let term = x;
  for (let n = 0; n < 60; n++) {
    sum += term / (2 * n + 1);
    term *= (-x * x) / (n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}
/** GELU, exact (Keras' default, approximate=False): x · Φ(x). */
export const gelu = (x: number) => 0.5 * x * (1 + erf(x / Math.SQRT2));

/**
 * A grouped 'same' convolution of an HWC image, stride 1: output channel o (of `filters`)
 * reads the input channels of its group, o / (filters / g), through kernel
 * `[kh, kw, in / g, filters]`. TensorFlow's 'same' pads floor((k − 1) / 2) before.
 */
export function groupedConv(
  x: number[],
  [h, wd, cin]: number[],
  kernel: number[],
  [kh, kw]: number[],
  filters: number,
  groups: number,
  bias: number[]
): number[] {
  const perGroupIn = cin! / groups;
  const perGroupOut = filters / groups;
  const out: number[] = [];
  for (let y = 0; y < h!; y++)
    for (let xo = 0; xo < wd!; xo++)
      for (let o = 0; o < filters; o++) {
        const g = Math.floor(o / perGroupOut);
        let sum = bias[o]!;
        for (let dy = 0; dy < kh!; dy++)
          for (let dx = 0; dx < kw!; dx++) {
            const yy = y + dy - Math.floor((kh! - 1) / 2);
            const xx = xo + dx - Math.floor((kw! - 1) / 2);
            if (yy < 0 || yy >= h! || xx < 0 || xx >= wd!) continue;
            for (let i = 0; i < perGroupIn; i++) {
              const value = x[(yy * wd! + xx) * cin! + g * perGroupIn + i]!;
              sum += value * kernel[((dy * kw! + dx) * perGroupIn + i) * filters + o]!;
            }
          }
        out.push(sum);
      }
  return out;
}

// ---- tf.keras 2 entries ----
/**
 * A layer entry as tf.keras 2 writes it, called on the outputs of `from` (one layer, several
 * for a merge, or none), each at its call `node`.
 */
export const keras2Layer = (
  className: string,
  name: string,
  config: Entry,
  from: string | string[] | null,
  node = 0,
  kwargs: Entry = {}
) => ({
  class_name: className,
  name,
  config: {name, trainable: true, dtype: 'float32', ...config},
  inbound_nodes: from === null ? [] : [[from].flat().map(f => [f, node, 0, kwargs])],
});

/** A TFOpLambda as tf.keras 2 saves it: its one node is its first argument, the rest in kwargs. */
export const tfOpLambda = (name: string, fn: string, first: string, y: unknown): Entry => ({
  class_name: 'TFOpLambda',
  name,
  config: {name, trainable: true, dtype: 'float32', function: fn},
  inbound_nodes: [[first, 0, 0, {y, name: null}]],
});

/** The model's scores of one image of `pixels` (HWC), in class order. */
export async function scores(model: Classifier, pixels: number[]): Promise<number[]> {
  const [r] = await model.classifyPixels([Float32Array.from(pixels)], model.outputWidth);
  const out = new Array<number>(model.outputWidth);
  for (const t of r!.top_k) out[t.index] = t.score;
  return out;
}

/** Asserts each output within `tolerance` of the expected. */
export function close(actual: number[], expected: number[], tolerance = 1e-5): void {
  assert.equal(actual.length, expected.length);
  actual.forEach((a, i) =>
    assert.ok(Math.abs(a - expected[i]!) <= tolerance, `output ${i}: ${a} vs expected ${expected[i]} (all: ${actual})`)
  );
}

/**
 * Writes `spec` as `format`, loads it with `options`, and asserts the engine that serves it
 * (where `served` names one) and its scores of `pixels` against `expected`.
 */
export async function answersAs(
  spec: ModelSpec,
  format: 'h5' | 'keras',
  options: LoadOptions,
  pixels: number[],
  expected: number[],
  served?: 'onnx' | 'tfjs'
): Promise<void> {
  const model = await loadClassifier(await writeKerasModel(spec, format), options);
  try {
    if (served) assert.equal(model.engine, served);
    close(await scores(model, pixels), expected);
  } finally {
    model.dispose();
  }
}
