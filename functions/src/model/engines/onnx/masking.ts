/**
 * Keras' masks in ONNX. A Masking layer (or an Embedding with `mask_zero`) marks the steps of
 * a sequence that count; layers that work step by step pass the mark on ({@link PASSES_MASK},
 * tfjs-layers' `supportsMasking`), and a recurrent layer skips the unmarked steps: its state
 * and its output stay what they were (Keras' default `zero_output_for_mask=False`, which is
 * what tfjs-layers computes too), or, with `zero_output_for_mask` (which Keras' Bidirectional
 * sets on both its layers when they return sequences), its output there is zero.
 *
 * ONNX's recurrent ops can only leave out trailing steps (`sequence_lens`), and a mask may
 * mark any step, so a masked layer is unrolled: one op per step, seeded with the state so far,
 * and a `Where` that keeps the old state where the step is masked.
 */
import type {GraphLayer} from '../../keras/graph.js';
import {attr, NoOnnxTranslation, OnnxBuilder, type Value} from './builder.js';
import {direction, recurrentOp, sequence, stackedCells} from './recurrent.js';

/** Layers that pass a mask on unchanged (of those tfjs-layers marks `supportsMasking`, the step-by-step ones). */
export const PASSES_MASK = new Set([
  'Dropout',
  'SpatialDropout1D',
  'GaussianNoise',
  'GaussianDropout',
  'AlphaDropout',
  'Dense',
  'Activation',
  'ReLU',
  'PReLU',
  'BatchNormalization',
  'LayerNormalization',
]);

/** The translations layers.ts uses instead of its own where a layer's input carries a mask. */
export const MASKED_LAYERS: Readonly<Record<string, (b: OnnxBuilder, layer: GraphLayer, v: Value) => Value>> = {
  SimpleRNN: maskedRecurrent,
  GRU: maskedRecurrent,
  LSTM: maskedRecurrent,
  RNN: (b, layer, v) => stackedCells(b, layer, v, maskedRecurrent),
  GlobalAveragePooling1D: maskedAverage,
};

/** Layers that read a mask (those above, and Bidirectional, which unrolls its own) or make one. */
const READS_OR_MAKES_MASK = new Set([...Object.keys(MASKED_LAYERS), 'Bidirectional', 'Masking', 'Embedding']);

/** Layers whose result (or whose mask for the next layer) depends on a mask, not unrolled here. */
const MASK_MATTERS = new Set(['ConvLSTM2D']);

/**
 * Merges: their value ignores masks; their mask is the AND of their inputs' (Keras' compute_mask),
 * or, for a Concatenate along the steps, the masks concatenated.
 */
const MERGES = new Set(['Add', 'Subtract', 'Multiply', 'Average', 'Maximum', 'Minimum', 'Concatenate']);

/**
 * A layer call's outputs as the mask flows: a layer that passes the mask on keeps its input's,
 * and so does a TimeDistributed around a layer that does not read one; a merge's is the AND of
 * its inputs' or, along the steps, their concatenation (an input without one counts as all
 * steps kept); one that reads or makes a mask returns what it says; a layer whose result would
 * depend on the mask and that is not translated for it (ConvLSTM2D) is refused, and the model
 * goes to tfjs; any other layer (Flatten, Reshape, GlobalMaxPooling1D and Dot, whose values
 * Keras computes without the mask, …) drops the mask, as Keras and tfjs-layers do.
 */
export function maskFlow(
  b: OnnxBuilder,
  layer: GraphLayer,
  inputs: readonly Value[],
  outputs: readonly Value[]
): readonly Value[] {
  const cls = layer.className;
  if (READS_OR_MAKES_MASK.has(cls)) return outputs;
  const masks = [...new Set(inputs.flatMap(v => (v.mask ? [v.mask] : [])))];
  if (masks.length === 0) return outputs.map(({mask: _, ...v}) => v);
  if (MASK_MATTERS.has(cls)) throw new NoOnnxTranslation(`${cls} '${layer.name}' given a mask`);
  if (cls === 'TimeDistributed') {
    // Keras and tfjs-layers pass the mask on, and hand it to the inner layer only where that
    // layer reads one: those are refused; for any other the value is the unmasked one.
    const inner = (layer.config['layer'] as {class_name?: string} | undefined)?.class_name ?? '';
    if (READS_OR_MAKES_MASK.has(inner))
      throw new NoOnnxTranslation(`TimeDistributed '${layer.name}' around ${inner}, given a mask`);
    return outputs.map(v => ({...v, mask: masks[0]!}));
  }
  if (MERGES.has(cls)) {
    const axis = Number(layer.config['axis'] ?? -1);
    if (cls === 'Concatenate' && axis !== -1 && axis !== inputs[0]!.shape.length) {
      // Along the steps the masks are concatenated too, an input without one counting as all kept.
      if (inputs[0]!.shape.length !== 2 || (axis !== 1 && axis !== -2))
        throw new NoOnnxTranslation(`Concatenate '${layer.name}' along axis ${axis} of a masked value`);
      const parts = inputs.map((v, i) => v.mask ?? allKept(b, v, `${layer.name}/kept${i}`));
      const mask = b.op('Concat', parts, `${layer.name}/mask`, [attr.int('axis', 1)]);
      return outputs.map(v => ({...v, mask}));
    }
    const mask = masks.reduce((a, m, i) => b.op('And', [a, m], `${layer.name}/mask${i}`));
    return outputs.map(v => ({...v, mask}));
  }
  return outputs.map(({mask: _, ...v}) => (PASSES_MASK.has(cls) ? {...v, mask: masks[0]!} : v));
}

/** A mask keeping every step of `[steps, features]` value `v`: bool `[batch, steps]`, all true. */
function allKept(b: OnnxBuilder, v: Value, hint: string): string {
  const shape = b.op('Shape', [b.toKeras(v).name], `${hint}/shape`, [attr.int('start', 0), attr.int('end', 2)]);
  const zeros = b.op('ConstantOfShape', [shape], `${hint}/zeros`);
  return b.op('Equal', [zeros, b.floats(`${hint}/zero`, Float32Array.of(0), [])], hint);
}

/** Masking(mask_value): a step counts where any feature differs from the value; others become 0. */
export function masking(b: OnnxBuilder, layer: GraphLayer, input: Value): Value {
  const v = b.toKeras(input);
  if (v.shape.length !== 2)
    throw new NoOnnxTranslation(`Masking '${layer.name}' on a rank-${v.shape.length + 1} input`);
  const value = b.floats(`${layer.name}/mask_value`, Float32Array.of(Number(layer.config['mask_value'] ?? 0)), []);
  const differs = b.op('Not', [b.op('Equal', [v.name, value], `${layer.name}/equal`)], `${layer.name}/differs`);
  const asFloat = b.op('Cast', [differs], `${layer.name}/differs_float`, [attr.int('to', 1)]); // FLOAT
  const any = b.op('ReduceMax', [asFloat], `${layer.name}/any`, [attr.ints('axes', [2]), attr.int('keepdims', 1)]);
  const out = b.op('Mul', [v.name, any], layer.name);
  const steps = b.op('Squeeze', [any, b.ints(`${layer.name}/feature_axis`, [2])], `${layer.name}/steps`);
  const mask = b.op('Cast', [steps], `${layer.name}/mask`, [attr.int('to', 9)]); // BOOL
  return {name: out, shape: v.shape, storage: 'keras', mask};
}

/** Embedding's `mask_zero`: a step counts where its input is not 0 (tfjs-layers compares the value as given). */
export function zeroMask(b: OnnxBuilder, layer: GraphLayer, indices: Value): string {
  if (indices.shape.length !== 1)
    throw new NoOnnxTranslation(`Embedding '${layer.name}' (mask_zero on a rank-${indices.shape.length + 1} input)`);
  const zero = b.floats(`${layer.name}/zero`, Float32Array.of(0), []);
  return b.op('Not', [b.op('Equal', [indices.name, zero], `${layer.name}/is_zero`)], `${layer.name}/mask`);
}

/**
 * SimpleRNN, GRU or LSTM over a masked `[steps, features]` value, unrolled (see the module
 * comment). go_backwards reverses the steps and the mask first and returns the steps in the
 * order computed, as Keras does. A returned sequence keeps the mask.
 */
export function maskedRecurrent(b: OnnxBuilder, layer: GraphLayer, input: Value): Value {
  const c = layer.config;
  const v = sequence(b, layer, input);
  const [count, features] = v.shape as [number, number];
  const d = direction(layer, features);
  const name = layer.name;
  const {weights, attributes} = recurrentOp(b, name, features, [d]);
  const x = b.op('Transpose', [v.name], `${name}/seq_major`, [attr.ints('perm', [1, 0, 2])]);
  const m = b.op('Transpose', [input.mask!], `${name}/mask_seq_major`, [attr.ints('perm', [1, 0])]);
  // One [1, batch, features] input and [1, batch] mask per step, in the order they are read.
  const backwards = c['go_backwards'] === true;
  const inOrder = (parts: string[]) => (backwards ? [...parts].reverse() : parts);
  const xs = inOrder(b.slices(x, 0, count, `${name}/x`));
  const ms = inOrder(b.slices(m, 0, count, `${name}/m`));
  // The state starts at zero: [1, batch, units].
  const batch = b.op(
    'Gather',
    [b.op('Shape', [x], `${name}/shape`), b.ints(`${name}/batch_axis`, [1])],
    `${name}/batch`,
    [attr.int('axis', 0)]
  );
  const stateShape = b.op(
    'Concat',
    [b.ints(`${name}/one`, [1]), batch, b.ints(`${name}/units`, [d.units])],
    `${name}/state_shape`,
    [attr.int('axis', 0)]
  );
  const zero = b.op('ConstantOfShape', [stateShape], `${name}/h0`);
  const zeroOutput = c['zero_output_for_mask'] === true;
  let h = zero;
  let cell = d.kind === 'LSTM' ? h : null;
  const outputs: string[] = [];
  for (let t = 0; t < count; t++) {
    const hint = `${name}/step${t}`;
    const state = cell ? ['', h, cell] : ['', h];
    const out = b.opMany(d.kind, [xs[t]!, ...weights, ...state], hint, cell ? 3 : 2, attributes);
    const mt = b.op('Unsqueeze', [ms[t]!, b.ints(`${hint}/unit_axis`, [2])], `${hint}/mask`);
    h = b.op('Where', [mt, out[1]!, h], `${hint}/h`);
    if (cell) cell = b.op('Where', [mt, out[2]!, cell], `${hint}/c`);
    outputs.push(zeroOutput ? b.op('Where', [mt, h, zero], `${hint}/out`) : h);
  }
  if (c['return_sequences'] === true) {
    const seq = b.op('Concat', outputs, `${name}/seq`, [attr.int('axis', 0)]);
    const out = b.op('Transpose', [seq], name, [attr.ints('perm', [1, 0, 2])]);
    return {name: out, shape: [count, d.units], storage: 'keras', mask: input.mask};
  }
  const last = b.op('Reshape', [h, b.ints(`${name}/last_shape`, [-1, d.units])], name);
  return {name: last, shape: [d.units], storage: 'keras'};
}

/**
 * GlobalAveragePooling1D over a mask: the mean of the steps the mask keeps, as Keras computes
 * it (tfjs-layers averages every step). A row with every step masked averages to 0, where Keras
 * divides by zero: a NaN would make the gate refuse the model on its probe images.
 */
export function maskedAverage(b: OnnxBuilder, layer: GraphLayer, input: Value): Value {
  const v = b.toKeras(input);
  if (v.shape.length !== 2 || layer.config['data_format'] === 'channels_first')
    throw new NoOnnxTranslation(`GlobalAveragePooling1D '${layer.name}' over a mask (rank ${v.shape.length + 1})`);
  const kept = b.op('Cast', [input.mask!], `${layer.name}/kept`, [attr.int('to', 1)]); // FLOAT
  const m = b.op('Unsqueeze', [kept, b.ints(`${layer.name}/feature_axis`, [2])], `${layer.name}/kept_steps`);
  const steps = b.ints(`${layer.name}/steps_axis`, [1]);
  const keep = [attr.int('keepdims', 0)];
  const sum = b.op('ReduceSum', [b.op('Mul', [v.name, m], `${layer.name}/masked`), steps], `${layer.name}/sum`, keep);
  const one = b.floats(`${layer.name}/one`, Float32Array.of(1), []);
  const count = b.op(
    'Max',
    [b.op('ReduceSum', [m, steps], `${layer.name}/kept_count`, keep), one],
    `${layer.name}/count`
  );
  return {name: b.op('Div', [sum, count], layer.name), shape: [v.shape[1]!], storage: 'keras'};
}
