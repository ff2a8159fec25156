/**
 * This project's ChannelGather and StackChannels layers (keras/channel_order.ts): the channel
 * flip and stack of preprocess_input's caffe mode, as ONNX Gather, Unsqueeze and Concat.
 */
import type {GraphLayer} from '../../keras/graph.js';
import {attr, NoOnnxTranslation, OnnxBuilder, type Value} from './builder.js';

/** The last axis reversed (`x[..., ::-1]`), or one channel of it without the axis (`x[..., i]`). */
export function channelGather(b: OnnxBuilder, layer: GraphLayer, v: Value): Value {
  const channels = v.shape.at(-1)!;
  const axis = b.storageAxis(v, -1); // either storage: no transpose needed
  if (layer.config['reverse'] === true) {
    const order = Array.from({length: channels}, (_, i) => channels - 1 - i);
    return {
      ...v,
      name: b.op('Gather', [v.name, b.ints(`${layer.name}/order`, order)], layer.name, [attr.int('axis', axis)]),
    };
  }
  const index = Number(layer.config['index']);
  if (!(index < channels))
    throw new NoOnnxTranslation(`ChannelGather '${layer.name}': channel ${index} of ${channels}`);
  // A scalar index drops the axis; what is left of a channels-first image is [H, W], Keras' order.
  const y = b.op('Gather', [v.name, b.ints(`${layer.name}/index`, [index], [])], layer.name, [attr.int('axis', axis)]);
  return {name: y, shape: v.shape.slice(0, -1), storage: 'keras'};
}

/** Tensors of one shape stacked on a new last axis (`ops.stack(xs, axis=-1)`). */
export function stackChannels(b: OnnxBuilder, layer: GraphLayer, inputs: readonly Value[]): Value {
  const shape = inputs[0]!.shape;
  if (inputs.some(v => v.shape.join() !== shape.join()))
    throw new NoOnnxTranslation(
      `StackChannels '${layer.name}' of shapes ${inputs.map(v => `[${v.shape}]`).join(', ')}`
    );
  const axis = shape.length + 1;
  const axes = b.ints(`${layer.name}/axes`, [axis]);
  const lifted = inputs.map((v, i) => b.op('Unsqueeze', [b.toKeras(v).name, axes], `${layer.name}/${i}`));
  return {
    name: b.op('Concat', lifted, layer.name, [attr.int('axis', axis)]),
    shape: [...shape, inputs.length],
    storage: 'keras',
  };
}
