/**
 * Wiring only: parse the configuration once, construct the clients once, register the
 * two CloudEvent functions with the Functions Framework.
 */
import * as functions from '@google-cloud/functions-framework';
import {Firestore} from '@google-cloud/firestore';
import {Storage} from '@google-cloud/storage';
import {parseConfig} from './config.js';
import {jsonLogger} from './core/log.js';
import {firestoreRegistry} from './adapters/firestore_registry.js';
import {gcsObjectStore} from './adapters/gcs_object_store.js';
import {makeRecordModelHandler} from './handlers/record_model.js';
import {lazyPool, loadRecordedModel, validateRecordedModel} from './handlers/model_source.js';
import {makeClassifyImageHandler} from './handlers/classify_image.js';
import {firestorePredictionSink} from './adapters/firestore_predictions.js';
import {ModelCache} from './model/model_cache.js';

const config = parseConfig();
const logger = jsonLogger();
const firestore = new Firestore({ignoreUndefinedProperties: true});
const objects = gcsObjectStore(new Storage());
const store = firestoreRegistry(firestore, config);
const source = {objects, maxModelBytes: config.maxModelBytes, backend: config.backend, logger};
// classifyImage runs its models on worker threads (one per core with wasm); recordModel's
// gate loads in its own thread. The pool starts with the first model load.
const classifySource = {
  ...source,
  pool: lazyPool({backend: config.backend, logger, workers: config.inferenceWorkers, maxBatch: config.maxBatch}),
};

functions.cloudEvent(
  'recordModel',
  makeRecordModelHandler({
    config,
    store,
    logger,
    now: () => new Date(),
    validate: record => validateRecordedModel(record, source),
  })
);

functions.cloudEvent(
  'classifyImage',
  makeClassifyImageHandler({
    config,
    registry: store,
    objects,
    predictions: firestorePredictionSink(firestore, config.predictionsCollection),
    models: new ModelCache(record => loadRecordedModel(record, classifySource), {
      backoffMs: config.reloadBackoffMs,
      logger,
    }),
    logger,
    now: () => new Date(),
  })
);
