/**
 * HDF5 bytes through h5wasm: the signature, opening a file in h5wasm's in-memory file system
 * ({@link withH5}), string attributes, and datasets read as float32 under a parameter budget.
 * Used for `.h5` models (h5_reader.ts) and the `model.weights.h5` inside `.keras` archives
 * (archive.ts). h5wasm keeps an in-memory file system per module instance; each read uses its
 * own file name there and removes it when done, so concurrent reads do not collide and
 * nothing is written to disk.
 */
import {CorruptHdf5Error, ModelTooLargeError, ModelUnusableError} from '../../core/errors.js';
import type {ParamBudget, StoredWeight} from './h5_reader.js';

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

/** A string attribute of `group` (h5wasm returns strings, bytes or one-string arrays), or null. */
export function attrString(group: H5Group, name: string): string | null {
  const attr = group.attrs[name];
  if (attr === undefined) return null;
  const value: unknown = attr.value;
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
  if (Array.isArray(value) && value.length === 1 && typeof value[0] === 'string') return value[0];
  return String(value);
}

/** A list-of-strings attribute of `group` (`layer_names`, `weight_names`); [] when absent. */
export function attrStrings(group: H5Group, name: string): string[] {
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
