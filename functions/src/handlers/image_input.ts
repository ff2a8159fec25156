/**
 * Where classifyImage's images come from: the message decoded once, a single path's bytes
 * (read early, while the model record is read), and a listed folder as a batch.
 */
import {MessageError} from '../core/errors.js';
import type {ImageLocation, PathPolicy} from '../core/image_path.js';
import {decodeImageRequest, type BatchEntry, type ImageRequest} from '../core/image_request.js';
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

/** A decoded message; a single image's request carries its bytes, being read since the invocation began. */
export type StartedRequest =
  | Exclude<ImageRequest, {kind: 'single'}>
  | (Extract<ImageRequest, {kind: 'single'}> & {readonly bytes: Promise<Buffer>});

/**
 * The message's request, decoded once at the start of the invocation. A bad message is kept as
 * its error, thrown in its turn (after the record read); a single image starts being read at
 * once, while the record is read and the model acquired (its bytes do not depend on the model).
 */
export function startRequest(
  data: Buffer,
  policy: PathPolicy,
  deps: ImageSources
): {request: StartedRequest} | {error: unknown} {
  let request: ImageRequest;
  try {
    request = decodeImageRequest(data, policy, deps.config.maxBatchImages);
  } catch (error) {
    return {error};
  }
  if (request.kind !== 'single') return {request};
  const bytes = readImage(request.location, deps, deps.config.maxImageBytes);
  bytes.catch(() => {}); // awaited later, or dropped with a failed record read
  return {request: {...request, bytes}};
}
