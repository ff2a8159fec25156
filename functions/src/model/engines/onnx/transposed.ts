/** Keras' transposed convolutions in ONNX. */
import {weightsByRole, type GraphLayer} from '../../keras/graph.js';
import {attr, NoOnnxTranslation, OnnxBuilder, type Value} from './builder.js';
import {perAxis, spatialInput} from './spatial.js';

/**
 * Conv2DTranspose and Conv3DTranspose as ONNX ConvTranspose. Keras' kernel is `[k…, out, in]`;
 * ONNX wants `[in, out, k…]`. Output size as Keras' `deconv_output_length`: `valid` gives
 * `in · s + max(k − s, 0)` (`(in − 1) · s + k` unless the kernel is shorter than the stride),
 * `same` gives `in · s`. `same` is the gradient of a `same` convolution
 * from `in · s` down to `in`, so it crops that convolution's pads (the smaller half first),
 * and where the kernel is shorter than the stride, output_padding adds the rest at the end.
 */
export function convTranspose(b: OnnxBuilder, layer: GraphLayer, v: Value): Value {
  const s = spatialInput(b, layer, v);
  const rank = s.spatial.length;
  const filters = Number(layer.config['filters']);
  const w = weightsByRole(layer, layer.config['use_bias'] === false ? ['kernel'] : ['kernel', 'bias'], {
    kernel: [...perAxis(layer.config['kernel_size'], rank, NaN), filters, s.channels],
    bias: [filters],
  });
  const kernel = w.get('kernel')!;
  const k = kernel.shape.slice(0, rank);
  const strides = perAxis(layer.config['strides'], rank, 1);
  const dilations = perAxis(layer.config['dilation_rate'], rank, 1);
  if (dilations.some(d => d !== 1) || layer.config['output_padding']) {
    throw new NoOnnxTranslation(`${layer.className} '${layer.name}' with dilation or output_padding`);
  }
  const outChannels = kernel.shape.at(-2)!;
  const inChannels = kernel.shape.at(-1)!;
  const same = layer.config['padding'] === 'same';
  const begin: number[] = [];
  const end: number[] = [];
  const extra: number[] = [];
  const out = s.spatial.map((size, i) => {
    const total = same ? Math.max(k[i]! - strides[i]!, 0) : 0;
    begin.push(Math.floor(total / 2));
    end.push(total - Math.floor(total / 2));
    // Where the kernel is shorter than the stride, both paddings end on a stride's worth of
    // rows the kernel never reaches: Keras' `in · s + max(k − s, 0)` for valid, `in · s` for same.
    extra.push(Math.max(strides[i]! - k[i]!, 0));
    return same ? size * strides[i]! : size * strides[i]! + Math.max(k[i]! - strides[i]!, 0);
  });
  // [k…, out, in] → [in, out, k…]: onnxKernel's layout with the last two axes swapped.
  const taps = kernel.values.length / (outChannels * inChannels);
  const values = new Float32Array(kernel.values.length);
  for (let t = 0; t < taps; t++)
    for (let o = 0; o < outChannels; o++)
      for (let i = 0; i < inChannels; i++)
        values[(i * outChannels + o) * taps + t] = kernel.values[(t * outChannels + o) * inChannels + i]!;
  const inputs = [s.x, b.floats(`${layer.name}/kernel`, values, [inChannels, outChannels, ...k])];
  const bias = w.get('bias');
  if (bias) inputs.push(b.floats(`${layer.name}/bias`, bias.values, [outChannels]));
  const y = b.op('ConvTranspose', inputs, layer.name, [
    attr.ints('kernel_shape', k),
    attr.ints('strides', strides),
    attr.ints('pads', [...begin, ...end]),
    attr.ints('output_padding', extra),
  ]);
  return s.wrap(y, out, outChannels);
}
