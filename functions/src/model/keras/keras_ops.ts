/**
 * Keras 3's keras.ops calls in a functional model, as layers both engines run (op_layers.ts
 * says how and why for the arithmetic ones). Every other op is refused, naming it.
 */
import type {LayerEntry} from './config.js';
import {layerName, type LayerRule} from './layer_substitutions.js';
import {channelIndex, gatherChannels} from './channel_order.js';
import {become, operand, spatialReduction, tensorAndNumber, tensorsOf, translate, type Op} from './op_layers.js';

/** Keras 3's op classes (keras.src.ops.numpy) this translates. */
const KERAS_OPS: Readonly<Record<string, Op>> = {
  Add: 'add',
  Subtract: 'sub',
  Multiply: 'mul',
  TrueDivide: 'div',
  Divide: 'div',
};

/**
 * Activation functions called as ops, as the Activation layer of that Keras name (the layer
 * rules after this one then treat them as any Activation layer: Keras 3's hard_sigmoid is
 * relu6(x + 3) / 6, silu is tfjs' swish). Only without keyword arguments: ops.gelu's default
 * is the tanh approximation, which Activation('gelu') is not, and ops.elu may carry an alpha.
 */
const KERAS_ACTIVATION_OPS: Readonly<Record<string, string>> = {
  Relu: 'relu',
  Relu6: 'relu6',
  Sigmoid: 'sigmoid',
  Tanh: 'tanh',
  Softplus: 'softplus',
  Softsign: 'softsign',
  Silu: 'silu',
  Selu: 'selu',
  HardSigmoid: 'hard_sigmoid',
  HardSilu: 'hard_silu',
};

/** The node of a Keras 3 op call: its positional and keyword arguments. */
function callOf(layer: LayerEntry): {args: unknown[]; kwargs: Record<string, unknown>} | null {
  const nodes = layer.inbound_nodes;
  if (!Array.isArray(nodes) || nodes.length !== 1 || Array.isArray(nodes[0])) return null;
  const node = nodes[0] as {args?: unknown[]; kwargs?: Record<string, unknown>};
  return {args: node.args ?? [], kwargs: node.kwargs ?? {}};
}

/**
 * Keras 3's keras.ops calls (see the module comment): the arithmetic ones, `concatenate` and
 * `softmax` (ops.concatenate's default axis is 0, the batch axis, where the layer's is −1),
 * `maximum`/`minimum` of two tensors, `maximum(x, 0)` (a ReLU), `identity`, and the channel
 * indexing and stack of preprocess_input's caffe mode (channel_order.ts).
 *
 * An op function passes its options to the op's constructor (`ops.concatenate(xs, axis)` is
 * `Concatenate(axis=axis)(xs)`), and Keras saves them in the op's config, defaults included
 * (keras/src/ops/operation.py): they are read there first, then as call arguments.
 *
 * Any other op is refused, naming it: some share a merge layer's class name (ops.average
 * reduces over an axis, where the Average layer averages its inputs), so one read as that
 * layer would answer wrongly.
 */
export const kerasOps: LayerRule = (layer, ctx) => {
  const module = layer['keras_op'];
  const call = callOf(layer);
  const op = KERAS_OPS[layer.class_name];
  // Without a module (an older writer), the arithmetic classes still show as ops by their two
  // positional arguments: a merge layer is called on one list.
  if (module === undefined && !(op && call?.args.length === 2)) return;
  delete layer['keras_op'];
  const name = layerName(layer);
  const refuse = (why: string): void => {
    ctx.unsupported.push(
      `${layer.class_name} '${name}' (the keras.ops call ${String(module ?? 'op')}.${layer.class_name}: ${why})`
    );
  };
  if (!call) return refuse('no call node');
  const {args, kwargs} = call;
  const option = (key: string, position: number): unknown => layer.config[key] ?? kwargs[key] ?? args[position];
  const operands = args.map(operand);
  if (op && args.length === 2) {
    const [a, b] = operands;
    if (!a || !b) return refuse('operands other than tensors and numbers');
    return translate(layer, ctx, `the ${layer.class_name.toLowerCase()} op`, op, a, b);
  }
  const activation = KERAS_ACTIVATION_OPS[layer.class_name];
  if (activation) {
    const x = args.length === 1 ? tensorsOf(args) : null;
    if (!x || Object.keys(kwargs).length > 0) return refuse('arguments other than one tensor');
    return become(layer, 'Activation', {activation}, x);
  }
  if (layer.class_name === 'Gelu') {
    const x = args.length === 1 ? tensorsOf(args) : null;
    if (!x || option('approximate', 1) !== false)
      return refuse("the tanh approximation (approximate=True, the op's default)");
    return become(layer, 'Activation', {activation: 'gelu'}, x);
  }
  if (layer.class_name === 'Mean' || layer.class_name === 'Max') {
    const x = tensorsOf(args.slice(0, 1));
    const pooling = spatialReduction(
      layer.class_name === 'Mean' ? 'mean' : 'max',
      option('axis', 1),
      option('keepdims', 2)
    );
    if (!x || !pooling) return refuse('only a mean or max over axes [1, 2], the spatial ones, is a pooling');
    if ((option('initial', 3) ?? null) !== null) return refuse('a max with an initial value');
    return become(layer, pooling.className, pooling.options, x);
  }
  switch (layer.class_name) {
    case 'Concatenate': {
      // ops.concatenate(xs, axis=0)
      const inputs = args.length <= 2 ? tensorsOf(args[0]) : null;
      const axis = Number(option('axis', 1) ?? 0);
      if (!inputs) return refuse('operands other than tensors');
      if (axis === 0) return refuse('along axis 0, the batch axis');
      return become(layer, 'Concatenate', {axis}, inputs);
    }
    case 'Softmax': {
      // ops.softmax(x, axis=-1); its axis None (Keras 3.0) is −1 too.
      const x = args.length <= 2 ? tensorsOf(args.slice(0, 1)) : null;
      const axis = option('axis', 1) ?? -1;
      if (!x) return refuse('an operand other than one tensor');
      if (typeof axis !== 'number') return refuse(`over axes ${JSON.stringify(axis)}: one axis only`);
      return become(layer, 'Softmax', {axis}, x);
    }
    case 'Maximum':
    case 'Minimum': {
      const [a, b] = operands;
      const both = args.length === 2 ? tensorsOf(args) : null;
      if (both) return become(layer, layer.class_name, {}, both);
      const tn = a && b ? tensorAndNumber(a, b) : null;
      if (layer.class_name === 'Maximum' && tn?.c.length === 1 && tn.c[0] === 0)
        return become(layer, 'ReLU', {}, [tn.x]);
      return refuse('operands other than two tensors, or a tensor and 0');
    }
    case 'GetItem': {
      // x[..., i] and x[..., ::-1] (channel_order.ts): preprocess_input's caffe mode.
      const x = tensorsOf(args.slice(0, 1));
      const ix = args.length === 2 ? channelIndex(args[1]) : null;
      if (!x || !ix) return refuse(`x[${JSON.stringify(args[1])}]: only x[..., i] and x[..., ::-1] are read`);
      return gatherChannels(layer, ix, x[0]!);
    }
    case 'Stack': {
      // ops.stack(xs, axis=0): on a new last axis only (caffe mode's BGR stack).
      const inputs = args.length === 1 ? tensorsOf(args[0]) : null;
      const axis = option('axis', 1) ?? 0;
      if (!inputs) return refuse('operands other than tensors');
      if (axis !== -1) return refuse(`along axis ${JSON.stringify(axis)}: only a new last axis (-1) is read`);
      return become(layer, 'StackChannels', {}, inputs);
    }
    case 'Identity': {
      const x = args.length === 1 ? tensorsOf(args) : null;
      if (!x) return refuse('an operand other than a tensor');
      return become(layer, 'Activation', {activation: 'linear'}, x);
    }
    default:
      return refuse('no layer here computes it');
  }
};
