/**
 * One entry for every Keras model file: a legacy HDF5 `.h5` (keras/h5_reader.ts) or a
 * Keras 3 `.keras` archive (keras/archive.ts), told apart by their bytes, not their names.
 */
import {readKerasArchive} from './archive.js';
import {isZip} from './h5_file.js';
import {readKerasH5, type KerasModelFile, type ReadOptions} from './h5_reader.js';

/** Reads a Keras model file of either format. */
export function readKerasModel(bytes: Uint8Array, options: ReadOptions = {}): Promise<KerasModelFile> {
  return isZip(bytes) ? readKerasArchive(bytes, options) : readKerasH5(bytes, options);
}
