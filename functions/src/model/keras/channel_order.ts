/**
 * Indexing the channels (the last axis) inside a model, as preprocess_input's caffe mode
 * (ResNet50, VGG16/19) does before subtracting the ImageNet mean per channel (op_layers.ts
 * reads the subtraction): it flips RGB to BGR.
 * - tf.keras 2 writes the flip as a SlicingOpLambda, `x[..., ::-1]`: `__operators__.getitem`
 *   with `slice_spec` `[Ellipsis, {start: null, stop: null, step: -1}]` in its node.
 * - Keras 3 writes `ops.stack([x[..., i] for i in (2, 1, 0)], axis=-1)`: a GetItem op per
 *   channel (`x[..., i]`, which drops the axis), and a Stack op on the three.
 * Each becomes this project's ChannelGather layer (the last axis in reverse, or one channel
 * without its axis) or StackChannels (tensors stacked on a new last axis), which both engines
 * run. Any other indexing stays refused, naming it.
 */
import type {LayerEntry} from './config.js';
import {layerName, type LayerRule} from './layer_substitutions.js';
import {become, tfOpCall, type Ref} from './op_layers.js';

/** What an index expression does to the last axis, where it touches only that one. */
export type ChannelIndex = {reverse: true} | {index: number};

const isEllipsis = (v: unknown): boolean => (v as {class_name?: unknown} | null)?.class_name === '__ellipsis__';

/** A serialised slice's fields: tf.keras 2 writes them bare, Keras 3 as `{class_name: '__slice__', config}`. */
function sliceOf(v: unknown): {start: unknown; stop: unknown; step: unknown} | null {
  const o = v as {class_name?: unknown; config?: unknown} | null;
  const s = (o?.class_name === '__slice__' ? o.config : o) as Record<string, unknown> | null;
  return s && typeof s === 'object' && 'step' in s ? {start: s['start'], stop: s['stop'], step: s['step']} : null;
}

/** `[..., ::-1]` or `[..., i]` (i ≥ 0), as either Keras serialises the key; null for any other. */
export function channelIndex(key: unknown): ChannelIndex | null {
  if (!Array.isArray(key) || key.length !== 2 || !isEllipsis(key[0])) return null;
  const last = key[1];
  if (typeof last === 'number') return Number.isInteger(last) && last >= 0 ? {index: last} : null;
  const s = sliceOf(last);
  return s && s.start === null && s.stop === null && s.step === -1 ? {reverse: true} : null;
}

/** Makes `layer` the ChannelGather computing `ix` of `x`. */
export function gatherChannels(layer: LayerEntry, ix: ChannelIndex, x: Ref): void {
  become(layer, 'ChannelGather', 'reverse' in ix ? {reverse: true} : {index: ix.index}, [x]);
}

/** tf.keras 2's `x[..., ::-1]` and `x[..., i]` (see the module comment); other slices are refused, naming them. */
export const channelSlices: LayerRule = (layer, ctx) => {
  if (layer.class_name !== 'SlicingOpLambda' || layer.config['function'] !== '__operators__.getitem') return;
  const {x, kwargs} = tfOpCall(layer);
  const spec = kwargs['slice_spec'];
  const ix = channelIndex(spec);
  if (x && ix) return gatherChannels(layer, ix, x);
  ctx.unsupported.push(
    `SlicingOpLambda '${layerName(layer)}' (x[${JSON.stringify(spec)}]: only x[..., ::-1] and x[..., i], on the channels, are read)`
  );
};
