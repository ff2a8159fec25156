/**
 * Reads a Keras HDF5 model file (`model.save('x.h5')`) from bytes, with h5wasm (h5_file.ts).
 *
 * What Keras writes (Keras 2 `hdf5_format.py`, tf.keras `saving/legacy/hdf5_format.py`,
 * Keras 3 `legacy/saving/legacy_h5_format.py`), and what this reads:
 * - root attributes `model_config` (JSON), `keras_version`, `backend`;
 * - group `model_weights` with attribute `layer_names`, and for each layer a group whose
 *   attribute `weight_names` lists dataset paths (relative to that group) in the order
 *   Keras' `layer.weights` had them. That order is the contract, not the dataset names.
 *
 * Nothing here touches TensorFlow.js: the result is plain data, so it can be produced in
 * any thread.
 */
import {
  CorruptHdf5Error,
  ModelUnusableError,
  ModelTooLargeError,
  NotHdf5Error,
  UnsupportedKerasVersionError,
  WeightsOnlyError,
} from '../../core/errors.js';
import {attrString, attrStrings, isHdf5, isZip, readDataset, withH5, type H5Group} from './h5_file.js';
import {parseConfigJson} from './json.js';

/** One stored weight array. */
export interface StoredWeight {
  /** The name Keras wrote in `weight_names`, e.g. `conv1/kernel:0`. */
  readonly name: string;
  readonly shape: readonly number[];
  readonly values: Float32Array;
}

/** A Keras model file, read but not yet built. */
export interface KerasModelFile {
  /** Parsed `model_config`: `{class_name, config}`. */
  readonly modelConfig: {class_name: string; config: unknown};
  readonly kerasVersion: string | null;
  readonly backend: string | null;
  /** Layer name → its weights, in the file's `weight_names` order. */
  readonly layerWeights: ReadonlyMap<string, readonly StoredWeight[]>;
  /** Count of all stored weight values. */
  readonly paramCount: number;
}

/** Options for {@link readKerasH5}. */
export interface ReadOptions {
  /** Refuse files larger than this many bytes before reading them. */
  readonly maxBytes?: number;
  /**
   * Refuse a model whose datasets declare more values than this, before reading them
   * (`MAX_MODEL_PARAMS`): a few KB of gzip-filtered HDF5 may declare gigabytes.
   */
  readonly maxParams?: number;
}

/** Default `MAX_MODEL_PARAMS`: 100 M values (400 MB of float32; ResNet50 has 25 M). */
export const DEFAULT_MAX_MODEL_PARAMS = 100_000_000;

/** What is left of a model's parameter budget while its weights are read. */
export interface ParamBudget {
  left: number;
  readonly max: number;
}

/** Default cap on model size (`MAX_MODEL_BYTES`): 512 MiB. */
export const DEFAULT_MAX_MODEL_BYTES = 512 * 1024 * 1024;

/** Throws a {@link NotHdf5Error} that says what the bytes look like instead. */
function rejectNonHdf5(bytes: Uint8Array): never {
  if (isZip(bytes)) {
    throw new NotHdf5Error(
      "not an HDF5 file: this is a Keras 3 .keras archive (a zip); save with model.save('x.h5') to get a legacy HDF5 model file"
    );
  }
  const head = Buffer.from(bytes.subarray(0, 64)).toString('utf8').trimStart();
  if (head.startsWith('{')) {
    throw new NotHdf5Error(
      "not an HDF5 file: this looks like JSON (a model.to_json() topology or a TensorFlow.js model.json); save the whole model with model.save('x.h5')"
    );
  }
  if (bytes.length === 0) throw new NotHdf5Error('not an HDF5 file: the file is empty');
  const hex = Buffer.from(bytes.subarray(0, 8)).toString('hex');
  throw new NotHdf5Error(
    `not an HDF5 file: no HDF5 signature (first bytes ${hex}); save the model with model.save('x.h5')`
  );
}

function detectKeras1(config: unknown, kerasVersion: string | null): boolean {
  if (kerasVersion !== null) return kerasVersion.startsWith('1.');
  // Keras 1 wrote Sequential configs as a bare list of layers, and no keras_version.
  const c = config as {config?: unknown};
  return Array.isArray(c?.config);
}

/**
 * Reads the model config and every weight of a Keras HDF5 model file.
 *
 * @throws ModelTooLargeError, NotHdf5Error, CorruptHdf5Error, WeightsOnlyError,
 *   UnsupportedKerasVersionError: all subclasses of ModelUnusableError.
 */
export async function readKerasH5(bytes: Uint8Array, options: ReadOptions = {}): Promise<KerasModelFile> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_MODEL_BYTES;
  if (bytes.length > maxBytes) {
    throw new ModelTooLargeError(
      `model file is ${bytes.length} bytes, over MAX_MODEL_BYTES (${maxBytes}); raise the limit or ship a smaller model`
    );
  }
  if (!isHdf5(bytes)) rejectNonHdf5(bytes);

  return withH5(bytes, file => readOpenFile(file, paramBudget(options)));
}

/** A fresh budget for one model's weights. */
export function paramBudget(options: ReadOptions): ParamBudget {
  const max = options.maxParams ?? DEFAULT_MAX_MODEL_PARAMS;
  return {left: max, max};
}

function readOpenFile(file: H5Group, budget: ParamBudget): KerasModelFile {
  const kerasVersion = attrString(file, 'keras_version');
  const backend = attrString(file, 'backend');
  const rawConfig = attrString(file, 'model_config');
  if (rawConfig === null) {
    if (file.attrs['layer_names'] !== undefined || file.keys().length > 0) {
      throw new WeightsOnlyError(
        `weights-only file (written by save_weights(); Keras ${kerasVersion ?? 'unknown'}): it has no model_config to build the model from; save the whole model with model.save('x.h5')`
      );
    }
    throw new WeightsOnlyError(
      "HDF5 file without a model_config attribute: not a Keras model saved with model.save('x.h5')"
    );
  }
  let modelConfig: {class_name: string; config: unknown};
  try {
    modelConfig = parseConfigJson(rawConfig, 'model_config') as {class_name: string; config: unknown};
  } catch (e) {
    if (e instanceof ModelUnusableError) throw e;
    throw new CorruptHdf5Error(`model_config attribute is not valid JSON: ${(e as Error).message}`);
  }
  if (detectKeras1(modelConfig, kerasVersion)) {
    throw new UnsupportedKerasVersionError(
      `Keras ${kerasVersion ?? '1.x'} file: Keras 1 model configs (Convolution2D, dim_ordering, …) are not supported; load it in Keras 2 or later and save it again with model.save('x.h5')`
    );
  }

  const weightsRoot = file.get('model_weights');
  const root = weightsRoot instanceof Object && 'keys' in weightsRoot ? (weightsRoot as H5Group) : file;
  const layerWeights = new Map<string, StoredWeight[]>();
  let paramCount = 0;
  for (const layerName of attrStrings(root, 'layer_names')) {
    const group = root.get(layerName) as H5Group | null;
    if (!group) throw new CorruptHdf5Error(`model_weights lists layer '${layerName}' but has no group for it`);
    const weights: StoredWeight[] = [];
    for (const weightName of attrStrings(group, 'weight_names')) {
      const weight = readDataset(group, weightName, `${layerName}/${weightName}`, budget);
      if (!weight) {
        throw new CorruptHdf5Error(`layer '${layerName}' lists weight '${weightName}' but the dataset is missing`);
      }
      weights.push({...weight, name: weightName});
      paramCount += weight.values.length;
    }
    layerWeights.set(layerName, weights);
  }
  return {modelConfig, kerasVersion, backend, layerWeights, paramCount};
}
