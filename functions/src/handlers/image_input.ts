/**
 * Where classifyImage's images come from: a single path's bytes (read early, while the
 * model record is read), and a listed folder as a batch.
 */
import {MessageError} from '../core/errors.js';
import type {ImageLocation, PathPolicy} from '../core/image_path.js';
import {decodeImageRequest, type BatchEntry} from '../core/image_request.js';
import type {FileStore, ObjectStore} from '../core/ports.js';

/** What these need of the handler's dependencies. */
export interface ImageSources {
  readonly config: {readonly maxImageBytes: number; readonly maxBatchImages: number};
  readonly objects: ObjectStore;
  readonly files: FileStore;
}

/** The objects of a listed folder, as a batch (at most `max`: a larger folder is refused). */
export async function listFolder(
  folder: {bucket: string; prefix: string},
  deps: ImageSources,
  max: number
): Promise<BatchEntry[]> {
  const where = `gs://${folder.bucket}/${folder.prefix}`;
  const names = await deps.objects.list(folder.bucket, folder.prefix, {limit: max + 1});
  if (names.length > max)
    throw new MessageError('batch_too_large', `${where} holds more than MAX_BATCH_IMAGES (${max}) objects`);
  if (names.length === 0) throw new MessageError('bad_message', `${where} holds no objects`);
  return names.map(name => ({kind: 'gcs', bucket: folder.bucket, name}));
}

/** The image's bytes; ObjectNotFoundError / ObjectTooLargeError are permanent. */
export function readImage(location: ImageLocation, deps: ImageSources, maxBytes: number): Promise<Buffer> {
  if (location.kind === 'gcs') return deps.objects.read(location.bucket, location.name, {maxBytes});
  return deps.files.read(location.path, {maxBytes});
}

/** A single-image message's bytes, read at once; null for anything else (decoded again later). */
export function prefetch(data: Buffer, policy: PathPolicy, deps: ImageSources): Promise<Buffer> | null {
  let request;
  try {
    request = decodeImageRequest(data, policy, deps.config.maxBatchImages);
  } catch {
    return null;
  }
  if (request.kind !== 'single') return null;
  const bytes = readImage(request.location, deps, deps.config.maxImageBytes);
  bytes.catch(() => {}); // awaited later, or dropped with a failed record read
  return bytes;
}
