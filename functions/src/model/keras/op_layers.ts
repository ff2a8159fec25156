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
/** One operand: a layer's output or a number. */
export type Operand = {ref: Ref} | {value: number};

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
export function tensorAndNumber(a: Operand, b: Operand): {x: Ref; c: number; tensorFirst: boolean} | null {
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

/** Whether a serialised value is a reference to a layer's output. */
export const isRef = (v: unknown): v is Ref =>
  Array.isArray(v) && v.length >= 3 && typeof v[0] === 'string' && typeof v[1] === 'number';

/** A serialised operand, if it is one this translates: a reference or a finite number. */
export function operand(v: unknown): Operand | null {
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
export function tensorsOf(list: unknown): Ref[] | null {
  const refs = (Array.isArray(list) ? list : []).map(operand).map(o => (o && 'ref' in o ? o.ref : null));
  return refs.length > 0 && refs.every(r => r) ? (refs as Ref[]) : null;
}
