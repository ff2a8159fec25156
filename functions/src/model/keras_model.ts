/**
 * Builds a runnable classifier from Keras `.h5` bytes: read (h5_reader) → translate the
 * config (keras_config) → `tf.LayersModel` → set weights layer by layer → check the
 * input/output contract and labels → warm up.
 *
 * `loadKerasModel()` returns the {@link LoadedModel} interface; tensors never leave this
 * module: callers pass Float32Arrays in and get plain objects out.
 */
import * as tf from '@tensorflow/tfjs';
import {readKerasH5, type KerasH5File, type StoredWeight} from './h5_reader.js';
import {translateModelConfig, type ModelEntry} from './keras_config.js';
import {matchLabels} from './labels.js';
import './extra_layers.js';
import {DEFAULT_SCALE, type Scale} from '../core/scale.js';
import {NotAClassifierError, UnsupportedLayerError, WeightMismatchError, ModelUnusableError} from './errors.js';

/** How the model wants its pixels: shape, layout and value range. */
export interface InputContract {
  readonly height: number;
  readonly width: number;
  /** 3 (RGB) or 1 (greyscale). */
  readonly channels: number;
  /**
   * `nhwc`: [batch, h, w, c]; `nchw`: channels-first; `hw`: [batch, h, w] greyscale;
   * `flat`: [batch, h*w*c] (models that start with a Reshape or Dense on raw pixels).
   */
  readonly layout: 'nhwc' | 'nchw' | 'hw' | 'flat';
  readonly scale: Scale;
}

/** One class and its score. */
export interface ScoredLabel {
  readonly label: string;
  readonly index: number;
  readonly score: number;
}

/** The result of classifying one image. */
export interface Classification {
  readonly label: string;
  readonly index: number;
  readonly score: number;
  readonly top_k: ScoredLabel[];
  /** Milliseconds spent in predict + reading the result back. */
  readonly inference_ms: number;
}

/** A loaded, warmed-up model. Immutable; {@link dispose} frees its tensors. */
export interface LoadedModel {
  readonly name: string;
  readonly input: InputContract;
  readonly outputWidth: number;
  /** Labels in output order, or null (labels are then the class indices). */
  readonly labels: readonly string[] | null;
  readonly kerasVersion: string | null;
  /** The TensorFlow.js backend it runs on (`tensorflow`, `wasm`, `cpu`). */
  readonly backend: string;
  readonly byteSize: number;
  readonly paramCount: number;
  /** Whether the head already emits probabilities (softmax); if not, scores are softmax(logits). */
  readonly outputsProbabilities: boolean;
  readonly timings: {readonly read_ms: number; readonly build_ms: number; readonly warmup_ms: number};
  /** Classifies a batch of preprocessed images (each `height*width*channels` floats, HWC order). */
  classifyBatch(images: readonly Float32Array[], topK?: number): Promise<Classification[]>;
  /** Frees the model's tensors. Further calls fail. */
  dispose(): void;
}

/** Options for {@link loadKerasModel}. */
export interface LoadOptions {
  /** Model name for logs and metrics (default: from the config). */
  readonly name?: string;
  /** Labels in output order; matched to the output width now. */
  readonly labels?: readonly string[] | null;
  readonly labelsSource?: string;
  /** Input range (default `0,1`). */
  readonly scale?: Scale;
  /** Size cap in bytes (MAX_MODEL_BYTES). */
  readonly maxBytes?: number;
}

function isKnownClass(className: string): boolean {
  const map = (tf.serialization.SerializationMap.getMap() as unknown as {classNameMap: Record<string, unknown>})
    .classNameMap;
  return className in map;
}

/** Strips `:0` and splits a stored weight name into path components. */
function weightPath(name: string): string[] {
  return name.replace(/:\d+$/, '').split('/');
}

/** True when `suffix` equals the last components of `full`. */
function endsWithPath(full: string[], suffix: string[]): boolean {
  if (suffix.length > full.length) return false;
  return suffix.every((part, i) => full[full.length - suffix.length + i] === part);
}

/**
 * Orders a layer's stored weights as the tfjs layer lists them. tfjs puts trainable
 * weights first; Keras writes them in its own `layer.weights` order. Match by name
 * (`conv1/kernel:0` ~ tfjs `conv1/kernel`; Keras 3 `sequential/conv2d/kernel`), then
 * by the last name part, then by position; shapes are checked either way.
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
  const ordered: StoredWeight[] = [];
  targets.forEach((target, position) => {
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
    ordered.push(weight);
  });
  return ordered;
}

function sameShape(a: readonly number[], b: readonly (number | null)[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Sets every layer's weights from the file, layer by layer, in the file's order. */
function setWeights(model: tf.LayersModel, file: KerasH5File): void {
  const byName = new Map(model.layers.map(l => [l.name, l]));
  for (const [layerName, stored] of file.layerWeights) {
    if (stored.length === 0) continue;
    const layer = byName.get(layerName);
    if (!layer)
      throw new WeightMismatchError(
        `the file has weights for layer '${layerName}', which the model config does not have`
      );
    const ordered = orderWeights(layer, stored);
    const tensors = ordered.map(w => tf.tensor(w.values, [...w.shape], 'float32'));
    try {
      layer.setWeights(tensors);
    } finally {
      tf.dispose(tensors);
    }
  }
  const missing = model.layers.filter(l => l.weights.length > 0 && !file.layerWeights.get(l.name)?.length);
  if (missing.length > 0) {
    throw new WeightMismatchError(
      `the file has no weights for layer${missing.length > 1 ? 's' : ''} ${missing.map(l => `'${l.name}'`).join(', ')}`
    );
  }
}

/** Derives the image input contract from the model's input shape. */
export function inputContractFromShape(shape: readonly (number | null)[], scale: Scale): InputContract {
  const dims = shape.slice(1);
  if (dims.some(d => d === null || d <= 0)) {
    throw new NotAClassifierError(
      `model input shape [${shape.join(',')}] has unknown dimensions; save the model with a fixed input size (e.g. input_shape=(224, 224, 3))`
    );
  }
  const d = dims as number[];
  if (d.length === 3) {
    const [a, b, c] = d as [number, number, number];
    if (c === 3 || c === 1) return {height: a, width: b, channels: c, layout: 'nhwc', scale};
    if (a === 3 || a === 1) return {height: b, width: c, channels: a, layout: 'nchw', scale};
  } else if (d.length === 2) {
    return {height: d[0]!, width: d[1]!, channels: 1, layout: 'hw', scale};
  } else if (d.length === 1) {
    const n = d[0]!;
    for (const channels of [1, 3]) {
      const side = Math.round(Math.sqrt(n / channels));
      if (side * side * channels === n) return {height: side, width: side, channels, layout: 'flat', scale};
    }
  }
  throw new NotAClassifierError(
    `model input shape [${shape.join(',')}] is not an image (expected [h, w, 3|1], [3|1, h, w], [h, w] or a flat square)`
  );
}

/**
 * Loads a Keras `.h5` model from bytes and warms it up.
 *
 * @throws ModelUnusableError (or a subclass) for every file that cannot be served.
 */
export async function loadKerasModel(bytes: Uint8Array, options: LoadOptions = {}): Promise<LoadedModel> {
  const t0 = performance.now();
  const file = await readKerasH5(bytes, options.maxBytes === undefined ? {} : {maxBytes: options.maxBytes});
  const t1 = performance.now();
  const translated = translateModelConfig(file.modelConfig as ModelEntry, isKnownClass);
  let model: tf.LayersModel;
  try {
    model = await tf.models.modelFromJSON({modelTopology: translated as unknown as tf.io.ModelJSON['modelTopology']});
  } catch (e) {
    if (e instanceof ModelUnusableError) throw e;
    throw new UnsupportedLayerError(`TensorFlow.js cannot build this model: ${(e as Error).message}`);
  }
  try {
    setWeights(model, file);
    if (model.inputs.length !== 1 || model.outputs.length !== 1) {
      throw new NotAClassifierError(
        `model has ${model.inputs.length} inputs and ${model.outputs.length} outputs; an image classifier has one of each`
      );
    }
    const input = inputContractFromShape(model.inputs[0]!.shape, options.scale ?? DEFAULT_SCALE);
    const outShape = model.outputs[0]!.shape;
    if (outShape.length !== 2 || !outShape[1]) {
      throw new NotAClassifierError(
        `model output shape [${outShape.join(',')}] is not a class vector [batch, classes]`
      );
    }
    const outputWidth = outShape[1];
    const labels = options.labels ? matchLabels(options.labels, outputWidth, options.labelsSource) : null;
    const t2 = performance.now();
    const outputsProbabilities = warmUp(model, input);
    const t3 = performance.now();
    return new KerasClassifier(model, {
      name: options.name ?? String((translated.config as {name?: string}).name ?? 'model'),
      input,
      outputWidth,
      labels,
      kerasVersion: file.kerasVersion,
      backend: tf.getBackend(),
      byteSize: bytes.length,
      paramCount: file.paramCount,
      outputsProbabilities,
      timings: {read_ms: t1 - t0, build_ms: t2 - t1, warmup_ms: t3 - t2},
    });
  } catch (e) {
    model.dispose();
    throw e;
  }
}

/**
 * Runs one prediction on a mid-grey image: compiles the backend's kernels before the
 * first real request, and tells whether the head already emits probabilities.
 */
function warmUp(model: tf.LayersModel, input: InputContract): boolean {
  const probe = new Float32Array(input.height * input.width * input.channels).fill(0.5);
  const out = tf.tidy(() => (model.predict(toBatchTensor([probe], input)) as tf.Tensor).dataSync());
  let sum = 0;
  for (const v of out) {
    if (!Number.isFinite(v))
      throw new NotAClassifierError('warm-up prediction produced NaN or Infinity: the weights are broken');
    if (v < 0) return false;
    sum += v;
  }
  return Math.abs(sum - 1) < 1e-3;
}

/** Stacks HWC images into the model's input tensor. Call inside tf.tidy. */
function toBatchTensor(images: readonly Float32Array[], input: InputContract): tf.Tensor {
  const {height: h, width: w, channels: c} = input;
  const size = h * w * c;
  const data = new Float32Array(size * images.length);
  images.forEach((img, i) => {
    if (img.length !== size) throw new Error(`preprocessed image has ${img.length} values, the model needs ${size}`);
    data.set(img, i * size);
  });
  const nhwc = tf.tensor4d(data, [images.length, h, w, c]);
  switch (input.layout) {
    case 'nhwc':
      return nhwc;
    case 'nchw':
      return tf.transpose(nhwc, [0, 3, 1, 2]);
    case 'hw':
      return tf.reshape(nhwc, [images.length, h, w]);
    case 'flat':
      return tf.reshape(nhwc, [images.length, size]);
  }
}

/** What a loaded model says about itself: all of {@link LoadedModel} but its methods. */
export type ModelInfo = Omit<LoadedModel, 'classifyBatch' | 'dispose'>;

/** The {@link ModelInfo} of a model, as plain data (it crosses thread boundaries). */
export function modelInfo(m: ModelInfo): ModelInfo {
  const {name, input, outputWidth, labels, kerasVersion, backend, byteSize, paramCount, outputsProbabilities, timings} =
    m;
  return {name, input, outputWidth, labels, kerasVersion, backend, byteSize, paramCount, outputsProbabilities, timings};
}

/** The descriptive half of a {@link LoadedModel}; subclasses say where it runs. */
export abstract class ModelBase implements LoadedModel {
  readonly name: string;
  readonly input: InputContract;
  readonly outputWidth: number;
  readonly labels: readonly string[] | null;
  readonly kerasVersion: string | null;
  readonly backend: string;
  readonly byteSize: number;
  readonly paramCount: number;
  readonly outputsProbabilities: boolean;
  readonly timings: LoadedModel['timings'];

  constructor(info: ModelInfo) {
    this.name = info.name;
    this.input = info.input;
    this.outputWidth = info.outputWidth;
    this.labels = info.labels;
    this.kerasVersion = info.kerasVersion;
    this.backend = info.backend;
    this.byteSize = info.byteSize;
    this.paramCount = info.paramCount;
    this.outputsProbabilities = info.outputsProbabilities;
    this.timings = info.timings;
  }

  abstract classifyBatch(images: readonly Float32Array[], topK?: number): Promise<Classification[]>;
  abstract dispose(): void;
}

class KerasClassifier extends ModelBase {
  private disposed = false;

  constructor(
    private readonly model: tf.LayersModel,
    info: ModelInfo
  ) {
    super(info);
  }

  async classifyBatch(images: readonly Float32Array[], topK = 5): Promise<Classification[]> {
    if (this.disposed) throw new Error(`model ${this.name} was disposed`);
    if (images.length === 0) return [];
    const start = performance.now();
    const scores = tf.tidy(() => {
      const out = this.model.predict(toBatchTensor(images, this.input)) as tf.Tensor2D;
      return this.outputsProbabilities ? out : tf.softmax(out);
    });
    let values: Float32Array;
    try {
      values = (await scores.data()) as Float32Array;
    } finally {
      scores.dispose();
    }
    const inferenceMs = performance.now() - start;
    const k = Math.max(1, Math.min(topK, this.outputWidth));
    return images.map((_, i) => {
      const row = values.subarray(i * this.outputWidth, (i + 1) * this.outputWidth);
      const top = topIndices(row, k).map(index => ({label: this.labelOf(index), index, score: row[index]!}));
      const best = top[0]!;
      return {label: best.label, index: best.index, score: best.score, top_k: top, inference_ms: inferenceMs};
    });
  }

  private labelOf(index: number): string {
    return this.labels?.[index] ?? String(index);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.model.dispose();
  }
}

/** Indices of the k largest values, largest first (a partial selection, not a full sort). */
export function topIndices(values: ArrayLike<number>, k: number): number[] {
  const best: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (best.length === k && v <= values[best[k - 1]!]!) continue;
    let j = best.length === k ? k - 1 : best.length;
    while (j > 0 && values[best[j - 1]!]! < v) {
      best[j] = best[j - 1]!;
      j--;
    }
    best[j] = i;
  }
  return best;
}
