/** {@link ObjectStore} on Cloud Storage (`@google-cloud/storage`). */
import type {Storage} from '@google-cloud/storage';
import {ObjectNotFoundError, ObjectTooLargeError, type ObjectStore} from '../core/ports.js';

function status(e: unknown): number | undefined {
  const code = (e as {code?: unknown}).code;
  return typeof code === 'number' ? code : undefined;
}

/** Reads objects with one `Storage` client (constructed once, in index.ts). */
export function gcsObjectStore(storage: Storage): ObjectStore {
  return {
    async read(bucket, name, {generation, maxBytes}) {
      const file = storage.bucket(bucket).file(name, generation ? {generation} : {});
      try {
        const [metadata] = await file.getMetadata();
        const size = Number(metadata.size ?? 0);
        if (size > maxBytes)
          throw new ObjectTooLargeError(`gs://${bucket}/${name} is ${size} bytes, over the limit of ${maxBytes}`);
        const [bytes] = await file.download();
        return bytes;
      } catch (e) {
        if (status(e) === 404) {
          throw new ObjectNotFoundError(`gs://${bucket}/${name}${generation ? `#${generation}` : ''} does not exist`);
        }
        throw e;
      }
    },
  };
}
