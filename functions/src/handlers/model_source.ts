/**
 * Loads the model a record names: its `.h5` and label file through the object-store
 * port, then the model layer. Shared by recordModel's promotion gate and classifyImage's
 * model cache, so both load a model exactly the same way.
 */
import fs from 'node:fs/promises';
import type {CurrentModel, ModelRecord} from '../core/model_record.js';
import type {ObjectStore} from '../core/ports.js';
import {initBackend, parseBackendName} from '../model/backend.js';
import {loadKerasModel, type LoadedModel} from '../model/keras_model.js';
import {parseLabels} from '../model/labels.js';
import {LabelMismatchError} from '../model/errors.js';
import type {Logger} from '../core/log.js';
import type {Validation} from './record_model.js';

/** Label files are small; anything bigger is a mistake (a model uploaded as labels, say). */
const MAX_LABEL_BYTES = 8 * 1024 * 1024;

/** What loading needs. */
export interface ModelSourceDeps {
  readonly objects: ObjectStore;
  readonly maxModelBytes: number;
  readonly backend: string | null;
  readonly logger: Logger;
}

async function readLabels(uri: string, objects: ObjectStore): Promise<string[]> {
  const gs = /^gs:\/\/([^/]+)\/(.+)$/.exec(uri);
  let text: string;
  if (gs) text = (await objects.read(gs[1]!, gs[2]!, {maxBytes: MAX_LABEL_BYTES})).toString('utf8');
  else if (uri.startsWith('/')) text = await fs.readFile(uri, 'utf8');
  else throw new LabelMismatchError(`labels '${uri}' must be a gs:// URI or an absolute path`);
  return parseLabels(text, uri);
}

/**
 * Downloads and loads the model of a record (exactly that generation), warmed up.
 *
 * @throws ModelUnusableError / ObjectNotFoundError / ObjectTooLargeError (permanent), or
 *   anything else (transient).
 */
export async function loadRecordedModel(
  record: ModelRecord | CurrentModel,
  deps: ModelSourceDeps
): Promise<LoadedModel> {
  const forced = parseBackendName(deps.backend ?? undefined);
  await initBackend({logger: deps.logger, ...(forced ? {forced} : {})});
  const [bytes, labels] = await Promise.all([
    deps.objects.read(record.bucket, record.name, {generation: record.generation, maxBytes: deps.maxModelBytes}),
    record.labels ? readLabels(record.labels, deps.objects) : Promise.resolve(null),
  ]);
  return loadKerasModel(bytes, {
    name: record.model_name,
    labels,
    ...(record.labels ? {labelsSource: record.labels} : {}),
    scale: record.input_scale,
    maxBytes: deps.maxModelBytes,
  });
}

/**
 * recordModel's promotion gate: loads the recorded model exactly as classifyImage will
 * (download, labels, build, warm-up), reports its input shape and class count, and frees it.
 */
export async function validateRecordedModel(record: ModelRecord, deps: ModelSourceDeps): Promise<Validation> {
  const model = await loadRecordedModel(record, deps);
  try {
    const {height, width, channels} = model.input;
    return {input_shape: [height, width, channels], output_width: model.outputWidth};
  } finally {
    model.dispose();
  }
}
