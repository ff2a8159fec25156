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
 * Runtime served `x + 2` as `x`.
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

/** Rewrites `layer` as the layer computing `a op b`, or says why it cannot. */
function translate(layer: LayerEntry, ctx: Context, what: string, op: Op, a: Operand, b: Operand): void {
  const refuse = (why: string): void => {
    ctx.unsupported.push(`${layer.class_name} '${layerName(layer)}' (${what}: ${why})`);
  };
  if ('ref' in a && 'ref' in b) {
    const merge = MERGE[op];
    if (!merge) return refuse('a division of two tensors, which no Keras layer computes');
    rewrite(layer, merge, {});
    layer.inbound_nodes = [
      [
        [...a.ref, {}],
        [...b.ref, {}],
      ],
    ];
    return;
  }
  const tensor = 'ref' in a ? a : 'ref' in b ? b : null;
  const value = 'value' in a ? a.value : 'value' in b ? b.value : NaN;
  if (!tensor) return refuse('no operand is a layer output');
  const rescale = affine(op, value, 'ref' in a);
  if (!rescale) return refuse('a number divided by a tensor');
  rewrite(layer, 'Rescaling', rescale);
  layer.inbound_nodes = [[[...tensor.ref, {}]]];
}

const isRef = (v: unknown): v is Ref =>
  Array.isArray(v) && v.length >= 3 && typeof v[0] === 'string' && typeof v[1] === 'number';

/** A serialised operand, if it is one this translates: a reference or a finite number. */
function operand(v: unknown): Operand | null {
  if (typeof v === 'number' && Number.isFinite(v)) return {value: v};
  if (isRef(v)) return {ref: [v[0], Number(v[1]), Number(v[2])]};
  const t = v as {class_name?: string; config?: {keras_history?: unknown}} | null;
  if (t?.class_name === '__keras_tensor__' && isRef(t.config?.keras_history)) {
    const [name, node, index] = t.config.keras_history;
    return {ref: [name, node, index]};
  }
  return null;
}

/** tf.keras 2's TFOpLambda of an arithmetic function (see the module comment). */
export const tfOpArithmetic: LayerRule = (layer, ctx) => {
  if (layer.class_name !== 'TFOpLambda') return;
  const fn = String(layer.config['function'] ?? '');
  const op = TF_FUNCTIONS[fn];
  if (!op) return; // refused by name, as every other raw TensorFlow op
  const nodes = layer.inbound_nodes as unknown[] | undefined;
  const node = nodes?.length === 1 ? (nodes[0] as unknown[]) : null;
  const kwargs = (node?.[3] ?? {}) as Record<string, unknown>;
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

/** Keras 3's arithmetic ops on two positional arguments (see the module comment). */
export const kerasArithmeticOps: LayerRule = (layer, ctx) => {
  const op = KERAS_OPS[layer.class_name];
  const nodes = layer.inbound_nodes;
  if (!op || !Array.isArray(nodes) || nodes.length !== 1 || Array.isArray(nodes[0])) return;
  const args = (nodes[0] as {args?: unknown[]}).args ?? [];
  // A merge layer is called on one list; the op on two arguments.
  if (args.length !== 2) return;
  const [a, b] = args.map(operand);
  if (!a || !b) {
    ctx.unsupported.push(
      `${layer.class_name} '${layerName(layer)}' (an op on operands other than tensors and numbers)`
    );
    return;
  }
  translate(layer, ctx, `the ${layer.class_name.toLowerCase()} op`, op, a, b);
};
