/**
 * Arithmetic written in a functional model with Python operators or tf/keras ops rather than
 * layers, as layers both engines run. This is how TensorFlow's transfer-learning tutorial
 * saves its model: `x = preprocess_input(inputs)` (x / 127.5 − 1) inside the model.
 * - tf.keras 2 saves each op as a `TFOpLambda` naming the TensorFlow function
 *   (`math.truediv`, `math.subtract`, `__operators__.add`, …); its one inbound node is the
 *   first argument itself, `[layer, node, tensor, {y: …, name: …}]` (a number there is
 *   `['_CONSTANT_VALUE', -1, value, …]`), the second in the kwargs (a Keras tensor as
 *   `[layer, node, tensor]`, or a number).
 * - Keras 3 saves each op as its own class (`Add`, `Subtract`, `Multiply`, `TrueDivide`,
 *   `Divide`: the merge layers' names, but called on two positional arguments, not on one
 *   list), a number argument as it is.
 *
 * A tensor and a number become a Rescaling, `x · scale + offset` (x / c as x · (1/c): within
 * one float32 rounding); two tensors become the merge layer (division of two tensors has
 * none, and stays refused). Before this, a Keras 3 op with a number lost the number: ONNX
 * Runtime served `x + 2` as `x`. Keras 3's other ops are in {@link kerasOps}.
 */
import type {LayerEntry} from './config.js';
import {layerName, rewrite, type Context, type LayerRule} from './layer_substitutions.js';

type Op = 'add' | 'sub' | 'mul' | 'div';

/** tf.keras 2's TFOpLambda functions this translates. */
const TF_FUNCTIONS: Readonly<Record<string, Op>> = {
  '__operators__.add': 'add',
  'math.add': 'add',
  'math.subtract': 'sub',
  'math.multiply': 'mul',
  'math.truediv': 'div',
  'math.divide': 'div',
};

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

const MERGE: Readonly<Record<Op, string | null>> = {add: 'Add', sub: 'Subtract', mul: 'Multiply', div: null};

/** A reference to a layer's output, as a node entry lists it. */
type Ref = [string, number, number];
/** One operand: a layer's output or a number. */
type Operand = {ref: Ref} | {value: number};

/** `x op c` or `c op x` as Keras' Rescaling (scale, offset); null where it is not affine in x. */
function affine(op: Op, c: number, tensorFirst: boolean): {scale: number; offset: number} | null {
  switch (op) {
    case 'add':
      return {scale: 1, offset: c};
    case 'mul':
      return {scale: c, offset: 0};
    case 'sub':
      return tensorFirst ? {scale: 1, offset: -c} : {scale: -1, offset: c};
    case 'div':
      return tensorFirst && c !== 0 ? {scale: 1 / c, offset: 0} : null;
  }
}

/** Makes `layer` a `className` layer with `options`, called on `inputs`. */
function become(layer: LayerEntry, className: string, options: Record<string, unknown>, inputs: readonly Ref[]): void {
  rewrite(layer, className, options);
  layer.inbound_nodes = [inputs.map(r => [...r, {}])];
}

/** Two operands as a tensor and a number, either way round; null if they are not that. */
function tensorAndNumber(a: Operand, b: Operand): {x: Ref; c: number; tensorFirst: boolean} | null {
  if ('ref' in a && 'value' in b) return {x: a.ref, c: b.value, tensorFirst: true};
  if ('value' in a && 'ref' in b) return {x: b.ref, c: a.value, tensorFirst: false};
  return null;
}

/** Rewrites `layer` as the layer computing `a op b`, or says why it cannot. */
function translate(layer: LayerEntry, ctx: Context, what: string, op: Op, a: Operand, b: Operand): void {
  const refuse = (why: string): void => {
    ctx.unsupported.push(`${layer.class_name} '${layerName(layer)}' (${what}: ${why})`);
  };
  if ('ref' in a && 'ref' in b) {
    const merge = MERGE[op];
    if (!merge) return refuse('a division of two tensors, which no Keras layer computes');
    return become(layer, merge, {}, [a.ref, b.ref]);
  }
  const tn = tensorAndNumber(a, b);
  if (!tn) return refuse('no operand is a layer output');
  const rescale = affine(op, tn.c, tn.tensorFirst);
  if (!rescale) return refuse('a number divided by a tensor');
  become(layer, 'Rescaling', rescale, [tn.x]);
}

const isRef = (v: unknown): v is Ref =>
  Array.isArray(v) && v.length >= 3 && typeof v[0] === 'string' && typeof v[1] === 'number';

/** A serialised operand, if it is one this translates: a reference or a finite number. */
function operand(v: unknown): Operand | null {
  if (typeof v === 'number' && Number.isFinite(v)) return {value: v};
  if (isRef(v)) return {ref: [v[0], Number(v[1]), Number(v[2])]};
  const t = v as {class_name?: string; config?: {keras_history?: unknown; value?: unknown}} | null;
  if (t?.class_name === '__keras_tensor__' && isRef(t.config?.keras_history)) {
    const [name, node, index] = t.config.keras_history;
    return {ref: [name, node, index]};
  }
  // Keras 3 writes a NumPy or backend scalar as {class_name: '__numpy__' | '__tensor__', config: {value}}.
  const value = t?.config?.value;
  if ((t?.class_name === '__numpy__' || t?.class_name === '__tensor__') && typeof value === 'number')
    return Number.isFinite(value) ? {value} : null;
  return null;
}

/** A list of serialised operands as layer outputs; null unless every one is. */
function tensorsOf(list: unknown): Ref[] | null {
  const refs = (Array.isArray(list) ? list : []).map(operand).map(o => (o && 'ref' in o ? o.ref : null));
  return refs.length > 0 && refs.every(r => r) ? (refs as Ref[]) : null;
}

/** tf.keras 2's TFOpLambda of an arithmetic or activation function (see the module comment). */
export const tfOpArithmetic: LayerRule = (layer, ctx) => {
  if (layer.class_name !== 'TFOpLambda') return;
  const fn = String(layer.config['function'] ?? '');
  const op = TF_FUNCTIONS[fn];
  const nodes = layer.inbound_nodes as unknown[] | undefined;
  const node = nodes?.length === 1 ? (nodes[0] as unknown[]) : null;
  const kwargs = (node?.[3] ?? {}) as Record<string, unknown>;
  const activation = fn === 'nn.gelu' && kwargs['approximate'] !== true ? 'gelu' : TF_ACTIVATIONS[fn];
  if ((fn === 'nn.softmax' || fn === 'math.softmax') && node && isRef(node)) {
    // tf.nn.softmax(logits, axis=None): None is the last axis.
    const axis = kwargs['axis'] ?? -1;
    if (typeof axis === 'number')
      return become(layer, 'Softmax', {axis}, [[node[0], Number(node[1]), Number(node[2])]]);
  }
  if (activation && node && isRef(node)) {
    const extra = Object.keys(kwargs).filter(k => k !== 'name' && k !== 'approximate' && kwargs[k] !== null);
    if (extra.length === 0)
      return become(layer, 'Activation', {activation}, [[node[0], Number(node[1]), Number(node[2])]]);
    ctx.unsupported.push(`TFOpLambda '${layerName(layer)}' (tf.${fn} with arguments ${extra.join(', ')})`);
    return;
  }
  if (!op) return; // refused by name, as every other raw TensorFlow op
  const extra = Object.keys(kwargs).filter(k => k !== 'y' && k !== 'name' && kwargs[k] !== null);
  // A number as the first argument is written ['_CONSTANT_VALUE', -1, value, kwargs].
  const a = node?.[0] === '_CONSTANT_VALUE' ? operand(node[2]) : node && isRef(node) ? operand(node) : null;
  const b = operand(kwargs['y']);
  const what = `tf.${fn}`;
  if (!a || !b || extra.length > 0) {
    const why = extra.length > 0 ? `arguments ${extra.join(', ')}` : 'operands other than a layer output and a number';
    ctx.unsupported.push(`TFOpLambda '${layerName(layer)}' (${what} with ${why})`);
    return;
  }
  translate(layer, ctx, what, op, a, b);
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
 * `softmax` (their axis is a keyword argument, and ops.concatenate's default is 0, the batch
 * axis, where the layer's is −1), `maximum`/`minimum` of two tensors, `maximum(x, 0)` (a ReLU)
 * and `identity`. Any other op is refused, naming it: some share a merge layer's class name
 * (ops.average reduces over an axis, where the Average layer averages its inputs), so one
 * read as that layer would answer wrongly.
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
    if (!x || kwargs['approximate'] !== false)
      return refuse("the tanh approximation (approximate=True, the op's default)");
    return become(layer, 'Activation', {activation: 'gelu'}, x);
  }
  switch (layer.class_name) {
    case 'Concatenate': {
      const inputs = args.length === 1 ? tensorsOf(args[0]) : null;
      const axis = Number(kwargs['axis'] ?? 0);
      if (!inputs) return refuse('operands other than tensors');
      if (axis === 0) return refuse('along axis 0, the batch axis');
      return become(layer, 'Concatenate', {axis}, inputs);
    }
    case 'Softmax': {
      const x = args.length === 1 ? tensorsOf(args) : null;
      if (!x) return refuse('an operand other than one tensor');
      return become(layer, 'Softmax', {axis: Number(kwargs['axis'] ?? -1)}, x);
    }
    case 'Maximum':
    case 'Minimum': {
      const [a, b] = operands;
      const both = args.length === 2 ? tensorsOf(args) : null;
      if (both) return become(layer, layer.class_name, {}, both);
      const tn = a && b ? tensorAndNumber(a, b) : null;
      if (layer.class_name === 'Maximum' && tn?.c === 0) return become(layer, 'ReLU', {}, [tn.x]);
      return refuse('operands other than two tensors, or a tensor and 0');
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
