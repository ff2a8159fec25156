/**
 * Weights for the BatchNormalization layers that stand for Keras Normalization layers
 * (keras/config.ts rewrites the class). Keras computes
 *
 *   y = (x - mean) / max(√variance, 1e-7)          (invert: y = mean + x · max(√variance, 1e-7))
 *
 * with `mean` and `variance` from the layer's config or, after `adapt()`, from its weights
 * (`mean`, `variance`, and a `count` in tf.keras). A BatchNormalization computes
 * `gamma (x - moving_mean) / √(moving_variance + ε) + beta`; with moving_variance = 1 - ε
 * the divisor is 1, so gamma = 1 / std, moving_mean = mean, beta = 0 gives the same y
 * (invert: gamma = std, moving_mean = 0, beta = mean).
 */
import {InvalidConfigError, WeightMismatchError} from '../../core/errors.js';
import type {GraphLayer, KerasGraph} from './graph.js';
import type {StoredWeight} from './h5_reader.js';

/** Keras' `backend.epsilon()`: the floor of the standard deviation. */
const KERAS_EPSILON = 1e-7;

interface Declared {
  mean: unknown;
  variance: unknown;
  invert: boolean;
}

function values(value: unknown, what: string, layer: string): Float32Array {
  const flat = [value].flat(Infinity);
  if (!flat.every(v => typeof v === 'number'))
    throw new InvalidConfigError(`Normalization '${layer}': ${what} is not a list of numbers`);
  return Float32Array.from(flat as number[]);
}

/** The layer with its four BatchNormalization weights. */
function asBatchNorm(layer: GraphLayer, declared: Declared): GraphLayer {
  let mean: Float32Array;
  let variance: Float32Array;
  if (declared.mean !== null && declared.variance !== null) {
    mean = values(declared.mean, 'mean', layer.name);
    variance = values(declared.variance, 'variance', layer.name);
  } else {
    const [m, v] = layer.weights;
    if (!m || !v || layer.weights.length > 3)
      throw new WeightMismatchError(
        `Normalization '${layer.name}' has no mean and variance in its config and ${layer.weights.length} stored weights (mean, variance[, count] expected)`
      );
    mean = m.values;
    variance = v.values;
  }
  const n = Math.max(mean.length, variance.length);
  if ((mean.length !== n && mean.length !== 1) || (variance.length !== n && variance.length !== 1))
    throw new WeightMismatchError(
      `Normalization '${layer.name}': mean has ${mean.length} values, variance ${variance.length}`
    );
  const std = Float32Array.from({length: n}, (_, i) =>
    Math.max(Math.sqrt(variance[variance.length === 1 ? 0 : i]!), KERAS_EPSILON)
  );
  const at = (a: Float32Array, i: number) => a[a.length === 1 ? 0 : i]!;
  const epsilon = Number(layer.config['epsilon']);
  const w = (role: string, data: Float32Array): StoredWeight => ({
    name: `${layer.name}/${role}`,
    shape: [n],
    values: data,
  });
  const gamma = Float32Array.from({length: n}, (_, i) => (declared.invert ? std[i]! : 1 / std[i]!));
  const beta = Float32Array.from({length: n}, (_, i) => (declared.invert ? at(mean, i) : 0));
  const movingMean = Float32Array.from({length: n}, (_, i) => (declared.invert ? 0 : at(mean, i)));
  const movingVariance = new Float32Array(n).fill(1 - epsilon);
  const {normalization: _, ...config} = layer.config;
  return {
    ...layer,
    config,
    weights: [w('gamma', gamma), w('beta', beta), w('moving_mean', movingMean), w('moving_variance', movingVariance)],
  };
}

/** The graph with every Normalization-born BatchNormalization given its weights. */
export function normalizationWeights(graph: KerasGraph): KerasGraph {
  if (!graph.layers.some(l => l.config['normalization'])) return graph;
  return {
    ...graph,
    layers: graph.layers.map(l =>
      l.config['normalization'] ? asBatchNorm(l, l.config['normalization'] as Declared) : l
    ),
  };
}
