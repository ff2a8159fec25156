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
 * change the computation and have no direct counterpart here (go_backwards, stateful,
 * return_state) are left to tfjs.
 */
import {weightsByRole, type GraphLayer} from '../../keras/graph.js';
import {attr, NoOnnxTranslation, OnnxBuilder, type Value} from './builder.js';

const ACTIVATIONS: Record<string, string> = {
  tanh: 'Tanh',
  sigmoid: 'Sigmoid',
  relu: 'Relu',
  hardSigmoid: 'HardSigmoid',
};

function onnxActivation(layer: GraphLayer, key: string, fallback: string): string {
  const name = String(layer.config[key] ?? fallback);
  const op = ACTIVATIONS[name];
  if (!op) throw new NoOnnxTranslation(`${layer.className} '${layer.name}' (${key} '${name}')`);
  return op;
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

/** Translates one recurrent layer call on a `[steps, features]` value. */
export function recurrent(b: OnnxBuilder, layer: GraphLayer, input: Value): Value {
  const c = layer.config;
  // reset_after (TF 2's and Keras 3's GRU default) is ONNX's linear_before_reset. tfjs-layers
  // cannot run it, so such a model runs on ONNX Runtime only; the translation is checked
  // against the GRU equations written out (saved_models.test.ts).
  for (const option of ['go_backwards', 'stateful', 'return_state']) {
    if (c[option] === true) throw new NoOnnxTranslation(`${layer.className} '${layer.name}' (${option})`);
  }
  const v = b.toKeras(input);
  if (v.shape.length !== 2)
    throw new NoOnnxTranslation(`${layer.className} '${layer.name}' on a rank-${v.shape.length + 1} input`);
  const [steps, features] = v.shape as [number, number];
  const units = Number(c['units']);
  const kind = layer.className === 'LSTM' ? 'LSTM' : layer.className === 'GRU' ? 'GRU' : 'RNN';
  const order = kind === 'LSTM' ? [0, 3, 1, 2] : kind === 'GRU' ? [0, 1, 2] : [0];
  const useBias = c['use_bias'] !== false;
  const w = weightsByRole(layer, useBias ? ['kernel', 'recurrent_kernel', 'bias'] : ['kernel', 'recurrent_kernel']);
  const n = order.length * units;
  const W = b.floats(`${layer.name}/W`, gates(w.get('kernel')!.values, features, units, order), [1, n, features]);
  const R = b.floats(`${layer.name}/R`, gates(w.get('recurrent_kernel')!.values, units, units, order), [1, n, units]);
  const bias = new Float32Array(2 * n);
  const stored = w.get('bias')?.values;
  const resetAfter = kind === 'GRU' && c['reset_after'] === true;
  if (stored) {
    // GRU reset_after stores [2, 3 · units]: the input bias row, then the recurrent one.
    bias.set(reorderBias(stored.subarray(0, n), units, order), 0);
    if (resetAfter) bias.set(stored.subarray(n, 2 * n), n);
  }
  const B = b.floats(`${layer.name}/B`, bias, [1, 2 * n]);
  const recurrentAct = onnxActivation(layer, 'recurrent_activation', kind === 'RNN' ? 'tanh' : 'sigmoid');
  const act = onnxActivation(layer, 'activation', 'tanh');
  const activations = kind === 'LSTM' ? [recurrentAct, act, act] : kind === 'GRU' ? [recurrentAct, act] : [act];
  const hard = activations.filter(a => a === 'HardSigmoid').length;
  const x = b.op('Transpose', [v.name], `${layer.name}/seq_major`, [attr.ints('perm', [1, 0, 2])]);
  const [y, yh] = b.opMany(kind, [x, W, R, B], layer.name, 2, [
    attr.int('hidden_size', units),
    attr.strs('activations', activations),
    // tfjs' hardSigmoid is clip(0.2 x + 0.5); ONNX needs alpha and beta for each activation.
    ...(hard > 0
      ? [
          attr.floats(
            'activation_alpha',
            activations.map(a => (a === 'HardSigmoid' ? 0.2 : 0))
          ),
          attr.floats(
            'activation_beta',
            activations.map(a => (a === 'HardSigmoid' ? 0.5 : 0))
          ),
        ]
      : []),
    ...(kind === 'GRU' ? [attr.int('linear_before_reset', resetAfter ? 1 : 0)] : []),
  ]);
  if (c['return_sequences'] === true) {
    // Y is [steps, 1, batch, units]: drop the direction axis, then back to batch-major.
    const flat = b.op('Reshape', [y!, b.ints(`${layer.name}/seq_shape`, [steps, -1, units])], `${layer.name}/seq`);
    const seq = b.op('Transpose', [flat], `${layer.name}/sequences`, [attr.ints('perm', [1, 0, 2])]);
    return {name: seq, shape: [steps, units], storage: 'keras'};
  }
  // Y_h is [1, batch, units].
  const last = b.op('Reshape', [yh!, b.ints(`${layer.name}/last_shape`, [-1, units])], `${layer.name}/last`);
  return {name: last, shape: [units], storage: 'keras'};
}
