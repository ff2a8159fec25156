/**
 * The ONNX model that ONNX Runtime runs for a Keras file, as bytes: for looking at the
 * translation (Netron, `onnx.checker`) or running it beside Keras elsewhere (onnxruntime in
 * Python). It is the graph that loader.ts's `loadClassifier` hands ONNX Runtime
 * ({@link onnxGraph}): BatchNormalization folded, and the image batch as preprocessing gives
 * it at the input.
 */
import {DEFAULT_SCALE, type Scale} from '../core/scale.js';
import type {InputContract} from '../core/ports.js';
import {kerasToOnnx} from './engines/onnx/translate.js';
import {readKerasModel} from './keras/read.js';
import {onnxGraph} from './loader.js';

/** What {@link exportOnnx} returns. */
export interface OnnxExport {
  /** A serialised ONNX ModelProto (opset 17, float32, weights inside; its input contract in its metadata). */
  readonly bytes: Uint8Array;
  /**
   * Its input `input`: `[N, height, width, channels]` float32, RGB, resized and scaled as
   * `contract.scale` says (preprocess.ts). Its one output is the Keras model's.
   */
  readonly contract: InputContract;
  readonly nodeCount: number;
}

/**
 * Translates a Keras `.h5` or `.keras` file to ONNX without loading it into ONNX Runtime.
 *
 * @throws NoOnnxTranslation or UnsupportedLayerError naming the layer without a translation
 *   (such a model is served by tfjs), or a ModelUnusableError for a file no engine serves.
 */
export async function exportOnnx(bytes: Uint8Array, scale: Scale = DEFAULT_SCALE): Promise<OnnxExport> {
  const {graph, contract} = onnxGraph(await readKerasModel(bytes), scale);
  const {bytes: onnx, nodeCount} = kerasToOnnx(graph, contract);
  return {bytes: onnx, contract, nodeCount};
}
