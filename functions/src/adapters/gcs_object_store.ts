/** {@link ObjectStore} on Cloud Storage (`@google-cloud/storage`). */
import type {Storage} from '@google-cloud/storage';
import {ObjectNotFoundError, ObjectTooLargeError} from '../core/errors.js';
import type {ObjectStore} from '../core/ports.js';

function status(e: unknown): number | undefined {
  const code = (e as {code?: unknown}).code;
  return typeof code === 'number' ? code : undefined;
}

/**
 * Reads objects with one `Storage` client (constructed once, in index.ts).
 *
 * One request per object: the bytes are streamed and the read is abandoned as soon as
 * they pass `maxBytes`, rather than asking for the size first (a second round trip on
 * every classifyImage invocation) or buffering an arbitrarily large object.
 */
export function gcsObjectStore(storage: Storage): ObjectStore {
  return {
    read(bucket, name, {generation, maxBytes}) {
      const where = `gs://${bucket}/${name}${generation ? `#${generation}` : ''}`;
      const file = storage.bucket(bucket).file(name, generation ? {generation} : {});
      return new Promise<Buffer>((resolve, reject) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const stream = file.createReadStream();
        stream.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) {
            stream.destroy();
            reject(new ObjectTooLargeError(`${where} is over the limit of ${maxBytes} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        stream.on('error', (e: unknown) => {
          reject(status(e) === 404 ? new ObjectNotFoundError(`${where} does not exist`) : e);
        });
        stream.on('end', () => resolve(Buffer.concat(chunks, size)));
      });
    },
    async list(bucket, prefix, {limit}) {
      // One page, with `/` as the delimiter: the folder's own objects, in name order (how
      // Cloud Storage lists), never its sub-folders.
      const [files] = await storage
        .bucket(bucket)
        .getFiles({prefix, delimiter: '/', maxResults: limit, autoPaginate: false});
      return files.map(f => f.name).filter(name => !name.endsWith('/'));
    },
  };
}
