/** The image input contract of a model, derived from its declared input shape. */
import {NotAClassifierError} from '../core/errors.js';
import type {InputContract} from '../core/ports.js';
import type {Scale} from '../core/scale.js';
import type {KerasGraph} from './keras/graph.js';

/**
 * `[batch, h, w, 3|1]` → NHWC; `[batch, 3|1, h, w]` → channels-first; `[batch, h, w]` →
 * greyscale; `[batch, n]` with n a square (× 1 or 3) → a flat image.
 *
 * @throws NotAClassifierError for unknown dimensions or a shape that is no image.
 */
export function inputContractFromShape(shape: readonly (number | null)[], scale: Scale): InputContract {
  const dims = shape.slice(1);
  if (dims.some(d => d === null || d <= 0)) {
    throw new NotAClassifierError(
      `model input shape [${shape.map(d => d ?? 'None').join(', ')}] has unknown dimensions; save the model with a fixed input size (e.g. input_shape=(224, 224, 3))`
    );
  }
  const d = dims as number[];
  if (d.length === 3) {
    const [a, b, c] = d as [number, number, number];
    if (c === 3 || c === 1) return {height: a, width: b, channels: c, layout: 'nhwc', scale};
    if (a === 3 || a === 1) return {height: b, width: c, channels: a, layout: 'nchw', scale};
  } else if (d.length === 2) {
    return {height: d[0]!, width: d[1]!, channels: 1, layout: 'hw', scale};
  } else if (d.length === 1) {
    const n = d[0]!;
    for (const channels of [1, 3]) {
      const side = Math.round(Math.sqrt(n / channels));
      if (side * side * channels === n) return {height: side, width: side, channels, layout: 'flat', scale};
    }
  }
  throw new NotAClassifierError(
    `model input shape [${shape.join(',')}] is not an image (expected [h, w, 3|1], [3|1, h, w], [h, w] or a flat square)`
  );
}

/**
 * The input contract of a classifier's graph: its one input layer's declared shape
 * (`batch_input_shape`) read by {@link inputContractFromShape}.
 *
 * @throws NotAClassifierError for a model with other than one input and one output, or an
 *   input without a shape or whose shape is not an image.
 */
export function graphContract(graph: KerasGraph, scale: Scale): InputContract {
  if (graph.inputs.length !== 1 || graph.outputs.length !== 1) {
    throw new NotAClassifierError(
      `model has ${graph.inputs.length} inputs and ${graph.outputs.length} outputs; an image classifier has one of each`
    );
  }
  const layer = graph.layers.find(l => l.name === graph.inputs[0]!.layer);
  const shape = layer?.config['batch_input_shape'];
  if (!Array.isArray(shape)) throw new NotAClassifierError(`model input '${graph.inputs[0]!.layer}' declares no shape`);
  return inputContractFromShape(shape as (number | null)[], scale);
}
