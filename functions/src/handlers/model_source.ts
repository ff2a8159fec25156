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
import {InferencePool, poolSize} from '../model/worker_pool.js';
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
  /** Where classifyImage runs its models (worker threads), or none: in this thread. */
  readonly pool?: () => Promise<InferencePool | null>;
}

/**
 * The inference pool of an instance, started on first use with the backend chosen here:
 * `INFERENCE_WORKERS` threads (`auto`: one per core with wasm/cpu, none with tfjs-node).
 */
export function lazyPool(
  deps: Pick<ModelSourceDeps, 'backend' | 'logger'> & {workers: number | 'auto'; maxBatch: number}
): () => Promise<InferencePool | null> {
  let pool: Promise<InferencePool | null> | null = null;
  return () => {
    pool ??= (async () => {
      const forced = parseBackendName(deps.backend ?? undefined);
      const choice = await initBackend({logger: deps.logger, ...(forced ? {forced} : {})});
      const size = poolSize(deps.workers, choice.name);
      if (size === 0) return null;
      return InferencePool.start({size, backend: choice.name, maxBatch: deps.maxBatch, logger: deps.logger});
    })().catch(e => {
      pool = null; // try again on the next load
      throw e;
    });
    return pool;
  };
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
  const options = {
    name: record.model_name,
    labels,
    ...(record.labels ? {labelsSource: record.labels} : {}),
    scale: record.input_scale,
    maxBytes: deps.maxModelBytes,
  };
  const pool = deps.pool ? await deps.pool() : null;
  return pool ? pool.load(bytes, options) : loadKerasModel(bytes, options);
}

/**
 * recordModel's promotion gate: loads the recorded model exactly as classifyImage will
 * (download, labels, build, warm-up), reports its input shape and class count, and frees it.
 */
export async function validateRecordedModel(record: ModelRecord, deps: ModelSourceDeps): Promise<Validation> {
  // The gate checks the file in this thread: one model at a time, then freed.
  const {pool: _pool, ...inThread} = deps;
  const model = await loadRecordedModel(record, inThread);
  try {
    const {height, width, channels} = model.input;
    return {input_shape: [height, width, channels], output_width: model.outputWidth};
  } finally {
    model.dispose();
  }
}
