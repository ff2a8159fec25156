/**
 * The tfjs engine: the shared Keras graph (BatchNormalization folded) as a
 * `tf.LayersModel` on the backend this thread chose (backend.ts), weights set layer by
 * layer. Tensors never leave this module: predict takes and returns Float32Arrays.
 */
import * as tf from '@tensorflow/tfjs';
import {UnsupportedLayerError, WeightMismatchError, ModelUnusableError} from '../../../core/errors.js';
import type {InputContract} from '../../../core/ports.js';
import type {StoredWeight} from '../../keras/h5_reader.js';
import {toTopology, type KerasGraph} from '../../keras/graph.js';
import {refuseEmptyOutput, reshapeTarget} from '../../keras/shapes.js';
import type {EngineModel} from '../engine.js';
import {withKerasBroadcasting} from './channel_layers.js';
import './extra_layers.js';
import './channel_order.js';
import './subtract.js';

/** Whether tfjs-layers has a class of that name (the translation's `isKnown` for tfjs). */
export function tfjsKnows(className: string): boolean {
  const map = (tf.serialization.SerializationMap.getMap() as unknown as {classNameMap: Record<string, unknown>})
    .classNameMap;
  return className in map;
}

/** Strips `:0` and splits a stored weight name into path components. */
function weightPath(name: string): string[] {
  return name.replace(/:\d+$/, '').split('/');
}

function endsWithPath(full: string[], suffix: string[]): boolean {
  if (suffix.length > full.length) return false;
  return suffix.every((part, i) => full[full.length - suffix.length + i] === part);
}

function sameShape(a: readonly number[], b: readonly (number | null)[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * Orders a layer's stored weights as the tfjs layer lists them (tfjs puts trainable
 * weights first; Keras writes its own `layer.weights` order): by name, then by the last
 * name part, then by position; shapes are checked either way.
 */
function orderWeights(layer: tf.layers.Layer, stored: readonly StoredWeight[]): StoredWeight[] {
  const targets = layer.weights;
  if (targets.length !== stored.length) {
    throw new WeightMismatchError(
      `layer '${layer.name}' (${layer.getClassName()}) expects ${targets.length} weights but the file has ${stored.length} (${stored
        .map(s => s.name)
        .join(', ')})`
    );
  }
  const unused = new Set(stored.map((_, i) => i));
  return targets.map((target, position) => {
    const want = target.originalName.split('/');
    const pick = (pred: (s: StoredWeight) => boolean): number | undefined => {
      const hits = [...unused].filter(i => pred(stored[i]!));
      return hits.length === 1 ? hits[0] : undefined;
    };
    const index =
      pick(s => endsWithPath(weightPath(s.name), want)) ??
      pick(s => weightPath(s.name).at(-1) === want.at(-1) && sameShape(s.shape, target.shape)) ??
      (unused.has(position) ? position : [...unused][0]!);
    unused.delete(index);
    const weight = stored[index]!;
    if (!sameShape(weight.shape, target.shape)) {
      throw new WeightMismatchError(
        `layer '${layer.name}': weight ${weight.name} has shape [${weight.shape.join(',')}] but the model needs [${target.shape.join(',')}] for ${target.originalName}`
      );
    }
    return weight;
  });
}

function setWeights(model: tf.LayersModel, graph: KerasGraph): void {
  const byName = new Map(model.layers.map(l => [l.name, l]));
  for (const g of graph.layers) {
    const layer = byName.get(g.name);
    if (!layer || g.weights.length === 0) continue;
    const tensors = orderWeights(layer, g.weights).map(w => tf.tensor(w.values, [...w.shape], 'float32'));
    try {
      layer.setWeights(tensors);
    } finally {
      tf.dispose(tensors);
    }
  }
  const missing = model.layers.filter(
    l => l.weights.length > 0 && !graph.layers.find(g => g.name === l.name)?.weights.length
  );
  if (missing.length > 0) {
    throw new WeightMismatchError(
      `the file has no weights for layer${missing.length > 1 ? 's' : ''} ${missing.map(l => `'${l.name}'`).join(', ')}`
    );
  }
}

/** Stacks HWC images into the model's input tensor. Call inside tf.tidy. */
function toInput(batch: Float32Array, count: number, input: InputContract): tf.Tensor {
  const {height: h, width: w, channels: c} = input;
  const nhwc = tf.tensor4d(batch, [count, h, w, c]);
  switch (input.layout) {
    case 'nhwc':
      return nhwc;
    case 'nchw':
      return tf.transpose(nhwc, [0, 3, 1, 2]);
    case 'hw':
      return tf.reshape(nhwc, [count, h, w]);
    case 'flat':
      return tf.reshape(nhwc, [count, h * w * c]);
  }
}

/**
 * Options tfjs-layers takes but does not compute, refused here (ONNX Runtime runs them)
 * rather than answered wrongly, silently:
 * - its DepthwiseConv2D drops `dilation_rate` (it passes none to the op): DeepLab's backbones;
 * - its channels-first SeparableConv2D adds the bias to its channels-last result as if it
 *   were channels-first: along the rows, or failing where the shapes do not broadcast;
 * - its channels-first Conv1D turns the input channels-last and never turns the result back;
 * - its 1D poolings, global or not, take no `data_format`: channels-first, they pool the
 *   channels;
 * - its convolutions have no `groups` (it would build a kernel for every input channel).
 */
function refuseIgnoredOptions(graph: KerasGraph): void {
  for (const l of graph.layers) {
    const dilation = [l.config['dilation_rate'] ?? 1].flat().map(Number);
    if (l.className === 'DepthwiseConv2D' && dilation.some(d => d !== 1)) {
      throw new UnsupportedLayerError(
        `DepthwiseConv2D '${l.name}' with dilation_rate ${dilation.join('x')}: tfjs-layers ignores it and would answer wrongly`
      );
    }
    if (
      l.className === 'SeparableConv2D' &&
      l.config['data_format'] === 'channels_first' &&
      l.config['use_bias'] !== false
    ) {
      throw new UnsupportedLayerError(
        `SeparableConv2D '${l.name}' channels_first with a bias: tfjs-layers adds the bias along the wrong axis and would answer wrongly`
      );
    }
    // A wrapper's layer (TimeDistributed) carries its own config.
    const inner = (l.config['layer'] as {config?: Record<string, unknown>} | undefined)?.config;
    const groups = l.config['groups'] ?? inner?.['groups'];
    if (groups !== undefined && Number(groups) !== 1) {
      throw new UnsupportedLayerError(
        `${l.className} '${l.name}' with groups=${String(groups)}: tfjs-layers has no grouped convolution (ONNX Runtime runs it)`
      );
    }
    if (l.className === 'Conv1D' && l.config['data_format'] === 'channels_first') {
      throw new UnsupportedLayerError(
        `Conv1D '${l.name}' channels_first: tfjs-layers returns its result channels-last and would answer wrongly`
      );
    }
    if (/Pooling1D$/.test(l.className) && l.config['data_format'] === 'channels_first') {
      throw new UnsupportedLayerError(
        `${l.className} '${l.name}' channels_first: tfjs-layers pools the channels instead and would answer wrongly`
      );
    }
  }
}

/**
 * Layers tfjs-backend-wasm computes wrongly, refused on that backend only (tfjs' cpu backend
 * and ONNX Runtime agree on them): its maxPool3d for most windows, strides and paddings
 * (every window of size 1, most `same` ones: 139 of 200 random cases here), and its
 * conv3dTranspose at a stride above 1.
 */
function refuseWasmKernelFaults(graph: KerasGraph): void {
  if (tf.getBackend() !== 'wasm') return;
  for (const l of graph.layers) {
    const strided = [l.config['strides'] ?? 1].flat().some(s => Number(s) !== 1);
    if (l.className === 'MaxPooling3D' || (l.className === 'Conv3DTranspose' && strided)) {
      throw new UnsupportedLayerError(
        `${l.className} '${l.name}': tfjs-backend-wasm computes it wrongly (ONNX Runtime or another tfjs backend runs it)`
      );
    }
  }
}

/** Builds the graph in tfjs-layers on this thread's backend. */
export async function createTfjsModel(kerasGraph: KerasGraph, input: InputContract): Promise<EngineModel> {
  refuseIgnoredOptions(kerasGraph);
  refuseWasmKernelFaults(kerasGraph);
  const graph = withKerasBroadcasting(kerasGraph);
  let model: tf.LayersModel;
  try {
    const topology = toTopology(graph) as unknown as tf.io.ModelJSON['modelTopology'];
    model = await tf.models.modelFromJSON({modelTopology: topology});
  } catch (e) {
    if (e instanceof ModelUnusableError) throw e;
    throw new UnsupportedLayerError(`TensorFlow.js cannot build this model: ${(e as Error).message}`);
  }
  try {
    // Per call of the layer: a layer called twice (a shared Reshape, say) has a node for each.
    const all = (shapes: tf.Shape | tf.Shape[]) => (Array.isArray(shapes[0]) ? shapes : [shapes]) as tf.Shape[];
    for (const l of model.layers) {
      for (const node of l.inboundNodes) {
        for (const shape of all(node.outputShapes)) refuseEmptyOutput(l.name, l.getClassName(), shape.slice(1));
        const input = all(node.inputShapes)[0]?.slice(1);
        if (l.getClassName() === 'Reshape' && input?.every(d => typeof d === 'number'))
          reshapeTarget(l.name, input as number[], (l.getConfig()['targetShape'] as number[]).map(Number));
      }
    }
    setWeights(model, graph);
  } catch (e) {
    model.dispose();
    throw e;
  }
  const outShape = model.outputs[0]!.shape;
  let disposed = false;
  return {
    engine: 'tfjs',
    backend: tf.getBackend(),
    outputWidth: model.outputs.length === 1 && outShape.length === 2 ? outShape[1]! : -1,
    async predict(batch: Float32Array, count: number): Promise<Float32Array> {
      if (disposed) throw new Error('model was disposed');
      const out = tf.tidy(() => model.predict(toInput(batch, count, input)) as tf.Tensor);
      try {
        return (await out.data()) as Float32Array;
      } finally {
        out.dispose();
      }
    },
    dispose(): void {
      if (disposed) return;
      disposed = true;
      model.dispose();
    },
  };
}
