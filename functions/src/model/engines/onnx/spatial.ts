/**
 * Keras' spatial layers (convolutions, pooling, padding, cropping; resizing is in resize.ts,
 * the transposed convolutions in transposed.ts) as ONNX ops on channels-first storage. Padding
 * follows TensorFlow exactly: `same` gives `ceil(in / stride)` outputs and pads
 * `total = max((out - 1) * stride + span - in, 0)` with the smaller half first
 * (`floor(total / 2)` before, the rest after); `valid` pads nothing; `causal` (Conv1D) pads
 * `span - 1` before. Pads are written out explicitly rather than as `auto_pad`, so what runs
 * is what this comment says; the one exception is a pooling that reads a Pad ({@link pooling}),
 * whose SAME_UPPER is that same rule.
 */
import {weightsByRole, type GraphLayer} from '../../keras/graph.js';
import {producerRoles} from '../../keras/fold.js';
import {convolutionGroups} from '../../keras/shapes.js';
import {attr, NoOnnxTranslation, OnnxBuilder, type Value} from './builder.js';

/** A spatial input seen channels-first, and how to label the output. */
export interface Spatial {
  /** The value's name, stored `[N, C, spatial…]`. */
  readonly x: string;
  readonly spatial: readonly number[];
  readonly channels: number;
  wrap(name: string, spatial: readonly number[], channels: number): Value;
}

/** The input of a spatial layer channels-first, whatever its data_format. */
export function spatialInput(b: OnnxBuilder, layer: GraphLayer, v: Value): Spatial {
  if (layer.config['data_format'] === 'channels_first') {
    const k = b.toKeras(v); // logically [C, spatial…] already
    return {
      x: k.name,
      channels: k.shape[0]!,
      spatial: k.shape.slice(1),
      wrap: (name, spatial, channels) => ({name, shape: [channels, ...spatial], storage: 'keras'}),
    };
  }
  const cf = b.toChannelsFirst(v);
  return {
    x: cf.name,
    channels: cf.shape.at(-1)!,
    spatial: cf.shape.slice(0, -1),
    wrap: (name, spatial, channels) => ({name, shape: [...spatial, channels], storage: 'cf'}),
  };
}

/** A Keras int-or-tuple option as one number per spatial axis. */
export function perAxis(value: unknown, rank: number, fallback: number): number[] {
  if (value === undefined || value === null) return Array<number>(rank).fill(fallback);
  if (Array.isArray(value)) return value.map(Number);
  return Array<number>(rank).fill(Number(value));
}

/** Output sizes and ONNX pads (`[begin…, end…]`) of a window op, TensorFlow's rules. */
export function windowPads(
  input: readonly number[],
  kernel: readonly number[],
  strides: readonly number[],
  dilations: readonly number[],
  padding: string
): {out: number[]; pads: number[]} {
  const begin: number[] = [];
  const end: number[] = [];
  const out = input.map((size, i) => {
    const span = (kernel[i]! - 1) * dilations[i]! + 1;
    const s = strides[i]!;
    if (padding === 'valid') {
      begin.push(0);
      end.push(0);
      return Math.floor((size - span) / s) + 1;
    }
    if (padding === 'causal') {
      begin.push(span - 1);
      end.push(0);
      return Math.floor((size - 1) / s) + 1;
    }
    if (padding !== 'same') throw new NoOnnxTranslation(`padding '${padding}'`);
    const o = Math.ceil(size / s);
    const total = Math.max((o - 1) * s + span - size, 0);
    begin.push(Math.floor(total / 2));
    end.push(total - Math.floor(total / 2));
    return o;
  });
  // A size of 0 or less (a 'valid' window larger than its input) is left for the check every
  // translated layer's output gets (keras/shapes.ts' refuseEmptyOutput, in translate.ts).
  return {out, pads: [...begin, ...end]};
}

/**
 * Keras kernel `[k…, in, out]` → ONNX `[out, in, k…]`; depthwise `[k…, in, mult]` →
 * `[in * mult, 1, k…]` (output channel `c * mult + m`, as TensorFlow orders it).
 */
export function onnxKernel(values: Float32Array, shape: readonly number[], depthwise: boolean): Float32Array {
  const a = shape.at(-2)!;
  const z = shape.at(-1)!;
  const taps = values.length / (a * z);
  const out = new Float32Array(values.length);
  for (let s = 0; s < taps; s++) {
    for (let i = 0; i < a; i++) {
      for (let o = 0; o < z; o++) {
        const from = (s * a + i) * z + o;
        out[depthwise ? (i * z + o) * taps + s : (o * a + i) * taps + s] = values[from]!;
      }
    }
  }
  return out;
}

/**
 * Conv1D/2D/3D (grouped or not), DepthwiseConv2D and SeparableConv2D, without their
 * activation. A grouped kernel is `[k…, in / groups, out]`, ONNX's `[out, in / groups, k…]`
 * with `group` set: both put group g's outputs after group g − 1's, each reading its own inputs.
 */
export function convolution(b: OnnxBuilder, layer: GraphLayer, v: Value): Value {
  const s = spatialInput(b, layer, v);
  const rank = s.spatial.length;
  const depthwise = layer.className === 'DepthwiseConv2D' || layer.className === 'SeparableConv2D';
  const size = perAxis(layer.config['kernel_size'], rank, NaN);
  const filters = Number(layer.config['filters']);
  const multiplier = Number(layer.config['depth_multiplier'] ?? 1);
  const groups = depthwise ? 1 : convolutionGroups(layer.name, layer.className, layer.config, s.channels);
  const w = weightsByRole(layer, producerRoles(layer), {
    kernel: [...size, s.channels / groups, filters],
    depthwise_kernel: [...size, s.channels, multiplier],
    pointwise_kernel: [...size.map(() => 1), s.channels * multiplier, filters],
    bias: [layer.className === 'DepthwiseConv2D' ? s.channels * multiplier : filters],
  });
  const kernel = w.get(depthwise ? 'depthwise_kernel' : 'kernel')!;
  const k = kernel.shape.slice(0, rank);
  const strides = perAxis(layer.config['strides'], rank, 1);
  const dilations = perAxis(layer.config['dilation_rate'], rank, 1);
  const {out, pads} = windowPads(s.spatial, k, strides, dilations, String(layer.config['padding'] ?? 'valid'));
  const outChannels = depthwise ? s.channels * kernel.shape.at(-1)! : kernel.shape.at(-1)!;
  const weight = b.floats(
    `${layer.name}/kernel`,
    onnxKernel(kernel.values, kernel.shape, depthwise),
    depthwise ? [outChannels, 1, ...k] : [outChannels, s.channels / groups, ...k]
  );
  const bias = w.get('bias');
  const inputs = [s.x, weight];
  if (bias && layer.className !== 'SeparableConv2D')
    inputs.push(b.floats(`${layer.name}/bias`, bias.values, [bias.values.length]));
  const attributes = [
    attr.ints('kernel_shape', k),
    attr.ints('strides', strides),
    attr.ints('dilations', dilations),
    attr.ints('pads', pads),
    attr.int('group', depthwise ? s.channels : groups),
  ];
  let y = b.op('Conv', inputs, layer.name, attributes);
  let channels = outChannels;
  if (layer.className === 'SeparableConv2D') {
    const pointwise = w.get('pointwise_kernel')!;
    channels = pointwise.shape.at(-1)!;
    const pw = b.floats(`${layer.name}/pointwise`, onnxKernel(pointwise.values, pointwise.shape, false), [
      channels,
      outChannels,
      ...Array<number>(rank).fill(1),
    ]);
    const pInputs = [y, pw];
    if (bias) pInputs.push(b.floats(`${layer.name}/bias`, bias.values, [channels]));
    y = b.op('Conv', pInputs, `${layer.name}/pointwise`, [attr.ints('kernel_shape', Array<number>(rank).fill(1))]);
  }
  return s.wrap(y, out, channels);
}

/**
 * MaxPooling/AveragePooling 1D and 2D. TensorFlow's average excludes padding: so does ONNX's
 * with count_include_pad 0; its max ignores padding, as ONNX's MaxPool pads do (-inf).
 *
 * ONNX Runtime's PadFusion folds a zero Pad before a pooling into the pooling's pads: into a
 * MaxPool that changes the result wherever a window's values are all negative (the padded
 * zeros no longer win), and into either it fails the session once the pads reach the window.
 * It leaves alone a pooling whose padding is `auto_pad`, so a pooling reading a Pad says its
 * padding that way: VALID, or SAME_UPPER, which is TensorFlow's `same` (the extra one after).
 */
export function pooling(b: OnnxBuilder, layer: GraphLayer, v: Value): Value {
  const s = spatialInput(b, layer, v);
  const rank = s.spatial.length;
  const size = perAxis(layer.config['pool_size'], rank, 2);
  const strides = perAxis(layer.config['strides'] ?? layer.config['pool_size'], rank, 2);
  const ones = Array<number>(rank).fill(1);
  const {out, pads} = windowPads(s.spatial, size, strides, ones, String(layer.config['padding'] ?? 'valid'));
  const padding =
    b.producer(s.x) === 'Pad'
      ? attr.str('auto_pad', pads.some(p => p !== 0) ? 'SAME_UPPER' : 'VALID')
      : attr.ints('pads', pads);
  const max = layer.className.startsWith('Max');
  const y = b.op(max ? 'MaxPool' : 'AveragePool', [s.x], layer.name, [
    attr.ints('kernel_shape', size),
    attr.ints('strides', strides),
    padding,
    ...(max ? [] : [attr.int('count_include_pad', 0)]),
  ]);
  return s.wrap(y, out, s.channels);
}

/** GlobalAverage/MaxPooling 1D and 2D: `[N, C]` in Keras order either way. */
export function globalPooling(b: OnnxBuilder, layer: GraphLayer, v: Value): Value {
  const s = spatialInput(b, layer, v);
  const axes = s.spatial.map((_, i) => i + 2);
  const op = layer.className.startsWith('GlobalMax') ? 'ReduceMax' : 'ReduceMean';
  const y = b.op(op, [s.x], layer.name, [attr.ints('axes', axes), attr.int('keepdims', 0)]);
  return {name: y, shape: [s.channels], storage: 'keras'};
}

/** Keras `((top, bottom), (left, right))`, `(a, b)` or `n` as `[begin…, end…]`. */
function edgePairs(value: unknown, rank: number): number[] {
  const pairs = Array.isArray(value)
    ? (value as unknown[]).map(p => (Array.isArray(p) ? p.map(Number) : [Number(p), Number(p)]))
    : Array.from({length: rank}, () => [Number(value ?? 0), Number(value ?? 0)]);
  return [...pairs.map(p => p[0]!), ...pairs.map(p => p[1]!)];
}

/** ZeroPadding2D and Cropping2D. */
export function padOrCrop(b: OnnxBuilder, layer: GraphLayer, v: Value): Value {
  const s = spatialInput(b, layer, v);
  const rank = s.spatial.length;
  if (layer.className.startsWith('ZeroPadding')) {
    const p = edgePairs(layer.config['padding'] ?? 1, rank);
    const pads = b.ints(`${layer.name}/pads`, [0, 0, ...p.slice(0, rank), 0, 0, ...p.slice(rank)]);
    const out = s.spatial.map((d, i) => d + p[i]! + p[rank + i]!);
    return s.wrap(b.op('Pad', [s.x, pads], layer.name), out, s.channels);
  }
  const c = edgePairs(layer.config['cropping'] ?? 0, rank);
  const out = s.spatial.map((d, i) => d - c[i]! - c[rank + i]!);
  const starts = b.ints(`${layer.name}/starts`, c.slice(0, rank));
  const ends = b.ints(
    `${layer.name}/ends`,
    s.spatial.map((d, i) => d - c[rank + i]!)
  );
  const axes = b.ints(
    `${layer.name}/axes`,
    s.spatial.map((_, i) => i + 2)
  );
  return s.wrap(b.op('Slice', [s.x, starts, ends, axes], layer.name), out, s.channels);
}
