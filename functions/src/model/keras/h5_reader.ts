/**
 * Reads a Keras HDF5 model file (`model.save('x.h5')`) from bytes, with h5wasm.
 *
 * What Keras writes (Keras 2 `hdf5_format.py`, tf.keras `saving/legacy/hdf5_format.py`,
 * Keras 3 `legacy/saving/legacy_h5_format.py`), and what this reads:
 * - root attributes `model_config` (JSON), `keras_version`, `backend`;
 * - group `model_weights` with attribute `layer_names`, and for each layer a group whose
 *   attribute `weight_names` lists dataset paths (relative to that group) in the order
 *   Keras' `layer.weights` had them. That order is the contract, not the dataset names.
 *
 * Nothing here touches TensorFlow.js: the result is plain data, so it can be produced in
 * any thread. h5wasm keeps an in-memory file system per module instance; each read uses
 * its own file name there and removes it when done, so concurrent reads do not collide
 * and nothing is written to disk.
 */
import {
  CorruptHdf5Error,
  ModelUnusableError,
  ModelTooLargeError,
  NotHdf5Error,
  UnsupportedKerasVersionError,
  WeightsOnlyError,
} from '../../core/errors.js';
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

const HDF5_SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];
const ZIP_SIGNATURE = [0x50, 0x4b, 0x03, 0x04];

type H5Module = typeof import('h5wasm');

let h5Promise: Promise<H5Module> | undefined;
/** Lines HDF5's own error stack prints while a read is in progress (see loadH5). */
let diagnostics: string[] | undefined;

/**
 * Loads h5wasm once per module instance (i.e. per thread).
 *
 * libhdf5 prints its error stack ("HDF5-DIAG: …") through the `console.error` that the
 * Emscripten module binds when it is created. A damaged upload is a normal, permanent
 * outcome here, not something to spray over Cloud Logging at ERROR, so while the
 * module is created `console.error` is briefly a forwarder that hands those lines to
 * the read in progress (they end up in the thrown error's message) and passes
 * everything else through.
 */
function loadH5(): Promise<H5Module> {
  h5Promise ??= (async () => {
    const original = console.error;
    const forward = (...args: unknown[]): void => {
      if (diagnostics) diagnostics.push(args.map(String).join(' '));
      else original.apply(console, args);
    };
    console.error = forward;
    try {
      const h5 = await import('h5wasm');
      await h5.ready;
      return h5;
    } finally {
      if (console.error === forward) console.error = original;
    }
  })();
  return h5Promise;
}

let fileCounter = 0;

function startsWith(bytes: Uint8Array, signature: number[], offset = 0): boolean {
  if (bytes.length < offset + signature.length) return false;
  return signature.every((b, i) => bytes[offset + i] === b);
}

/**
 * HDF5 allows a user block before the superblock; the signature is then at
 * 512, 1024, 2048, … bytes (HDF5 file format spec, "Format Signature").
 */
function hasHdf5Signature(bytes: Uint8Array): boolean {
  for (let offset = 0; offset + 8 <= bytes.length; offset = offset === 0 ? 512 : offset * 2) {
    if (startsWith(bytes, HDF5_SIGNATURE, offset)) return true;
  }
  return false;
}

/** Throws a {@link NotHdf5Error} that says what the bytes look like instead. */
function rejectNonHdf5(bytes: Uint8Array): never {
  if (startsWith(bytes, ZIP_SIGNATURE)) {
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

function attrString(group: H5Group, name: string): string | null {
  const attr = group.attrs[name];
  if (attr === undefined) return null;
  const value: unknown = attr.value;
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
  if (Array.isArray(value) && value.length === 1 && typeof value[0] === 'string') return value[0];
  return String(value);
}

function attrStrings(group: H5Group, name: string): string[] {
  const attr = group.attrs[name];
  if (attr === undefined) return [];
  const value: unknown = attr.value;
  if (typeof value === 'string') return [value];
  if (Array.isArray(value))
    return value.map(v => (v instanceof Uint8Array ? Buffer.from(v).toString('utf8') : String(v)));
  // An empty list is stored as an empty numeric array.
  if (ArrayBuffer.isView(value)) return [];
  return [];
}

/** IEEE 754 half precision → single (Keras mixed-precision files may store float16). */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

function toFloat32(value: unknown, dtype: string, where: string): Float32Array {
  if (value instanceof Float32Array) return value;
  if (dtype === '<e' || dtype === '>e') {
    const halves = value as Uint16Array;
    return Float32Array.from(halves, halfToFloat);
  }
  if (
    value instanceof Float64Array ||
    value instanceof Int32Array ||
    value instanceof Int16Array ||
    value instanceof Int8Array ||
    value instanceof Uint8Array ||
    value instanceof Uint16Array ||
    value instanceof Uint32Array
  ) {
    return Float32Array.from(value);
  }
  if (typeof value === 'number') return Float32Array.of(value);
  if (typeof value === 'bigint') return Float32Array.of(Number(value));
  if (value instanceof BigInt64Array || value instanceof BigUint64Array) {
    return Float32Array.from(value, v => Number(v));
  }
  throw new CorruptHdf5Error(`weight ${where} has an unreadable data type (${dtype})`);
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
  if (!hasHdf5Signature(bytes)) rejectNonHdf5(bytes);

  return withH5(bytes, file => readOpenFile(file, paramBudget(options)));
}

/**
 * Opens HDF5 bytes with h5wasm and hands the file to `read`; a file h5wasm cannot read
 * becomes a CorruptHdf5Error naming what HDF5 said. Used for `.h5` models and for the
 * `model.weights.h5` inside `.keras` archives.
 */
export async function withH5<T>(bytes: Uint8Array, read: (file: H5Group) => T): Promise<T> {
  const h5 = await loadH5();
  const fs = h5.FS;
  if (!fs) throw new Error('h5wasm did not initialise its file system');
  const path = `/keras-model-${process.pid}-${++fileCounter}.h5`;
  fs.writeFile(path, bytes);
  diagnostics = [];
  let file: InstanceType<H5Module['File']> | undefined;
  try {
    try {
      file = new h5.File(path, 'r');
      return read(file);
    } catch (e) {
      if (e instanceof ModelUnusableError) throw e;
      // h5wasm may open a damaged file and fail on the first attribute or dataset read.
      throw new CorruptHdf5Error(
        `HDF5 file is truncated or corrupt (${bytes.length} bytes; HDF5 says: ${summarise(diagnostics, e)}); upload the complete file again`,
        {cause: e}
      );
    }
  } finally {
    try {
      file?.close();
    } finally {
      diagnostics = undefined;
      fs.unlink(path);
    }
  }
}

/** An open HDF5 group (h5wasm's Group). */
export type H5Group = InstanceType<H5Module['Group']>;

/** A fresh budget for one model's weights. */
export function paramBudget(options: ReadOptions): ParamBudget {
  const max = options.maxParams ?? DEFAULT_MAX_MODEL_PARAMS;
  return {left: max, max};
}

/**
 * The dataset at `path` in `group` as float32, or null when there is none. Its declared
 * shape is charged to `budget` before a byte of it is read or inflated.
 */
export function readDataset(group: H5Group, path: string, where: string, budget: ParamBudget): StoredWeight | null {
  const dataset = group.get(path) as {value: unknown; shape: number[] | null; dtype: string} | null;
  if (!dataset || !('dtype' in dataset)) return null;
  const declared = (dataset.shape ?? []).reduce((n, d) => n * d, 1);
  budget.left -= declared;
  if (budget.left < 0)
    throw new ModelTooLargeError(
      `weight '${where}' declares ${declared} values (shape [${(dataset.shape ?? []).join(', ')}]); the model is over MAX_MODEL_PARAMS (${budget.max}) and is refused before its weights are read`
    );
  let raw: unknown;
  try {
    raw = dataset.value;
  } catch (e) {
    throw new CorruptHdf5Error(`weight '${where}' cannot be read (truncated file?)`, {cause: e});
  }
  return {name: where, shape: dataset.shape ?? [], values: toFloat32(raw, dataset.dtype, where)};
}

/** Whether the bytes start (after an optional user block) with the HDF5 signature. */
export function isHdf5(bytes: Uint8Array): boolean {
  return hasHdf5Signature(bytes);
}

/** Whether the bytes are a zip archive (a Keras 3 `.keras` file, if it is a model at all). */
export function isZip(bytes: Uint8Array): boolean {
  return startsWith(bytes, ZIP_SIGNATURE);
}

function summarise(lines: string[] | undefined, e: unknown): string {
  const minor = (lines ?? [])
    .map(l => l.trim())
    .filter(l => l.startsWith('minor:'))
    .map(l => l.slice('minor:'.length).trim());
  const unique = [...new Set(minor)];
  if (unique.length > 0) return unique.slice(-2).join('; ');
  return e instanceof Error ? e.message : String(e);
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
