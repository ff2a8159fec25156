/**
 * What a classifyImage message asks for: one image path (as before), a batch given as
 * `{"images": ["gs://…", …]}`, or a Cloud Storage "folder" `gs://bucket/prefix/` whose
 * objects are listed. Batches are bounded (`MAX_BATCH_IMAGES`), and every path in them
 * passes the same allow-list as a single one (core/image_path.ts).
 */
import {decodeImagePath, MAX_MESSAGE_BYTES, type ImageLocation, type PathPolicy} from './image_path.js';
import {MessageError} from './errors.js';

/** Longest batch message: 500 names of up to 1024 bytes each, quoted, fit with room. */
export const MAX_BATCH_MESSAGE_BYTES = 1 << 20;

/** One entry of a batch: where its image is, or why that entry can never be classified. */
export type BatchEntry = ImageLocation | MessageError;

/** A message, decoded. */
export type ImageRequest =
  | {readonly kind: 'single'; readonly location: ImageLocation}
  | {readonly kind: 'batch'; readonly entries: readonly BatchEntry[]}
  | {readonly kind: 'prefix'; readonly bucket: string; readonly prefix: string};

/** Folders: `gs://bucket/` or `gs://bucket/some/folder/`. */
const PREFIX = /^gs:\/\/([a-z0-9][a-z0-9._-]{1,221}[a-z0-9])\/((?:[^/]+\/)*)$/;

/**
 * Decodes a message's bytes. A message that is wrong as a whole (bad JSON, too many images,
 * a folder outside IMAGE_BUCKETS) throws a {@link MessageError}; a bad entry inside a batch
 * becomes that entry's error, so that the rest of the batch is still classified.
 */
export function decodeImageRequest(data: Uint8Array, policy: PathPolicy, maxImages: number): ImageRequest {
  const head = Buffer.from(data.subarray(0, 64)).toString('utf8').trimStart();
  if (head.startsWith('{')) return {kind: 'batch', entries: decodeBatch(data, policy, maxImages)};
  if (data.length <= MAX_MESSAGE_BYTES) {
    const folder = PREFIX.exec(Buffer.from(data).toString('utf8').trim());
    if (folder) {
      const [, bucket, prefix] = folder as unknown as [string, string, string];
      if (!policy.imageBuckets.includes(bucket))
        throw new MessageError('not_allowed', `bucket '${bucket}' is not in IMAGE_BUCKETS`);
      if (prefix.split('/').some(seg => seg === '.' || seg === '..'))
        throw new MessageError('not_allowed', `prefix '${prefix.slice(0, 100)}' has a '.' or '..' segment`);
      return {kind: 'prefix', bucket, prefix};
    }
  }
  return {kind: 'single', location: decodeImagePath(data, policy)};
}

function decodeBatch(data: Uint8Array, policy: PathPolicy, maxImages: number): BatchEntry[] {
  if (data.length > MAX_BATCH_MESSAGE_BYTES)
    throw new MessageError('bad_message', `batch message is ${data.length} bytes; at most ${MAX_BATCH_MESSAGE_BYTES}`);
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(data).toString('utf8'));
  } catch (e) {
    throw new MessageError('bad_message', `batch message is not valid JSON: ${(e as Error).message}`);
  }
  const images = (body as {images?: unknown} | null)?.images;
  if (!Array.isArray(images))
    throw new MessageError('bad_message', 'a batch message is {"images": ["gs://bucket/a.jpg", …]}');
  if (images.length === 0) throw new MessageError('bad_message', 'batch message lists no images');
  if (images.length > maxImages) {
    throw new MessageError(
      'batch_too_large',
      `batch lists ${images.length} images; MAX_BATCH_IMAGES is ${maxImages} (split it into several messages)`
    );
  }
  return images.map((entry: unknown, i) => {
    if (typeof entry !== 'string') return new MessageError('bad_message', `images[${i}] is not a string`);
    try {
      return decodeImagePath(Buffer.from(entry, 'utf8'), policy);
    } catch (e) {
      if (e instanceof MessageError) return e;
      throw e;
    }
  });
}

/** The path of a location, as stored in its result. */
export function imageName(location: ImageLocation): string {
  return location.kind === 'gcs' ? `gs://${location.bucket}/${location.name}` : location.path;
}
