/**
 * Folds BatchNormalization into the layer before it, as an inference-time rewrite of the
 * graph that both engines then run (measured in issue #15: 1.8× for tfjs-wasm on
 * MobileNetV2, and fewer ops for ONNX Runtime).
 *
 * The math: at inference BatchNormalization is `y = gamma * (x - mean) / sqrt(var + eps) + beta`,
 * i.e. `y = s * x + t` per channel with `s = gamma / sqrt(var + eps)` and
 * `t = beta - mean * s`. For `x = W * u + b` (a convolution or a Dense layer, linear
 * activation), `y = (s ⊙ W) * u + (s * b + t)`: scale the kernel's output channels by `s`
 * and the bias becomes `s * (b - mean) + beta`.
 *
 * Keras allows this only when the BatchNormalization normalises the producer's output
 * channels, the producer has no activation (it would sit between the two) and nothing
 * else reads the producer's output. Anything else is left as it is.
 */
import type {StoredWeight} from './h5_reader.js';
import {consumerCounts, weightsByRole, type GraphLayer, type KerasGraph, type TensorRef} from './graph.js';

/** Producers whose output channels are the last axis of their kernel (or its last two, depthwise). */
const FOLDABLE = new Set(['Conv1D', 'Conv2D', 'DepthwiseConv2D', 'SeparableConv2D', 'Dense']);

/** Keras' roles of a BatchNormalization layer's weights, given its config. */
export function batchNormRoles(config: Record<string, unknown>): string[] {
  return [
    ...(config['scale'] !== false ? ['gamma'] : []),
    ...(config['center'] !== false ? ['beta'] : []),
    'moving_mean',
    'moving_variance',
  ];
}

/**
 * Per-channel `[s, t]` of a BatchNormalization layer (see the module comment); `channels`,
 * where the caller knows them, is what each weight's length must be.
 */
export function batchNormAffine(layer: GraphLayer, channels = NaN): {scale: Float32Array; shift: Float32Array} {
  const roles = batchNormRoles(layer.config);
  const w = weightsByRole(layer, roles, Object.fromEntries(roles.map(r => [r, [channels]])));
  const mean = w.get('moving_mean')!.values;
  const variance = w.get('moving_variance')!.values;
  const gamma = w.get('gamma')?.values;
  const beta = w.get('beta')?.values;
  const eps = Number(layer.config['epsilon'] ?? 1e-3);
  const scale = new Float32Array(mean.length);
  const shift = new Float32Array(mean.length);
  for (let c = 0; c < mean.length; c++) {
    // In float64, then rounded once: the same figures tfjs and Keras compute in float32.
    const s = (gamma?.[c] ?? 1) / Math.sqrt(variance[c]! + eps);
    scale[c] = s;
    shift[c] = (beta?.[c] ?? 0) - mean[c]! * s;
  }
  return {scale, shift};
}

/** The roles of a producer's weights, in Keras order. */
export function producerRoles(layer: GraphLayer): string[] {
  const bias = layer.config['use_bias'] !== false ? ['bias'] : [];
  switch (layer.className) {
    case 'DepthwiseConv2D':
      return ['depthwise_kernel', ...bias];
    case 'SeparableConv2D':
      return ['depthwise_kernel', 'pointwise_kernel', ...bias];
    default:
      return ['kernel', ...bias];
  }
}

function channelsFirst(layer: GraphLayer): boolean {
  return layer.config['data_format'] === 'channels_first';
}

/** Whether `bn` normalises the output channels of `producer` (rank = output rank with batch). */
function normalisesChannels(bn: GraphLayer, producer: GraphLayer): boolean {
  const rank =
    producer.className === 'Dense' ? 2 : producer.className === 'Conv1D' ? 3 : producer.className === 'Conv3D' ? 5 : 4;
  const raw = Number(bn.config['axis'] ?? -1);
  const axis = raw < 0 ? raw + rank : raw;
  return axis === (producer.className !== 'Dense' && channelsFirst(producer) ? 1 : rank - 1);
}

function foldInto(producer: GraphLayer, bn: GraphLayer): GraphLayer {
  const {scale, shift} = batchNormAffine(bn);
  const roles = producerRoles(producer);
  const w = weightsByRole(producer, roles);
  const kernelRole = producer.className === 'SeparableConv2D' ? 'pointwise_kernel' : roles[0]!;
  const kernel = w.get(kernelRole)!;
  const channels = scale.length;
  const shape = kernel.shape;
  // Output channel of a flat kernel index: the last axis, or the last two for depthwise
  // kernels [kh, kw, in, multiplier], whose output channel is in * multiplier + m.
  const outputs = producer.className === 'DepthwiseConv2D' ? shape.at(-1)! * shape.at(-2)! : shape.at(-1)!;
  if (outputs !== channels) return producer; // not the same channels after all: leave it
  const folded = Float32Array.from(kernel.values, (v, i) => v * scale[i % outputs]!);
  const oldBias = w.get('bias')?.values;
  const bias = Float32Array.from(scale, (s, c) => s * (oldBias?.[c] ?? 0) + shift[c]!);
  const named = (role: string, values: Float32Array, dims: readonly number[]): StoredWeight => ({
    name: `${producer.name}/${role}:0`,
    shape: dims,
    values,
  });
  const weights =
    producer.className === 'SeparableConv2D'
      ? [
          named('depthwise_kernel', w.get('depthwise_kernel')!.values, w.get('depthwise_kernel')!.shape),
          named('pointwise_kernel', folded, shape),
          named('bias', bias, [channels]),
        ]
      : [named(kernelRole, folded, shape), named('bias', bias, [channels])];
  return {...producer, config: {...producer.config, use_bias: true}, weights};
}

/** Returns the graph with every foldable BatchNormalization folded (see the module comment). */
export function foldBatchNorm(graph: KerasGraph): KerasGraph {
  const byName = new Map(graph.layers.map(l => [l.name, l]));
  const replaced = new Map<string, GraphLayer>();
  const removed = new Map<string, TensorRef>();
  // Counted once, on the graph as read: each producer folds at most once, so later folds
  // cannot change a count a decision still needs.
  const readers = consumerCounts(graph);
  for (const bn of graph.layers) {
    if (bn.className !== 'BatchNormalization' || bn.inbound.length !== 1 || bn.inbound[0]!.length !== 1) continue;
    const input = bn.inbound[0]![0]!;
    const producer = replaced.get(input.layer) ?? byName.get(input.layer);
    if (!producer || !FOLDABLE.has(producer.className) || producer.inbound.length !== 1) continue;
    const activation = producer.config['activation'];
    if (activation !== undefined && activation !== 'linear' && activation !== null) continue;
    if (readers.get(producer.name) !== 1 || !normalisesChannels(bn, producer)) continue;
    const folded = foldInto(producer, bn);
    if (folded === producer) continue;
    replaced.set(producer.name, folded);
    removed.set(bn.name, input);
  }
  if (removed.size === 0) return graph;
  const through = (r: TensorRef): TensorRef => removed.get(r.layer) ?? r;
  return {
    ...graph,
    layers: graph.layers
      .filter(l => !removed.has(l.name))
      .map(l => {
        const layer = replaced.get(l.name) ?? l;
        return {...layer, inbound: layer.inbound.map(node => node.map(through))};
      }),
    outputs: graph.outputs.map(through),
  };
}
