/**
 * SimpleRNN, GRU and LSTM as ONNX's RNN, GRU and LSTM ops, sequence-major (`layout = 0`: ONNX
 * Runtime's CPU kernels refuse batch-major), with a Transpose on each side.
 *
 * Keras keeps each gate's weights as column blocks of one kernel `[input, gates · units]`
 * and `recurrent_kernel` `[units, gates · units]`; ONNX wants them transposed,
 * `[gates · units, input]`, in its own gate order:
 * - LSTM: Keras i, f, c, o → ONNX i, o, f, c;
 * - GRU: z, r, h in both (Keras' `reset_after=True`, TF 2's default, is ONNX's
 *   `linear_before_reset = 1`, with the input and recurrent bias rows as ONNX's Wb and Rb);
 * - SimpleRNN: one gate.
 * Activations map by name (recurrent_activation first, as ONNX lists f, g, h). Options that
 * change the computation and have no direct counterpart here (stateful, return_state) are
 * left to tfjs; go_backwards is ONNX's reverse direction.
 */
import {CELL_LAYERS} from '../../keras/layer_substitutions.js';
import {weightsByRole, type GraphLayer} from '../../keras/graph.js';
import {attr, NoOnnxTranslation, OnnxBuilder, type Attribute, type Value} from './builder.js';

/** Keras activation (tfjs spelling) → ONNX RNN activation, with HardSigmoid's slope. */
const ACTIVATIONS: Record<string, {op: string; alpha?: number}> = {
  tanh: {op: 'Tanh'},
  sigmoid: {op: 'Sigmoid'},
  relu: {op: 'Relu'},
  hardSigmoid: {op: 'HardSigmoid', alpha: 0.2}, // Keras 2's: clip(0.2 x + 0.5, 0, 1)
  hardSigmoid3: {op: 'HardSigmoid', alpha: 1 / 6}, // Keras 3's: relu6(x + 3) / 6
};

function onnxActivation(layer: GraphLayer, key: string, fallback: string): {op: string; alpha?: number} {
  const name = String(layer.config[key] ?? fallback);
  const found = ACTIVATIONS[name];
  if (!found) throw new NoOnnxTranslation(`${layer.className} '${layer.name}' (${key} '${name}')`);
  return found;
}

/** Keras `[rows, gates · units]` → ONNX `[gates · units, rows]`, gates in `order` (Keras gate indices). */
function gates(values: Float32Array, rows: number, units: number, order: readonly number[]): Float32Array {
  const cols = order.length * units;
  const out = new Float32Array(values.length);
  order.forEach((g, slot) => {
    for (let u = 0; u < units; u++)
      for (let r = 0; r < rows; r++) out[(slot * units + u) * rows + r] = values[r * cols + g * units + u]!;
  });
  return out;
}

function reorderBias(values: Float32Array, units: number, order: readonly number[]): Float32Array {
  const out = new Float32Array(order.length * units);
  order.forEach((g, slot) => out.set(values.subarray(g * units, (g + 1) * units), slot * units));
  return out;
}

/** One direction's ONNX weights and attributes, from a recurrent layer's config and weights. */
export interface Direction {
  readonly kind: 'LSTM' | 'GRU' | 'RNN';
  readonly units: number;
  readonly W: Float32Array;
  readonly R: Float32Array;
  readonly B: Float32Array;
  readonly activations: {op: string; alpha?: number}[];
  readonly resetAfter: boolean;
}

/**
 * The ONNX LSTM/GRU/RNN weights of one Keras recurrent layer (one direction), its gates
 * reordered from Keras' order to ONNX's; an option ONNX cannot express throws NoOnnxTranslation.
 */
export function direction(layer: GraphLayer, features: number): Direction {
  const c = layer.config;
  // reset_after (TF 2's and Keras 3's GRU default) is ONNX's linear_before_reset. tfjs-layers
  // cannot run it, so such a model runs on ONNX Runtime only; the translation is checked
  // against the GRU equations written out (saved_models.test.ts).
  for (const option of ['stateful', 'return_state']) {
    if (c[option] === true) throw new NoOnnxTranslation(`${layer.className} '${layer.name}' (${option})`);
  }
  const units = Number(c['units']);
  const kind = layer.className === 'LSTM' ? 'LSTM' : layer.className === 'GRU' ? 'GRU' : 'RNN';
  if (!['LSTM', 'GRU', 'SimpleRNN'].includes(layer.className))
    throw new NoOnnxTranslation(`${layer.className} '${layer.name}' inside a recurrent wrapper`);
  const order = kind === 'LSTM' ? [0, 3, 1, 2] : kind === 'GRU' ? [0, 1, 2] : [0];
  const useBias = c['use_bias'] !== false;
  const n = order.length * units;
  const resetAfter = kind === 'GRU' && c['reset_after'] === true;
  const w = weightsByRole(layer, useBias ? ['kernel', 'recurrent_kernel', 'bias'] : ['kernel', 'recurrent_kernel'], {
    kernel: [features, n],
    recurrent_kernel: [units, n],
    bias: resetAfter ? [2, n] : [n],
  });
  const B = new Float32Array(2 * n);
  const stored = w.get('bias')?.values;
  if (stored) {
    // GRU reset_after stores [2, 3 · units]: the input bias row, then the recurrent one.
    B.set(reorderBias(stored.subarray(0, n), units, order), 0);
    if (resetAfter) B.set(stored.subarray(n, 2 * n), n);
  }
  const recurrentAct = onnxActivation(layer, 'recurrent_activation', kind === 'RNN' ? 'tanh' : 'sigmoid');
  const act = onnxActivation(layer, 'activation', 'tanh');
  return {
    kind,
    units,
    W: gates(w.get('kernel')!.values, features, units, order),
    R: gates(w.get('recurrent_kernel')!.values, units, units, order),
    B,
    activations: kind === 'LSTM' ? [recurrentAct, act, act] : kind === 'GRU' ? [recurrentAct, act] : [act],
    resetAfter,
  };
}

function concat(arrays: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) out.set(a, (at += a.length) - a.length);
  return out;
}

/** One recurrent ONNX op's weight inputs (W, R, B) and attributes, for one or two directions. */
export function recurrentOp(
  b: OnnxBuilder,
  name: string,
  features: number,
  dirs: readonly Direction[],
  reverse = false
): {weights: string[]; attributes: Attribute[]} {
  const [d] = dirs as [Direction];
  const n = d.W.length / features;
  const k = dirs.length;
  const W = b.floats(`${name}/W`, concat(dirs.map(x => x.W)), [k, n, features]);
  const R = b.floats(`${name}/R`, concat(dirs.map(x => x.R)), [k, n, d.units]);
  const B = b.floats(`${name}/B`, concat(dirs.map(x => x.B)), [k, 2 * n]);
  const activations = dirs.flatMap(x => x.activations);
  const hard = activations.filter(a => a.alpha !== undefined);
  const attributes = [
    attr.int('hidden_size', d.units),
    attr.strs(
      'activations',
      activations.map(a => a.op)
    ),
    ...(k === 2 ? [attr.str('direction', 'bidirectional')] : reverse ? [attr.str('direction', 'reverse')] : []),
    // HardSigmoid is clip(alpha x + 0.5): Keras 2's alpha is 0.2, Keras 3's 1/6. ONNX Runtime
    // reads activation_alpha and _beta one entry per activation that takes them (HardSigmoid
    // alone here), not one per activation: with a list per activation, a bidirectional op's
    // backward gates got the wrong alpha.
    ...(hard.length > 0
      ? [
          attr.floats(
            'activation_alpha',
            hard.map(a => a.alpha!)
          ),
          attr.floats(
            'activation_beta',
            hard.map(() => 0.5)
          ),
        ]
      : []),
    ...(d.kind === 'GRU' ? [attr.int('linear_before_reset', d.resetAfter ? 1 : 0)] : []),
  ];
  return {weights: [W, R, B], attributes};
}

/** The ONNX op over `[steps, features]` for one or two directions; returns Y and Y_h. */
export function run(
  b: OnnxBuilder,
  name: string,
  v: Value,
  dirs: readonly Direction[],
  reverse = false
): [string, string] {
  const {weights, attributes} = recurrentOp(b, name, v.shape[1]!, dirs, reverse);
  const x = b.op('Transpose', [v.name], `${name}/seq_major`, [attr.ints('perm', [1, 0, 2])]);
  const [y, yh] = b.opMany(dirs[0]!.kind, [x, ...weights], name, 2, attributes);
  return [y!, yh!];
}

/** Translates one recurrent layer call on a `[steps, features]` value. */
export function recurrent(b: OnnxBuilder, layer: GraphLayer, input: Value): Value {
  const v = sequence(b, layer, input);
  const [steps] = v.shape as [number, number];
  const d = direction(layer, v.shape[1]!);
  // go_backwards reads the steps last to first: ONNX's reverse direction. Keras then returns
  // the sequence in the order it was computed (last step first); ONNX aligns it with the input.
  const backwards = layer.config['go_backwards'] === true;
  const [y, yh] = run(b, layer.name, v, [d], backwards);
  if (layer.config['return_sequences'] === true) {
    // Y is [steps, 1, batch, units]: drop the direction axis, then back to batch-major.
    let flat = b.op('Reshape', [y, b.ints(`${layer.name}/seq_shape`, [steps, -1, d.units])], `${layer.name}/seq`);
    if (backwards) flat = b.reverse(flat, 0, `${layer.name}/computed_order`);
    const seq = b.op('Transpose', [flat], `${layer.name}/sequences`, [attr.ints('perm', [1, 0, 2])]);
    return {name: seq, shape: [steps, d.units], storage: 'keras'};
  }
  // Y_h is [1, batch, units].
  const last = b.op('Reshape', [yh, b.ints(`${layer.name}/last_shape`, [-1, d.units])], `${layer.name}/last`);
  return {name: last, shape: [d.units], storage: 'keras'};
}

/** A recurrent layer's input as [batch, steps, features] in Keras order; any other rank has no translation. */
export function sequence(b: OnnxBuilder, layer: GraphLayer, input: Value): Value {
  const v = b.toKeras(input);
  if (v.shape.length !== 2)
    throw new NoOnnxTranslation(`${layer.className} '${layer.name}' on a rank-${v.shape.length + 1} input`);
  return v;
}

/**
 * RNN(StackedRNNCells([a, b, …])): at each step a's output is b's input, which is a's layer
 * returning its whole sequence into b's layer. So: one ONNX op per cell, each with its slice of
 * the weights (Keras keeps them cell by cell), the last returning what the RNN returns.
 * (One cell alone is rewritten as its layer in keras/layer_substitutions.ts.) go_backwards reads the
 * steps last to first and returns them in that order: the first cell's layer going backwards
 * does exactly that, and the cells above it run forward over what it returns. Over a mask each
 * cell's layer is `step` (onnx/masking.ts' unrolled one) with the same mask, in the order that
 * cell reads the steps: a masked step keeps every cell's state, and the stack's output there is
 * its previous output, as in Keras.
 */
export function stackedCells(
  b: OnnxBuilder,
  layer: GraphLayer,
  input: Value,
  step: (b: OnnxBuilder, layer: GraphLayer, v: Value) => Value = recurrent
): Value {
  const c = layer.config;
  const cell = c['cell'] as {class_name?: string; config?: {cells?: unknown}} | undefined;
  const cells = (cell?.class_name === 'StackedRNNCells' ? cell.config?.cells : null) as Array<{
    class_name?: string;
    config?: Record<string, unknown>;
  }> | null;
  if (!cells?.length) throw new NoOnnxTranslation(`RNN '${layer.name}' (cell ${String(cell?.class_name)})`);
  for (const option of ['stateful', 'return_state']) {
    if (c[option] === true) throw new NoOnnxTranslation(`RNN '${layer.name}' over stacked cells (${option})`);
  }
  // Going backwards, the first cell returns its steps in the order it read them, last first, and
  // the cells after it read them so: their mask is the input's reversed. Keras passes on the
  // input's own.
  const reversedMask =
    input.mask && c['go_backwards'] === true ? b.reverse(input.mask, 1, `${layer.name}/mask_reversed`) : null;
  let v = input;
  let from = 0;
  cells.forEach((one, i) => {
    const kind = CELL_LAYERS[String(one.class_name)];
    if (!kind || !one.config) throw new NoOnnxTranslation(`RNN '${layer.name}' (cell ${String(one.class_name)})`);
    const count = one.config['use_bias'] === false ? 2 : 3;
    const last = i === cells.length - 1;
    v = step(
      b,
      {
        ...layer,
        name: `${layer.name}/cell${i}`,
        className: kind,
        config: {
          ...one.config,
          return_sequences: last ? c['return_sequences'] === true : true,
          go_backwards: i === 0 && c['go_backwards'] === true,
        },
        weights: layer.weights.slice(from, from + count),
      },
      v
    );
    if (reversedMask && v.mask) v = {...v, mask: last ? input.mask : reversedMask};
    from += count;
  });
  if (from !== layer.weights.length)
    throw new NoOnnxTranslation(`RNN '${layer.name}': ${layer.weights.length} weights for cells needing ${from}`);
  return v;
}
