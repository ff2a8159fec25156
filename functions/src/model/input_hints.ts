/**
 * A model that rescales its own input says what pixels it expects. keras.io's "image
 * classification from scratch" and keras.applications' EfficientNet, ConvNeXt and others start
 * with `Rescaling(1/255)` (or `1/127.5` and `offset=-1`; or x / 127.5 then − 1, as tf.keras'
 * `preprocess_input` inside a model computes it; or its caffe mode, RGB → BGR and minus the
 * ImageNet mean): they take raw 0–255 pixels. Served
 * with another `scale` (the default `0,1`, say), they see their pixels divided twice and answer
 * wrongly without an error. The scale stays what the upload declared (never guessed); this
 * says so in a WARNING line, from the gate and from every load.
 */
import type {Scale} from '../core/scale.js';
import {INFERENCE_IDENTITY, type KerasGraph} from './keras/graph.js';

const near = (a: number, b: number) => Math.abs(a - b) <= 1e-6 * Math.abs(b);
/** keras.applications' ImageNet mean in BGR order, which caffe mode subtracts from raw pixels. */
const CAFFE_MEAN = [103.939, 116.779, 123.68];
const PASS_PIXELS = new Set([...INFERENCE_IDENTITY, 'ChannelGather', 'StackChannels']);

/** The Rescaling a model applies to its input first, when it maps 0–255 pixels to [0, 1] or [−1, 1]. */
function rawPixelRescaling(graph: KerasGraph): {name: string; factor: string} | null {
  // The input, and every layer that only passes it on (the layers are in topological order).
  const pixels = new Set([graph.inputs[0]?.layer]);
  const reads = (layer: KerasGraph['layers'][number]) =>
    layer.inbound.some(node => node.some(r => pixels.has(r.layer)));
  for (const layer of graph.layers) {
    // Dropouts and augmentation (which keras/layer_substitutions.ts makes Dropout) pass them
    // on; so does reordering the channels (caffe mode's RGB → BGR, keras/channel_order.ts).
    if (PASS_PIXELS.has(layer.className) && reads(layer)) pixels.add(layer.name);
    if (layer.className !== 'Rescaling' || !reads(layer)) continue;
    const scale = Number(layer.config['scale']);
    const offset = Number(layer.config['offset'] ?? 0);
    if (near(scale, 1 / 255) && offset === 0) return {name: layer.name, factor: '1/255'};
    if (near(scale, 1 / 127.5) && offset === -1) return {name: layer.name, factor: '1/127.5, offset -1'};
    // x / 127.5, then − 1 in a layer of its own: tf.keras' preprocess_input called inside the
    // model (TensorFlow's transfer-learning tutorial), which keras/op_layers.ts makes Rescalings.
    if (near(scale, 1 / 127.5) && offset === 0) return {name: layer.name, factor: '1/127.5'};
    // preprocess_input's caffe mode: minus the ImageNet mean per channel, in BGR order.
    const shift = [layer.config['offset']].flat();
    if (shift.length === 3 && shift.every((v, i) => Math.abs(Number(v) + CAFFE_MEAN[i]!) < 1e-3))
      return {name: layer.name, factor: 'minus the ImageNet mean, caffe mode'};
  }
  return null;
}

/** A warning for a model whose first layer expects raw pixels, served with another scale; else null. */
export function scaleHint(graph: KerasGraph, scale: Scale): string | null {
  if (scale === '0,255') return null;
  const r = rawPixelRescaling(graph);
  if (!r) return null;
  return (
    `its first layer, Rescaling '${r.name}' (${r.factor}), expects raw 0–255 pixels, but it is served with scale ${scale}: ` +
    'it sees its pixels scaled twice. Upload it with --scale=0,255 (object metadata scale=0,255)'
  );
}
