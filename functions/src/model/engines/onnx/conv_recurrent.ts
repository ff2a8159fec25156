/**
 * ConvLSTM2D, unrolled over its (static) steps: ONNX has no convolutional LSTM op. Each step,
 * as Keras computes it (gates i, f, c, o in the kernel's last axis):
 *   z = conv(x_t, kernel) + bias + conv(h, recurrent_kernel)   (the latter: stride 1, `same`)
 *   c = σ(z_f) ⊙ c + σ(z_i) ⊙ act(z_c),  h = σ(z_o) ⊙ act(c)
 * with σ the recurrent activation and zero initial states (so step 0 has no recurrent term).
 * Values are channels-first inside; `go_backwards` reads the steps last to first and returns
 * the sequence in that order, as Keras does.
 */
import {weightsByRole, type GraphLayer} from '../../keras/graph.js';
import {activation} from './activations.js';
import {attr, NoOnnxTranslation, OnnxBuilder, type Value} from './builder.js';
import {onnxKernel, perAxis, windowPads} from './spatial.js';

/** Translates one ConvLSTM2D call on a `[steps, height, width, channels]` value. */
export function convLstm2d(b: OnnxBuilder, layer: GraphLayer, input: Value): Value {
  const c = layer.config;
  const name = layer.name;
  for (const option of ['stateful', 'return_state']) {
    if (c[option] === true) throw new NoOnnxTranslation(`ConvLSTM2D '${name}' (${option})`);
  }
  if (c['data_format'] === 'channels_first') throw new NoOnnxTranslation(`ConvLSTM2D '${name}' (channels_first)`);
  const v = b.toKeras(input);
  if (v.shape.length !== 4) throw new NoOnnxTranslation(`ConvLSTM2D '${name}' on a rank-${v.shape.length + 1} input`);
  const [steps, height, width, channels] = v.shape as [number, number, number, number];
  const filters = Number(c['filters']);
  const k = perAxis(c['kernel_size'], 2, 1);
  const strides = perAxis(c['strides'], 2, 1);
  const dilations = perAxis(c['dilation_rate'], 2, 1);
  const padding = String(c['padding'] ?? 'valid');
  const {out, pads} = windowPads([height, width], k, strides, dilations, padding);
  const recurrentPads = windowPads(out, k, [1, 1], [1, 1], 'same').pads;
  const w = weightsByRole(
    layer,
    c['use_bias'] === false ? ['kernel', 'recurrent_kernel'] : ['kernel', 'recurrent_kernel', 'bias'],
    {kernel: [...k, channels, 4 * filters], recurrent_kernel: [...k, filters, 4 * filters], bias: [4 * filters]}
  );
  const kernel = w.get('kernel')!;
  const recurrent = w.get('recurrent_kernel')!;
  const K = b.floats(`${name}/kernel`, onnxKernel(kernel.values, kernel.shape, false), [4 * filters, channels, ...k]);
  const U = b.floats(`${name}/recurrent_kernel`, onnxKernel(recurrent.values, recurrent.shape, false), [
    4 * filters,
    filters,
    ...k,
  ]);
  const bias = w.get('bias');
  const B = bias ? [b.floats(`${name}/bias`, bias.values, [4 * filters])] : [];
  // [N, T, H, W, C] → [T, N, C, H, W], then one [N, C, H, W] value per step.
  const stepMajor = b.op('Transpose', [v.name], `${name}/step_major`, [attr.ints('perm', [1, 0, 4, 2, 3])]);
  const parts = b.slices(stepMajor, 0, steps, `${name}/steps`);
  const order = c['go_backwards'] === true ? [...parts].reverse() : parts;
  const state = (x: string): Value => ({name: x, shape: [...out, filters], storage: 'cf'});
  const act = (fn: unknown, x: string, hint: string) => activation(b, fn, state(x), hint).name;
  const recurrentAct = c['recurrent_activation'] ?? 'hardSigmoid';
  const cellAct = c['activation'] ?? 'tanh';
  const gateSizes = b.ints(`${name}/gate_sizes`, [filters, filters, filters, filters]);
  let h: string | null = null;
  let cell: string | null = null;
  const outputs: string[] = [];
  order.forEach((part, t) => {
    const at = `${name}/t${t}`;
    const x = b.op('Squeeze', [part, b.ints(`${at}/axis`, [0])], `${at}/x`);
    let z = b.op('Conv', [x, K, ...B], `${at}/x_conv`, [
      attr.ints('kernel_shape', k),
      attr.ints('strides', strides),
      attr.ints('dilations', dilations),
      attr.ints('pads', pads),
    ]);
    if (h) {
      const r = b.op('Conv', [h, U], `${at}/h_conv`, [attr.ints('kernel_shape', k), attr.ints('pads', recurrentPads)]);
      z = b.op('Add', [z, r], `${at}/z`);
    }
    const [zi, zf, zc, zo] = b.opMany('Split', [z, gateSizes], `${at}/gates`, 4, [attr.int('axis', 1)]) as [
      string,
      string,
      string,
      string,
    ];
    const input = b.op('Mul', [act(recurrentAct, zi, `${at}/i`), act(cellAct, zc, `${at}/g`)], `${at}/ig`);
    cell = cell
      ? b.op('Add', [b.op('Mul', [act(recurrentAct, zf, `${at}/f`), cell], `${at}/fc`), input], `${at}/c`)
      : input;
    h = b.op('Mul', [act(recurrentAct, zo, `${at}/o`), act(cellAct, cell, `${at}/c_act`)], `${at}/h`);
    outputs.push(h);
  });
  if (c['return_sequences'] !== true) return state(h!);
  // [N, F, H', W'] per step → [N, T, F, H', W'] → Keras' [N, T, H', W', F].
  const stacked = b.op(
    'Concat',
    outputs.map((o, t) => b.op('Unsqueeze', [o, b.ints(`${name}/t${t}/time_axis`, [1])], `${name}/t${t}/step`)),
    `${name}/sequence`,
    [attr.int('axis', 1)]
  );
  const y = b.op('Transpose', [stacked], name, [attr.ints('perm', [0, 1, 3, 4, 2])]);
  return {name: y, shape: [steps, ...out, filters], storage: 'keras'};
}
