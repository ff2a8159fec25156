/**
 * Weights for the BatchNormalization layers that stand for ConvNeXt's LayerScale
 * (layer_substitutions.ts rewrites the class). LayerScale computes `y = gamma · x` per
 * channel; a BatchNormalization computes `gamma (x − moving_mean) / √(moving_variance + ε) + beta`,
 * which with moving_mean = 0, moving_variance = 1, ε = 0 and beta = 0 is exactly that (√1 is
 * 1, and dividing by 1 is exact in float32).
 */
import {WeightMismatchError} from '../../core/errors.js';
import type {GraphLayer, KerasGraph} from './graph.js';
import type {StoredWeight} from './h5_reader.js';

/** The layer with its four BatchNormalization weights, `gamma` the one LayerScale stored. */
function asBatchNorm(layer: GraphLayer, channels: number): GraphLayer {
  const [gamma, ...rest] = layer.weights;
  if (!gamma || rest.length > 0 || gamma.values.length !== channels) {
    const stored = layer.weights.map(w => `[${w.shape.join(', ')}]`).join(', ') || 'none';
    throw new WeightMismatchError(
      `LayerScale '${layer.name}' stores ${stored}; it needs one gamma of its ${channels} channels (projection_dim)`
    );
  }
  const w = (role: string, values: Float32Array): StoredWeight => ({
    name: `${layer.name}/${role}`,
    shape: [channels],
    values,
  });
  const {layer_scale: _, ...config} = layer.config;
  return {
    ...layer,
    config,
    weights: [
      w('gamma', Float32Array.from(gamma.values)),
      w('beta', new Float32Array(channels)),
      w('moving_mean', new Float32Array(channels)),
      w('moving_variance', new Float32Array(channels).fill(1)),
    ],
  };
}

/** The graph with every LayerScale-born BatchNormalization given its weights. */
export function layerScaleWeights(graph: KerasGraph): KerasGraph {
  if (!graph.layers.some(l => l.config['layer_scale'] !== undefined)) return graph;
  return {
    ...graph,
    layers: graph.layers.map(l =>
      l.config['layer_scale'] !== undefined ? asBatchNorm(l, Number(l.config['layer_scale'])) : l
    ),
  };
}
