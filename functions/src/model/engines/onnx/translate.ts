/**
 * A Keras graph (keras/graph.ts, BatchNormalization already folded) → a serialised ONNX
 * ModelProto, in memory. The model's input is always the batch of preprocessed images as
 * the classifier holds them, `[N, H, W, C]` float32; the graph turns it into what the
 * Keras model declares (channels-first, `[N, H, W]` greyscale or a flat vector) at the
 * boundary, so callers never lay out pixels per model. The output is the model's single
 * output in Keras order.
 */
import type {InputContract} from '../../../core/ports.js';
import {CONTAINERS, type KerasGraph, type TensorRef} from '../../keras/graph.js';
import {refuseEmptyOutput} from '../../keras/shapes.js';
import {NoOnnxTranslation, OnnxBuilder, type Value} from './builder.js';
import {translateCall} from './layers.js';
import {maskFlow} from './masking.js';

/** The translation's result. */
export interface OnnxModel {
  readonly bytes: Uint8Array;
  /** The output's logical shape without the batch axis (a classifier: `[classes]`). */
  readonly outputShape: readonly number[];
  readonly nodeCount: number;
}

const key = (r: TensorRef) => `${r.layer}:${r.node}:${r.index}`;

/** The image batch `[N, H, W, C]` as the model's declared input. */
function boundary(b: OnnxBuilder, contract: InputContract): Value {
  const {height: h, width: w, channels: c} = contract;
  const image: Value = {name: 'input', shape: [h, w, c], storage: 'keras'};
  switch (contract.layout) {
    case 'nhwc':
      return image;
    case 'nchw':
      return {name: b.toChannelsFirst(image).name, shape: [c, h, w], storage: 'keras'};
    case 'hw':
      return {
        name: b.op('Reshape', ['input', b.ints('input_shape', [-1, h, w])], 'input_hw'),
        shape: [h, w],
        storage: 'keras',
      };
    case 'flat':
      return {
        name: b.op('Reshape', ['input', b.ints('input_shape', [-1, h * w * c])], 'input_flat'),
        shape: [h * w * c],
        storage: 'keras',
      };
  }
}

/** The input contract in the model's own doc string and metadata, for whoever opens the file without us. */
function describeInput({height: h, width: w, channels: c, scale}: InputContract) {
  return {
    doc:
      `Translated from Keras. Input 'input': [N, ${h}, ${w}, ${c}] float32, each image decoded to ` +
      `${c === 1 ? 'greyscale' : 'RGB'}, resized to ${h}x${w} (stretched, bicubic), then scaled as input_scale says.`,
    metadata: {input_layout: 'NHWC', input_size: `${h}x${w}x${c}`, input_scale: scale},
  };
}

/**
 * Translates the graph.
 *
 * @throws NoOnnxTranslation naming the first layer (or option) this translation lacks.
 */
export function kerasToOnnx(graph: KerasGraph, contract: InputContract): OnnxModel {
  const b = new OnnxBuilder();
  b.fresh('input');
  const values = new Map<string, Value>();
  const input = graph.inputs[0];
  if (graph.inputs.length !== 1 || !input) throw new NoOnnxTranslation(`${graph.inputs.length} model inputs`);
  values.set(key(input), boundary(b, contract));
  let count = 0;
  for (const layer of graph.layers) {
    if (layer.className === 'InputLayer') continue;
    if (CONTAINERS.has(layer.className)) throw new NoOnnxTranslation(`nested model '${layer.name}'`);
    layer.inbound.forEach((node, n) => {
      const inputs = node.map(r => {
        const v = values.get(key(r));
        if (!v) throw new NoOnnxTranslation(`layer '${layer.name}' reads ${key(r)}, which has no value`);
        return v;
      });
      maskFlow(b, layer, inputs, translateCall(b, layer, inputs)).forEach((v, index) => {
        refuseEmptyOutput(layer.name, layer.className, v.shape);
        values.set(key({layer: layer.name, node: n, index}), v);
      });
      count++;
    });
  }
  const outRef = graph.outputs[0];
  const out = outRef && values.get(key(outRef));
  if (graph.outputs.length !== 1 || !out) throw new NoOnnxTranslation(`${graph.outputs.length} model outputs`);
  const output = b.toKeras(out);
  const bytes = b.encode(
    graph.name,
    {name: 'input', dims: [contract.height, contract.width, contract.channels]},
    output,
    describeInput(contract)
  );
  return {bytes, outputShape: output.shape, nodeCount: count};
}
