/**
 * The {@link FileStore} port on the local file system: `LOCAL_IMAGE_DIR` images and label
 * files given as absolute paths (local use). Missing files and folders are
 * ObjectNotFoundError, files over the cap ObjectTooLargeError (both permanent), as the
 * Cloud Storage adapter reports them.
 */
import fs from 'node:fs/promises';
import {ObjectNotFoundError, ObjectTooLargeError} from '../core/errors.js';
import type {FileStore} from '../core/ports.js';

/** Reads local files with the size cap checked before the read. */
export function localFiles(): FileStore {
  return {
    async read(path, {maxBytes}) {
      try {
        const stat = await fs.stat(path);
        if (stat.isDirectory()) throw new ObjectNotFoundError(`${path} is a folder, not a file`);
        if (stat.size > maxBytes)
          throw new ObjectTooLargeError(`${path} is ${stat.size} bytes, over the limit of ${maxBytes}`);
        return await fs.readFile(path);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') throw new ObjectNotFoundError(`${path}: no such file`);
        if (code === 'EISDIR') throw new ObjectNotFoundError(`${path} is a folder, not a file`);
        throw e;
      }
    },
  };
}
