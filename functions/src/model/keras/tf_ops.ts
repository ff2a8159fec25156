/**
 * tf.keras 2's TFOpLambda layers of arithmetic, activation, softmax, spatial mean/max and
 * bias_add functions, as layers both engines run (op_layers.ts says how and why for the
 * arithmetic). Every other raw TensorFlow op stays refused.
 */
import {layerName, type LayerRule} from './layer_substitutions.js';
import {become, operand, spatialReduction, tfOpCall, translate, type Op} from './op_layers.js';

/** tf.keras 2's TFOpLambda functions this translates. */
const TF_FUNCTIONS: Readonly<Record<string, Op>> = {
  '__operators__.add': 'add',
  'math.add': 'add',
  'math.subtract': 'sub',
  'math.multiply': 'mul',
  'math.truediv': 'div',
  'math.divide': 'div',
};

/** tf.keras 2's TFOpLambda activation functions, as above (tf.nn.gelu is exact by default). */
const TF_ACTIVATIONS: Readonly<Record<string, string>> = {
  'nn.relu': 'relu',
  'nn.relu6': 'relu6',
  'math.sigmoid': 'sigmoid',
  'nn.sigmoid': 'sigmoid',
  'math.tanh': 'tanh',
  'nn.tanh': 'tanh',
  'nn.silu': 'silu',
  'nn.swish': 'silu',
  'math.softplus': 'softplus',
  'nn.softplus': 'softplus',
  'nn.selu': 'selu',
  'nn.elu': 'elu',
};

/** tf.keras 2's TFOpLambda layers this reads (see the module comment); any other stays refused by name. */
export const tfOpLambdas: LayerRule = (layer, ctx) => {
  if (layer.class_name !== 'TFOpLambda') return;
  const fn = String(layer.config['function'] ?? '');
  const op = TF_FUNCTIONS[fn];
  const {node, x, kwargs} = tfOpCall(layer);
  const activation = fn === 'nn.gelu' && kwargs['approximate'] !== true ? 'gelu' : TF_ACTIVATIONS[fn];
  if ((fn === 'nn.softmax' || fn === 'math.softmax') && x) {
    // tf.nn.softmax(logits, axis=None): None is the last axis.
    const axis = kwargs['axis'] ?? -1;
    if (typeof axis === 'number') return become(layer, 'Softmax', {axis}, [x]);
  }
  if (activation && x) {
    const extra = Object.keys(kwargs).filter(k => k !== 'name' && k !== 'approximate' && kwargs[k] !== null);
    if (extra.length === 0) return become(layer, 'Activation', {activation}, [x]);
    ctx.unsupported.push(`TFOpLambda '${layerName(layer)}' (tf.${fn} with arguments ${extra.join(', ')})`);
    return;
  }
  if ((fn === 'math.reduce_mean' || fn === 'math.reduce_max') && x) {
    const pooling = spatialReduction(fn.endsWith('mean') ? 'mean' : 'max', kwargs['axis'], kwargs['keepdims']);
    if (pooling) return become(layer, pooling.className, pooling.options, [x]);
    ctx.unsupported.push(
      `TFOpLambda '${layerName(layer)}' (tf.${fn} over axis ${JSON.stringify(kwargs['axis'] ?? null)}: only [1, 2], the spatial axes, is a pooling)`
    );
    return;
  }
  if (fn === 'nn.bias_add' && x) {
    // preprocess_input's torch and caffe modes add the negated mean per channel this way.
    const bias = operand(kwargs['bias']);
    const format = kwargs['data_format'] ?? 'NHWC';
    if (bias && 'value' in bias && (format === 'NHWC' || format === 'N...C'))
      return translate(layer, ctx, `tf.${fn}`, 'add', {ref: x}, bias);
    ctx.unsupported.push(`TFOpLambda '${layerName(layer)}' (tf.${fn} of a bias other than constants on the last axis)`);
    return;
  }
  if (!op) return; // refused by name, as every other raw TensorFlow op
  const extra = Object.keys(kwargs).filter(k => k !== 'y' && k !== 'name' && kwargs[k] !== null);
  // A number as the first argument is written ['_CONSTANT_VALUE', -1, value, kwargs].
  const a = node?.[0] === '_CONSTANT_VALUE' ? operand(node[2]) : x ? {ref: x} : null;
  const b = operand(kwargs['y']);
  const what = `tf.${fn}`;
  if (!a || !b || extra.length > 0) {
    const why = extra.length > 0 ? `arguments ${extra.join(', ')}` : 'operands other than a layer output and a number';
    ctx.unsupported.push(`TFOpLambda '${layerName(layer)}' (${what} with ${why})`);
    return;
  }
  translate(layer, ctx, what, op, a, b);
};
