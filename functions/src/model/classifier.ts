/**
 * The classifier every engine is served through: preprocessing (model/preprocess.ts),
 * the engine's raw outputs, softmax where the head emits logits, top-k and labels. As in
 * tfjs-models' mobilenet, `load()` (model/loader.ts) returns the {@link Classifier}
 * interface and this class stays private to model/.
 */
import {BadOutputError} from '../core/errors.js';
import type {Classification, Classifier, InputContract, Scoring} from '../core/ports.js';
import type {EngineModel} from './engines/engine.js';
import {classCount, classScores} from './head.js';
import {preprocessImage, type PreprocessOptions} from './preprocess.js';

/**
 * Preprocessed pixels per image bytes (the same object) and per input: a shadow rollout runs
 * the candidate on the bytes the stable model has just classified, and where both take the same
 * input this spares the second decode (about half of an image's CPU). Kept as long as the bytes
 * are, which the handler drops with its message.
 */
const decoded = new WeakMap<Uint8Array, Map<string, Promise<Float32Array>>>();

/** Images decoded by this process (a decode shared by two models counts once). */
export const decodeStats = {decodes: 0};

/** Two classifiers share a decode when their keys (input and options) are equal. */
function decodeKey(input: InputContract, options: PreprocessOptions): string {
  return JSON.stringify([input, options]);
}

function preprocessOnce(
  image: Uint8Array,
  key: string,
  input: InputContract,
  options: PreprocessOptions
): Promise<Float32Array> {
  let forImage = decoded.get(image);
  if (!forImage) decoded.set(image, (forImage = new Map()));
  let pixels = forImage.get(key);
  if (!pixels) {
    pixels = preprocessImage(image, input, options);
    decodeStats.decodes++;
    forImage.set(key, pixels);
    pixels.catch(() => forImage.delete(key));
  }
  return pixels;
}

/** What a classifier says about itself, beside its engine. */
export type ClassifierInfo = Omit<
  Classifier,
  'engine' | 'backend' | 'outputWidth' | 'classify' | 'classifyPixels' | 'dispose'
>;

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

/** See the module comment. */
export class ImageClassifier implements Classifier {
  readonly name: string;
  readonly input: InputContract;
  readonly labels: readonly string[] | null;
  readonly kerasVersion: string | null;
  readonly byteSize: number;
  readonly paramCount: number;
  readonly scoring: Scoring;
  readonly timings: Classifier['timings'];
  private readonly decodeKey: string;

  constructor(
    private readonly model: EngineModel,
    info: ClassifierInfo,
    private readonly preprocessOptions: PreprocessOptions
  ) {
    ({
      name: this.name,
      input: this.input,
      labels: this.labels,
      kerasVersion: this.kerasVersion,
      byteSize: this.byteSize,
      paramCount: this.paramCount,
      scoring: this.scoring,
      timings: this.timings,
    } = info);
    this.decodeKey = decodeKey(this.input, preprocessOptions);
  }

  get engine(): string {
    return this.model.engine;
  }
  get backend(): string {
    return this.model.backend;
  }
  get outputWidth(): number {
    return classCount(this.model.outputWidth, this.scoring);
  }

  async classify(image: Uint8Array, topK: number): Promise<Classification> {
    const t0 = performance.now();
    const pixels = await preprocessOnce(image, this.decodeKey, this.input, this.preprocessOptions);
    const preprocessMs = performance.now() - t0;
    const [result] = await this.classifyPixels([pixels], topK);
    return {...result!, preprocess_ms: preprocessMs};
  }

  async classifyPixels(images: readonly Float32Array[], topK: number): Promise<Classification[]> {
    const {values, inferenceMs} = await this.run(images);
    return images.map((_, i) => this.answer(values, i, topK, inferenceMs));
  }

  /** Runs preprocessed images through the engine as one batch. */
  private async run(images: readonly Float32Array[]): Promise<{values: Float32Array; inferenceMs: number}> {
    if (images.length === 0) return {values: new Float32Array(0), inferenceMs: 0};
    const size = this.input.height * this.input.width * this.input.channels;
    for (const img of images) {
      if (img.length !== size) throw new Error(`preprocessed image has ${img.length} values, the model needs ${size}`);
    }
    // One image (every single-image message) goes to the engine as it is; only a real batch
    // is concatenated.
    let batch = images[0]!;
    if (images.length > 1) {
      batch = new Float32Array(size * images.length);
      images.forEach((img, i) => batch.set(img, i * size));
    }
    const start = performance.now();
    const values = await this.model.predict(batch, images.length);
    return {values, inferenceMs: performance.now() - start};
  }

  /** Row `i` of a batch's outputs as probabilities, top-k and labels. */
  private answer(values: Float32Array, i: number, topK: number, inferenceMs: number): Classification {
    const width = this.model.outputWidth;
    const k = Math.max(1, Math.min(topK, this.outputWidth));
    const raw = values.subarray(i * width, (i + 1) * width);
    // NaN or Infinity out of a model that passed its warm-up: the weights blow up on real
    // inputs. A permanent failure for this image, never a label picked from garbage.
    if (raw.some(v => !Number.isFinite(v)))
      throw new BadOutputError(`the model's output is not finite (NaN or Infinity) for this image`);
    const row = classScores(raw, this.scoring);
    const top = topIndices(row, k).map(index => ({
      label: this.labels?.[index] ?? String(index),
      index,
      score: row[index]!,
    }));
    const best = top[0]!;
    return {
      label: best.label,
      index: best.index,
      score: best.score,
      top_k: top,
      inference_ms: inferenceMs,
      preprocess_ms: 0,
    };
  }

  dispose(): void {
    this.model.dispose();
  }
}
