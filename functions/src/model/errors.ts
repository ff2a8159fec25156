/**
 * Errors raised by the model layer. Every class here means "this file (or
 * input) is unusable as it is": retrying the same bytes cannot succeed, so the
 * callers treat them as permanent outcomes, never as reasons to redeliver.
 *
 * The subclasses exist for routing and for tests; the message always names
 * the cause and, where there is one, the way out.
 */

/** A model file that cannot be served. `kind` is a stable machine-readable cause. */
export class ModelUnusableError extends Error {
  /** Stable, machine-readable cause, e.g. `not_hdf5`. */
  readonly kind: string;
  constructor(kind: string, message: string, options?: {cause?: unknown}) {
    super(message, options);
    this.name = new.target.name;
    this.kind = kind;
  }
}

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
export class ImageError extends Error {
  /** Stable cause: `decode`, `too_large`, `too_many_pixels`, `empty`. */
  readonly kind: string;
  constructor(kind: string, message: string, options?: {cause?: unknown}) {
    super(message, options);
    this.name = 'ImageError';
    this.kind = kind;
  }
}
