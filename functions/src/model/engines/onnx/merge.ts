/**
 * Keras' merge layers as ONNX ops: Add, Subtract, Multiply, Average, Maximum, Minimum and
 * Concatenate, with Keras' rule for inputs of different ranks.
 */
import type {GraphLayer} from '../../keras/graph.js';
import {attr, NoOnnxTranslation, OnnxBuilder, range, type Value} from './builder.js';

/** Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate. */
export function merge(b: OnnxBuilder, layer: GraphLayer, inputs: readonly Value[]): Value {
  // Keep channels-first storage when any input has it and the ranks agree (squeeze-and-excite
  // multiplies [H, W, C] by [1, 1, C]: transposing the small one is cheaper than the big one).
  const rank = Math.max(...inputs.map(v => v.shape.length));
  const cf = rank >= 2 && inputs.some(v => v.storage === 'cf') && inputs.every(v => v.shape.length === rank);
  // Keras' rule for inputs of different ranks (its merge layers expand each at axis 1): unit
  // axes after the batch axis, so [N, C] meets [N, H, W, C] as [N, 1, 1, C]. ONNX's own
  // broadcasting aligns the batch axis too, and would set N against W.
  const vs = inputs.map((v, i) => {
    const k = cf ? b.toChannelsFirst(v) : b.toKeras(v);
    if (k.shape.length === rank) return k;
    const units = range(1, rank - k.shape.length + 1);
    const name = b.op('Unsqueeze', [k.name, b.ints(`${layer.name}/${i}/axes`, units)], `${layer.name}/${i}/lifted`);
    return {...k, name, shape: [...units.map(() => 1), ...k.shape]};
  });
  const names = vs.map(v => v.name);
  const storage = cf ? 'cf' : 'keras';
  if (layer.className === 'Concatenate') {
    const axis = Number(layer.config['axis'] ?? -1);
    const logical = axis < 0 ? axis + rank + 1 : axis;
    const shape = [...vs[0]!.shape];
    shape[logical - 1] = vs.reduce((sum, v) => sum + v.shape[logical - 1]!, 0);
    return {
      name: b.op('Concat', names, layer.name, [attr.int('axis', b.storageAxis(vs[0]!, logical))]),
      shape,
      storage,
    };
  }
  const shape = vs[0]!.shape.map((_, i) => Math.max(...vs.map(v => v.shape[i] ?? 1)));
  const op = {Add: 'Sum', Subtract: 'Sub', Multiply: 'Mul', Average: 'Mean', Maximum: 'Max', Minimum: 'Min'}[
    layer.className
  ];
  if (!op) throw new NoOnnxTranslation(`merge layer ${layer.className}`);
  let y = names[0]!;
  if (op === 'Sub' || op === 'Mul') names.slice(1).forEach((n, i) => (y = b.op(op, [y, n], `${layer.name}/${i}`)));
  else y = b.op(op, names, layer.name);
  return {name: y, shape, storage};
}
