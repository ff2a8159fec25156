/** Keras' TimeDistributed wrapper in ONNX (Bidirectional, a recurrent wrapper, is in recurrent.ts). */
import type {GraphLayer} from '../../keras/graph.js';
import {NoOnnxTranslation, OnnxBuilder, type Value} from './builder.js';

/**
 * TimeDistributed(inner): the steps folded into the batch (`[batch · steps, ...]`), the inner
 * layer translated as usual on that (`translate`: layers.ts' translateLayer), and the steps
 * unfolded again.
 */
export function timeDistributed(
  b: OnnxBuilder,
  layer: GraphLayer,
  input: Value,
  translate: (b: OnnxBuilder, layer: GraphLayer, inputs: readonly Value[]) => Value
): Value {
  const inner = layer.config['layer'] as {class_name?: string; config?: Record<string, unknown>} | undefined;
  if (!inner?.class_name || !inner.config)
    throw new NoOnnxTranslation(`TimeDistributed '${layer.name}' without a layer`);
  if (inner.class_name === 'TimeDistributed' || inner.class_name === 'Bidirectional')
    throw new NoOnnxTranslation(`TimeDistributed '${layer.name}' around ${inner.class_name}`);
  const v = b.toKeras(input);
  const [steps, ...rest] = v.shape as [number, ...number[]];
  const folded = b.op('Reshape', [v.name, b.ints(`${layer.name}/fold_shape`, [-1, ...rest])], `${layer.name}/fold`);
  const each = {...layer, name: `${layer.name}/inner`, className: inner.class_name, config: inner.config};
  const y = b.toKeras(translate(b, each, [{name: folded, shape: rest, storage: 'keras'}]));
  const out = b.op('Reshape', [y.name, b.ints(`${layer.name}/unfold_shape`, [-1, steps, ...y.shape])], layer.name);
  return {name: out, shape: [steps, ...y.shape], storage: 'keras'};
}
