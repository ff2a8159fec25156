/**
 * What an inference engine gives the classifier: a model that maps a batch of
 * preprocessed images to its raw output rows. Engines know nothing of labels, top-k or
 * images; the classifier (model/classifier.ts) does that once for all of them.
 */

/** Engine names, as `INFERENCE_ENGINE` spells them. */
export type EngineName = 'onnx' | 'tfjs';

/** A model loaded in one engine. */
export interface EngineModel {
  readonly engine: EngineName;
  /** Where it runs: `onnxruntime-cpu`, or the TensorFlow.js backend (`tensorflow`, `wasm`, `cpu`). */
  readonly backend: string;
  /** Width of one output row (the class count); -1 when the model's output is not one `[batch, n]` vector. */
  readonly outputWidth: number;
  /**
   * Runs `count` images, concatenated HWC float32 (`count * h * w * c` values), and
   * returns `count * outputWidth` raw outputs. The tfjs worker pool answers from worker
   * threads; an in-thread tfjs model and ONNX Runtime compute in this thread and hold the
   * event loop for the length of an inference (onnxruntime-node 1.30 calls its native `run`
   * synchronously: README, Performance), while decoding goes on on libuv's threads.
   */
  predict(batch: Float32Array, count: number): Promise<Float32Array>;
  /** Frees the model (native sessions, tensors, workers' copies). Further calls fail. */
  dispose(): void;
}
