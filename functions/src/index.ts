/**
 * Wiring only: parse the configuration once, construct the clients once, register the
 * two CloudEvent functions with the Functions Framework.
 */
import './prewarm.js'; // first: overlaps the engine's loading with the client libraries'
import {randomUUID} from 'node:crypto';
import * as functions from '@google-cloud/functions-framework';
import {Firestore} from '@google-cloud/firestore';
import {Storage} from '@google-cloud/storage';
import {parseConfig} from './config.js';
import {jsonLogger} from './core/log.js';
import {firestoreRegistry} from './adapters/firestore_registry.js';
import {gcsObjectStore} from './adapters/gcs_object_store.js';
import {localFiles} from './adapters/local_files.js';
import {firestorePredictionSink} from './adapters/firestore_predictions.js';
import {makeRecordModelHandler} from './handlers/record_model.js';
import {makeClassifyImageHandler} from './handlers/classify_image.js';
import {loadRecordedModel, validateModel} from './model/loader.js';
import {ModelCache} from './model/model_cache.js';
import {tfjsRunner} from './model/engines/tfjs/runner.js';
import type {ModelStore} from './core/ports.js';

const config = parseConfig();
const logger = jsonLogger();
const firestore = new Firestore({ignoreUndefinedProperties: true});
const objects = gcsObjectStore(new Storage());
const files = localFiles();
// One store per model key (`{collection}/{key}`), made on first use and kept.
const stores = new Map<string, ModelStore>();
const store = (key: string): ModelStore => {
  let s = stores.get(key);
  if (!s)
    stores.set(
      key,
      (s = firestoreRegistry(firestore, {modelsCollection: config.modelsCollection, currentDocument: key}))
    );
  return s;
};
const sources = {objects, files, maxModelBytes: config.maxModelBytes, maxModelParams: config.maxModelParams};
const engine = {
  engine: config.engine,
  onnx: {threads: config.inferenceThreads, spin: config.ortSpin},
  preprocess: {maxBytes: config.maxImageBytes, maxPixels: config.maxImagePixels, iccProfiles: config.iccProfiles},
  tfjsBackend: config.backend,
  logger,
};

functions.cloudEvent(
  'recordModel',
  makeRecordModelHandler({
    config,
    store,
    logger,
    now: () => new Date(),
    // The gate loads in this thread, one model at a time, then frees it.
    validate: record => validateModel(record, sources, engine),
  })
);

// classifyImage: ONNX Runtime runs on its own threads; a model that falls back to tfjs runs
// on tfjs worker threads (one per core with wasm), started with the first such model.
const tfjs = tfjsRunner({backend: config.backend, workers: config.inferenceWorkers, maxBatch: config.maxBatch, logger});

functions.cloudEvent(
  'classifyImage',
  makeClassifyImageHandler({
    config,
    registry: store,
    objects,
    files,
    predictions: firestorePredictionSink(firestore, config.predictionsCollection),
    models: new ModelCache(record => loadRecordedModel(record, sources, {...engine, tfjs}), {
      backoffMs: config.reloadBackoffMs,
      logger,
      maxModels: config.maxCachedModels,
      maxBytes: config.modelCacheBytes,
      keyed: config.modelFilePattern.keyed,
      ...(config.cutover === 'consistent' ? {consistentWaitMs: config.cutoverWaitMs} : {}),
    }),
    instance: randomUUID().slice(0, 8),
    logger,
    now: () => new Date(),
  })
);
