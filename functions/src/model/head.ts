/**
 * How a model's outputs become class scores. Keras classifiers end in one of these heads:
 *
 * - a softmax over K ≥ 2 units: the scores are the outputs (`probabilities`);
 * - K ≥ 2 units without one (logits, trained `from_logits`): softmax of them (`softmax`);
 * - K ≥ 2 sigmoid units (multi-label): each output is its class's probability (`sigmoid`);
 * - one sigmoid unit p (binary): two classes, [1 − p, p] (`binary`);
 * - one unit without an activation (Keras' binary head trained `from_logits`, as keras.io's
 *   "image classification from scratch" builds it): p = sigmoid(z), then [1 − p, p]
 *   (`binary_logit`).
 *
 * A binary model therefore has two classes, and takes a label file of two lines.
 */
import type {Scoring} from '../core/ports.js';
import {INFERENCE_IDENTITY, type KerasGraph} from './keras/graph.js';

/** Layers that leave the head's activation as it was (read through, towards the output). */
const PASS_THROUGH = new Set([...INFERENCE_IDENTITY, 'Flatten', 'Reshape']);

/** The activation the model's output comes out of (tfjs spelling, as the config translation leaves it). */
export function outputActivation(graph: KerasGraph): string {
  let ref = graph.outputs[0];
  for (let hops = 0; ref && hops < graph.layers.length; hops++) {
    const layer = graph.layers.find(l => l.name === ref!.layer);
    if (!layer) break;
    if (layer.className === 'Softmax') return 'softmax';
    if (layer.className === 'HardActivation') return layer.config['kind'] === 'hardsigmoid' ? 'hardSigmoid3' : 'other';
    if (!PASS_THROUGH.has(layer.className) || layer.inbound.length !== 1 || layer.inbound[0]!.length !== 1) {
      const activation = layer.config['activation'];
      return typeof activation === 'string' ? activation : 'linear';
    }
    ref = layer.inbound[0]![0];
  }
  return 'linear';
}

/** Whether a row is already a probability distribution (non-negative, summing to 1). */
export function isDistribution(row: ArrayLike<number>): boolean {
  let sum = 0;
  for (let i = 0; i < row.length; i++) {
    if (row[i]! < 0) return false;
    sum += row[i]!;
  }
  return Math.abs(sum - 1) < 1e-3;
}

/** The head's scoring, from its activation, its width and a warm-up output row. */
export function scoringOf(activation: string, width: number, probe: ArrayLike<number>): Scoring {
  const sigmoid = activation === 'sigmoid' || activation === 'hardSigmoid' || activation === 'hardSigmoid3';
  if (width === 1) {
    // Dense(1, softmax) always says 1.0 for its one class: served as the file says.
    if (activation === 'softmax') return 'probabilities';
    return sigmoid ? 'binary' : 'binary_logit';
  }
  if (sigmoid) return 'sigmoid';
  return isDistribution(probe) ? 'probabilities' : 'softmax';
}

/** How many classes a head of `width` outputs scores. */
export function classCount(width: number, scoring: Scoring): number {
  return scoring === 'binary' || scoring === 'binary_logit' ? 2 : width;
}

/** Softmax of one row, in place; subtracting the maximum keeps exp() finite. */
export function softmaxInPlace(row: Float32Array): void {
  let max = -Infinity;
  for (const v of row) if (v > max) max = v;
  let sum = 0;
  for (let i = 0; i < row.length; i++) {
    const e = Math.exp(row[i]! - max);
    row[i] = e;
    sum += e;
  }
  for (let i = 0; i < row.length; i++) row[i] = row[i]! / sum;
}

/** One image's raw outputs as class scores (may reuse `row`). */
export function classScores(row: Float32Array, scoring: Scoring): Float32Array {
  switch (scoring) {
    case 'softmax':
      softmaxInPlace(row);
      return row;
    case 'binary':
    case 'binary_logit': {
      const p = scoring === 'binary' ? row[0]! : 1 / (1 + Math.exp(-row[0]!));
      return Float32Array.of(1 - p, p);
    }
    default:
      return row;
  }
}
