/**
 * Decodes a classifyImage message into an image location, and enforces the allow-list:
 * the function reads objects with its own identity, so it must read only the buckets it
 * is configured for (`IMAGE_BUCKETS`), or, locally, files inside `LOCAL_IMAGE_DIR`.
 */
import path from 'node:path';
import {MessageError} from './errors.js';

/** Where the image is. */
export type ImageLocation = {kind: 'gcs'; bucket: string; name: string} | {kind: 'local'; path: string};

/** Longest accepted message: GCS object names are at most 1024 bytes. */
export const MAX_MESSAGE_BYTES = 2048;

const utf8 = new TextDecoder('utf-8', {fatal: true});

/** The allow-list. */
export interface PathPolicy {
  readonly imageBuckets: readonly string[];
  readonly localImageDir: string | null;
}

/** Decodes message bytes into a location, or throws a {@link MessageError}. */
export function decodeImagePath(data: Uint8Array, policy: PathPolicy): ImageLocation {
  if (data.length > MAX_MESSAGE_BYTES) {
    throw new MessageError(
      'bad_message',
      `message is ${data.length} bytes; an image path is at most ${MAX_MESSAGE_BYTES}`
    );
  }
  let text: string;
  try {
    text = utf8.decode(data).trim();
  } catch {
    throw new MessageError('bad_message', 'message data is not valid UTF-8');
  }
  if (text === '')
    throw new MessageError('bad_message', 'message is empty; publish an image path such as gs://bucket/x.jpg');
  if (/[\u0000-\u001f\u007f]/.test(text))
    throw new MessageError('bad_message', 'image path contains control characters');
  const gs = /^gs:\/\/([a-z0-9][a-z0-9._-]{1,221}[a-z0-9])\/(.+)$/.exec(text);
  if (gs) {
    const [, bucket, name] = gs as unknown as [string, string, string];
    if (!policy.imageBuckets.includes(bucket)) {
      throw new MessageError(
        'not_allowed',
        `bucket '${bucket}' is not in IMAGE_BUCKETS (${policy.imageBuckets.join(', ') || 'empty'})`
      );
    }
    // GCS names are literal, but a layer that normalises paths (a proxy, an emulator, a
    // client) would turn `imgs/../models/m.h5` into another bucket: refuse dot segments.
    if (name.split('/').some(seg => seg === '.' || seg === '..'))
      throw new MessageError('not_allowed', `object name '${name.slice(0, 100)}' has a '.' or '..' segment`);
    return {kind: 'gcs', bucket, name};
  }
  if (text.startsWith('/')) {
    if (!policy.localImageDir)
      throw new MessageError('not_allowed', 'local paths are not accepted (LOCAL_IMAGE_DIR is not set)');
    // Resolve `..` first, then require the result to stay inside the folder.
    const resolved = path.resolve(text);
    if (!resolved.startsWith(policy.localImageDir + path.sep)) {
      throw new MessageError('not_allowed', `path '${text}' is outside LOCAL_IMAGE_DIR`);
    }
    return {kind: 'local', path: resolved};
  }
  throw new MessageError('bad_message', `'${text.slice(0, 100)}' is not an image path; publish gs://bucket/object`);
}
