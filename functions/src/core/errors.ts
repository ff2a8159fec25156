/**
 * The one error taxonomy of both functions.
 *
 * A {@link PermanentError} means "retrying the same input cannot succeed": a handler
 * records it (with its `kind`) and acknowledges the event. Everything else is transient
 * and is thrown, so that Eventarc or Pub/Sub delivers the event again
 * (functions-framework answers 500). {@link isPermanent} is the only test either handler
 * makes. The subclasses exist for routing and for tests; the message always names the
 * cause and, where there is one, the way out.
 */

/** A failure that retrying the same input cannot fix. `kind` is stable and machine-readable. */
export class PermanentError extends Error {
  /** Stable, machine-readable cause, e.g. `not_hdf5`, `decode`, `not_found`. */
  readonly kind: string;
  constructor(kind: string, message: string, options?: {cause?: unknown}) {
    super(message, options);
    this.name = new.target.name;
    this.kind = kind;
  }
}

/** True for errors that must be recorded and acknowledged, never redelivered. */
export function isPermanent(e: unknown): e is PermanentError {
  return e instanceof PermanentError;
}

/** The object does not exist (or not at that generation). */
export class ObjectNotFoundError extends PermanentError {
  constructor(message: string) {
    super('not_found', message);
  }
}

/** The object is larger than the caller accepts. */
export class ObjectTooLargeError extends PermanentError {
  constructor(message: string) {
    super('too_large', message);
  }
}

/** A model file that cannot be served. */
export class ModelUnusableError extends PermanentError {}

/** Not an HDF5 file at all (including Keras 3 `.keras` zip archives). */
export class NotHdf5Error extends ModelUnusableError {
  constructor(message: string) {
    super('not_hdf5', message);
  }
}

/** An HDF5 signature, but the file is truncated or damaged. */
export class CorruptHdf5Error extends ModelUnusableError {
  constructor(message: string, options?: {cause?: unknown}) {
    super('corrupt_hdf5', message, options);
  }
}

/** A `save_weights()` file: weights but no `model_config` to build a model from. */
export class WeightsOnlyError extends ModelUnusableError {
  constructor(message: string) {
    super('weights_only', message);
  }
}

/** A Keras version this reader does not translate (Keras 1.x). */
export class UnsupportedKerasVersionError extends ModelUnusableError {
  constructor(message: string) {
    super('unsupported_keras_version', message);
  }
}

/** A layer (or layer option) that TensorFlow.js cannot run: Lambda, custom layers, … */
export class UnsupportedLayerError extends ModelUnusableError {
  constructor(message: string) {
    super('unsupported_layer', message);
  }
}

/** The model config cannot describe a model: a dangling reference, a cycle, no layers. */
export class InvalidConfigError extends ModelUnusableError {
  constructor(message: string) {
    super('invalid_config', message);
  }
}

/** The model's structure and the stored weights do not fit together. */
export class WeightMismatchError extends ModelUnusableError {
  constructor(message: string) {
    super('weight_mismatch', message);
  }
}

/** The label file does not fit the model's output width (or cannot be parsed). */
export class LabelMismatchError extends ModelUnusableError {
  constructor(message: string) {
    super('label_mismatch', message);
  }
}

/** The model file is larger than `MAX_MODEL_BYTES`. */
export class ModelTooLargeError extends ModelUnusableError {
  constructor(message: string) {
    super('model_too_large', message);
  }
}

/** A `.keras` archive that is not a readable zip, or has no model config in it. */
export class CorruptArchiveError extends ModelUnusableError {
  constructor(message: string, options?: {cause?: unknown}) {
    super('corrupt_archive', message, options);
  }
}

/** The model's input or output is not that of an image classifier. */
export class NotAClassifierError extends ModelUnusableError {
  constructor(message: string) {
    super('not_a_classifier', message);
  }
}

/**
 * An image that cannot be classified (undecodable, too large, a decompression
 * bomb, …). Permanent: the same bytes fail the same way every time.
 */
export class ImageError extends PermanentError {}

/** A message that can never be classified (no path, a path outside the allow-list, …). */
export class MessageError extends PermanentError {}

/**
 * A message for a model key that has no record (or a message that names no key where the
 * pattern has `{key}` and DEFAULT_MODEL_KEY is unset): kind `unknown_model`. Permanent: a
 * key that does not exist now is a wrong message, not a record that will appear.
 */
export class UnknownModelError extends PermanentError {
  constructor(message: string) {
    super('unknown_model', message);
  }
}

/** A model whose output for an image is NaN or Infinity: kind `bad_output`, permanent for that image. */
export class BadOutputError extends PermanentError {
  constructor(message: string) {
    super('bad_output', message);
  }
}

/**
 * No model can serve a request: none loaded yet and the one asked for failed to load, or
 * (CUTOVER=consistent) it is still loading. Transient: the message is redelivered.
 */
export class ModelUnavailableError extends Error {}

/** Whether an error message says memory ran out (transient: another instance, or later, may have it). */
export function isOutOfMemory(message: string): boolean {
  return /out of memory|\boom\b|alloc/i.test(message);
}

/**
 * The inference engine failed, not the model: a worker thread died, was replaced or could not
 * start, the pool was closed. Transient. Any other failure of a model on its warm-up input is
 * the model's (model/loader.ts).
 */
export class EngineUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EngineUnavailableError';
  }
}
