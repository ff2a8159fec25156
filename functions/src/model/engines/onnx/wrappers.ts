/** Keras' wrappers in ONNX: TimeDistributed, and Bidirectional over recurrent.ts' ops. */
import type {GraphLayer} from '../../keras/graph.js';
import {attr, NoOnnxTranslation, OnnxBuilder, type Value} from './builder.js';
import {direction, run, sequence} from './recurrent.js';
import {maskedRecurrent} from './masking.js';

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

/**
 * Bidirectional(LSTM | GRU | SimpleRNN) as one ONNX op with `direction = bidirectional`. ONNX
 * keeps the reverse direction's outputs aligned with the input steps, which is what Keras
 * returns after reversing the backward layer's sequence back; Y_h's reverse entry is the state
 * after the first step, the backward layer's last output. Returns both directions batch-major,
 * `[batch, (steps,) 2, units]`, for the merge ({@link bidirectional}) or the pair
 * ({@link bidirectionalPair}).
 */
function bothDirections(
  b: OnnxBuilder,
  layer: GraphLayer,
  input: Value
): {name: string; shape: number[]; units: number; axis: number} {
  const c = layer.config;
  const inner = c['layer'] as {class_name?: string; config?: Record<string, unknown>} | undefined;
  const backward = c['backward_layer'] as typeof inner;
  if (!inner?.class_name || !inner.config) throw new NoOnnxTranslation(`Bidirectional '${layer.name}' without a layer`);
  const v = sequence(b, layer, input);
  const half = layer.weights.length / 2;
  const part = (cfg: NonNullable<typeof inner>, weights: GraphLayer['weights'], side: string): GraphLayer => ({
    ...layer,
    name: `${layer.name}/${side}`,
    className: cfg.class_name!,
    config: cfg.config ?? {},
    weights,
  });
  const back = backward ?? inner;
  if (back.class_name !== inner.class_name || Number(back.config?.['units']) !== Number(inner.config['units']))
    throw new NoOnnxTranslation(`Bidirectional '${layer.name}' with a different backward layer`);
  if (inner.config['go_backwards'] === true)
    throw new NoOnnxTranslation(`Bidirectional '${layer.name}' (go_backwards)`);
  const forward = part(inner, layer.weights.slice(0, half), 'forward');
  const backwardLayer = part(back, layer.weights.slice(half), 'backward');
  if (input.mask) return maskedDirections(b, layer, input, forward, backwardLayer);
  const fwd = direction(forward, v.shape[1]!);
  const bwd = direction(backwardLayer, v.shape[1]!);
  if (fwd.resetAfter !== bwd.resetAfter)
    throw new NoOnnxTranslation(`Bidirectional '${layer.name}' (reset_after differs)`);
  const [y, yh] = run(b, layer.name, v, [fwd, bwd]);
  const sequences = inner.config['return_sequences'] === true;
  // Batch-major with the direction axis just before the units: [batch, (steps,) 2, units].
  const name = sequences
    ? b.op('Transpose', [y], `${layer.name}/batch_major`, [attr.ints('perm', [2, 0, 1, 3])])
    : b.op('Transpose', [yh], `${layer.name}/batch_major`, [attr.ints('perm', [1, 0, 2])]);
  const shape = sequences ? [v.shape[0]!] : [];
  return {name, shape, units: fwd.units, axis: shape.length + 1}; // axis: the direction's, with the batch
}

/**
 * Both directions over a masked sequence, each unrolled (onnx/masking.ts), the backward one
 * reading the steps last to first, side by side as {@link bothDirections} returns them. When
 * they return sequences, Keras' Bidirectional sets `zero_output_for_mask` on both (a masked
 * step's output is zero, where tfjs-layers keeps the state), and reverses the backward
 * sequence back into the input's order.
 */
function maskedDirections(
  b: OnnxBuilder,
  layer: GraphLayer,
  input: Value,
  forward: GraphLayer,
  backward: GraphLayer
): {name: string; shape: number[]; units: number; axis: number} {
  const sequences = forward.config['return_sequences'] === true;
  const as = (l: GraphLayer, back: boolean): GraphLayer => ({
    ...l,
    config: {...l.config, go_backwards: back, zero_output_for_mask: sequences},
  });
  const fwd = maskedRecurrent(b, as(forward, false), input);
  const computed = maskedRecurrent(b, as(backward, true), input).name;
  const bwd = sequences ? b.reverse(computed, 1, `${layer.name}/backward_in_order`) : computed;
  const axis = sequences ? 2 : 1; // the direction's, with the batch
  const sides = [fwd.name, bwd].map((v, i) =>
    b.op('Unsqueeze', [v, b.ints(`${layer.name}/side${i}_axis`, [axis])], `${layer.name}/side${i}`)
  );
  const name = b.op('Concat', sides, `${layer.name}/both`, [attr.int('axis', axis)]);
  return {name, shape: sequences ? [fwd.shape[0]!] : [], units: Number(forward.config['units']), axis};
}

/** Bidirectional with merge mode concat (forward, then backward), sum, mul or ave. */
export function bidirectional(b: OnnxBuilder, layer: GraphLayer, input: Value): Value {
  const mode = layer.config['merge_mode'] === undefined ? 'concat' : layer.config['merge_mode'];
  if (!['concat', 'sum', 'mul', 'ave'].includes(String(mode)))
    throw new NoOnnxTranslation(`Bidirectional '${layer.name}' (merge_mode ${String(mode)})`);
  const {name: t, shape, units, axis} = bothDirections(b, layer, input);
  const mask = passedMask(input, shape);
  if (mode === 'concat') {
    const out = b.op('Reshape', [t, b.ints(`${layer.name}/concat_shape`, [-1, ...shape, 2 * units])], layer.name);
    return {name: out, shape: [...shape, 2 * units], storage: 'keras', ...mask};
  }
  const keep = [attr.int('keepdims', 0)];
  const out =
    mode === 'sum'
      ? b.op('ReduceSum', [t, b.ints(`${layer.name}/axes`, [axis])], layer.name, keep)
      : b.op(mode === 'mul' ? 'ReduceProd' : 'ReduceMean', [t], layer.name, [attr.ints('axes', [axis]), ...keep]);
  return {name: out, shape: [...shape, units], storage: 'keras', ...mask};
}

/** A masked input's mask, for a Bidirectional that returns sequences (Keras passes it on). */
function passedMask(input: Value, shape: readonly number[]): {mask?: string} {
  return input.mask && shape.length > 0 ? {mask: input.mask} : {};
}

/** Bidirectional with `merge_mode=None`: the forward and the backward output, Keras' two outputs. */
export function bidirectionalPair(b: OnnxBuilder, layer: GraphLayer, input: Value): [Value, Value] {
  const {name: t, shape, units, axis} = bothDirections(b, layer, input);
  const side = (i: number, hint: string): Value => ({
    name: b.op('Gather', [t, b.ints(`${layer.name}/${hint}_index`, [i], [])], `${layer.name}/${hint}`, [
      attr.int('axis', axis),
    ]),
    shape: [...shape, units],
    storage: 'keras',
    ...passedMask(input, shape),
  });
  return [side(0, 'forward'), side(1, 'backward')];
}
