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
 *
 * This file holds what both readers share; the rules are tf_ops.ts' (tf.keras 2) and
 * keras_ops.ts' (Keras 3, with its other ops: activations, concatenate, softmax, …).
 */
import type {LayerEntry} from './config.js';
import {layerName, rewrite, type Context} from './layer_substitutions.js';

/** An arithmetic op: +, −, ×, ÷. */
export type Op = 'add' | 'sub' | 'mul' | 'div';

const MERGE: Readonly<Record<Op, string | null>> = {add: 'Add', sub: 'Subtract', mul: 'Multiply', div: null};

/** A reference to a layer's output, as a node entry lists it. */
export type Ref = [string, number, number];
/**
 * One operand: a layer's output, or a constant: one number, or one per channel (the last
 * axis, as NumPy broadcasts a `[C]` or `[1, …, 1, C]` array; preprocess_input's torch mode
 * subtracts the ImageNet mean and divides by the std per channel this way).
 */
export type Operand = {ref: Ref} | {value: number[]};

/** A Rescaling parameter: one number, or one per channel. */
const param = (values: number[]): number | number[] => (values.length === 1 ? values[0]! : values);

/** `x op c` or `c op x` as Keras' Rescaling (scale, offset); null where it is not affine in x. */
function affine(op: Op, c: number[], tensorFirst: boolean): Record<string, unknown> | null {
  const zeros = c.map(() => 0);
  const ones = c.map(() => 1);
  switch (op) {
    case 'add':
      return {scale: param(ones), offset: param(c)};
    case 'mul':
      return {scale: param(c), offset: param(zeros)};
    case 'sub':
      return tensorFirst
        ? {scale: param(ones), offset: param(c.map(v => -v))}
        : {scale: param(c.map(() => -1)), offset: param(c)};
    case 'div':
      return tensorFirst && c.every(v => v !== 0) ? {scale: param(c.map(v => 1 / v)), offset: param(zeros)} : null;
  }
}

/** Makes `layer` a `className` layer with `options`, called on `inputs`. */
export function become(
  layer: LayerEntry,
  className: string,
  options: Record<string, unknown>,
  inputs: readonly Ref[]
): void {
  rewrite(layer, className, options);
  layer.inbound_nodes = [inputs.map(r => [...r, {}])];
}

/** Two operands as a tensor and a number, either way round; null if they are not that. */
export function tensorAndNumber(a: Operand, b: Operand): {x: Ref; c: number[]; tensorFirst: boolean} | null {
  if ('ref' in a && 'value' in b) return {x: a.ref, c: b.value, tensorFirst: true};
  if ('value' in a && 'ref' in b) return {x: b.ref, c: a.value, tensorFirst: false};
  return null;
}

/** Rewrites `layer` as the layer computing `a op b`, or says why it cannot. */
export function translate(layer: LayerEntry, ctx: Context, what: string, op: Op, a: Operand, b: Operand): void {
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

/**
 * A mean or max over the two spatial axes of a channels-last image (`axis=[1, 2]`, as custom
 * squeeze-and-excite blocks write `tf.reduce_mean(x, axis=[1, 2], keepdims=True)`) as the
 * global pooling layer it is; null for any other axes.
 */
export function spatialReduction(
  kind: 'mean' | 'max',
  axis: unknown,
  keepdims: unknown
): {className: string; options: Record<string, unknown>} | null {
  if (!Array.isArray(axis) || axis.length !== 2 || axis[0] !== 1 || axis[1] !== 2) return null;
  return {
    className: kind === 'mean' ? 'GlobalAveragePooling2D' : 'GlobalMaxPooling2D',
    options: {data_format: 'channels_last', keepdims: keepdims === true},
  };
}

/**
 * The one call of a tf.keras 2 op layer (TFOpLambda, SlicingOpLambda). Its node is the first
 * argument itself, `[layer, node, tensor, kwargs]` (`['_CONSTANT_VALUE', -1, value, kwargs]`
 * for a number), the other arguments in `kwargs`; `x` is that first argument where it is a
 * layer's output.
 */
export function tfOpCall(layer: LayerEntry): {node: unknown[] | null; x: Ref | null; kwargs: Record<string, unknown>} {
  const nodes = layer.inbound_nodes as unknown[] | undefined;
  const node = nodes?.length === 1 ? (nodes[0] as unknown[]) : null;
  const x: Ref | null = node && isRef(node) ? [node[0], Number(node[1]), Number(node[2])] : null;
  return {node, x, kwargs: (node?.[3] ?? {}) as Record<string, unknown>};
}

/** Whether a serialised value is a reference to a layer's output. */
export const isRef = (v: unknown): v is Ref =>
  Array.isArray(v) && v.length >= 3 && typeof v[0] === 'string' && typeof v[1] === 'number';

/**
 * A constant's values along the last axis: a finite number, or a list of them nested only in
 * lists of one (`[[[[a, b, c]]]]` broadcasts as `[a, b, c]`); null for anything else.
 */
export function constant(v: unknown): number[] | null {
  if (typeof v === 'number') return Number.isFinite(v) ? [v] : null;
  if (!Array.isArray(v) || v.length === 0) return null;
  if (v.every(e => typeof e === 'number' && Number.isFinite(e))) return v as number[];
  return v.length === 1 ? constant(v[0]) : null;
}

/** A serialised operand, if it is one this translates: a reference or a constant. */
export function operand(v: unknown): Operand | null {
  if (isRef(v)) return {ref: [v[0], Number(v[1]), Number(v[2])]};
  const t = v as {class_name?: string; config?: {keras_history?: unknown; value?: unknown}} | null;
  if (t?.class_name === '__keras_tensor__' && isRef(t.config?.keras_history)) {
    const [name, node, index] = t.config.keras_history;
    return {ref: [name, node, index]};
  }
  // Keras 3 writes a NumPy array or a backend tensor as {class_name: '__numpy__' | '__tensor__', config: {value}}.
  const raw = t?.class_name === '__numpy__' || t?.class_name === '__tensor__' ? t.config?.value : v;
  const value = constant(raw);
  return value ? {value} : null;
}

/** A list of serialised operands as layer outputs; null unless every one is. */
export function tensorsOf(list: unknown): Ref[] | null {
  const refs = (Array.isArray(list) ? list : []).map(operand).map(o => (o && 'ref' in o ? o.ref : null));
  return refs.length > 0 && refs.every(r => r) ? (refs as Ref[]) : null;
}
