/**
 * The bench's classifyImage runs: throughput and latency at several concurrencies and a
 * swap under load (in-memory adapters that behave like Firestore and Storage where the
 * handler relies on them: copies, `revision`, generations), and the roll timeline on the
 * real emulators with the real recordModel handler and gate.
 */
import fs from 'node:fs';
import path from 'node:path';
import type {CloudEvent} from '@google-cloud/functions-framework';
import {Firestore} from '@google-cloud/firestore';
import {Storage} from '@google-cloud/storage';
import {localFiles} from '../../functions/src/adapters/local_files.js';
import {firestoreRegistry} from '../../functions/src/adapters/firestore_registry.js';
import {gcsObjectStore} from '../../functions/src/adapters/gcs_object_store.js';
import {parseConfig} from '../../functions/src/config.js';
import {parseFilePattern} from '../../functions/src/core/glob.js';
import {DEFAULT_THRESHOLDS} from '../../functions/src/core/rollout.js';
import {jsonLogger, type Logger} from '../../functions/src/core/log.js';
import {buildRecord, type ModelRecord, type StorageObjectData} from '../../functions/src/core/model_record.js';
import type {ModelRegistry, ObjectStore} from '../../functions/src/core/ports.js';
import {makeClassifyImageHandler, type MessagePublishedData} from '../../functions/src/handlers/classify_image.js';
import {makeRecordModelHandler} from '../../functions/src/handlers/record_model.js';
import type {OnnxOptions} from '../../functions/src/model/engines/onnx/session.js';
import {tfjsRunner} from '../../functions/src/model/engines/tfjs/runner.js';
import {loadRecordedModel, validateModel} from '../../functions/src/model/loader.js';
import {ModelCache} from '../../functions/src/model/model_cache.js';
import {MemoryModelStore, MemoryObjectStore} from '../../functions/test/helpers/fakes.js';
import {startFirestore, startStorage} from './emulators.js';
import {ROOT} from './stack.js';
import {pct, round} from './stats.js';

/** An engine as INFERENCE_ENGINE names it. */
export type Engine = 'onnx' | 'tfjs';
/** A photo and its bytes. */
export interface Photo {
  readonly name: string;
  readonly bytes: Buffer;
}

const IMAGES = 'bench-images';
const MODELS = 'bench-models';

let ids = 0;
function event(image: string): CloudEvent<MessagePublishedData> {
  const id = `bench-${++ids}`;
  const time = new Date().toISOString();
  return {
    id,
    specversion: '1.0',
    type: 'google.cloud.pubsub.topic.v1.messagePublished',
    source: '//pubsub.googleapis.com/projects/bench/topics/images',
    time,
    data: {message: {data: Buffer.from(image).toString('base64'), messageId: id, publishTime: time}},
  };
}

interface Harness {
  handler(e: CloudEvent<MessagePublishedData>): Promise<void>;
  /** message id → model_id that answered (or 'failed'). */
  readonly answers: Map<string, string>;
  /** message id → when its result was written. */
  readonly written: Map<string, number>;
  /** When each model started serving. */
  readonly swaps: Array<{t: number; model_id: string}>;
  close(): Promise<void>;
}

/** classifyImage as index.ts wires it, with the engine's default configuration. */
function harness(
  engine: Engine,
  registry: ModelRegistry,
  objects: ObjectStore,
  onnx: OnnxOptions = {},
  {staleness = 0, inferenceBatch = 8}: {staleness?: number; inferenceBatch?: number} = {}
): Harness {
  const answers = new Map<string, string>();
  const written = new Map<string, number>();
  const swaps: Harness['swaps'] = [];
  const json = jsonLogger(() => {}); // every line serialised, as in production, and dropped
  const logger: Logger = {
    log: (severity, message, fields) => {
      if (message.startsWith('classifyImage: now serving'))
        swaps.push({t: performance.now(), model_id: String(fields?.['model_id'])});
      json.log(severity, message, fields);
    },
  };
  const tfjs = tfjsRunner({backend: null, workers: 'auto', maxBatch: 1, logger});
  const sources = {objects, files: localFiles(), maxModelBytes: 512 * 1024 * 1024};
  const cache = new ModelCache(r => loadRecordedModel(r, sources, {engine, tfjs, logger, onnx}), {
    backoffMs: 1000,
    logger,
  });
  const handler = makeClassifyImageHandler({
    config: {
      imageBuckets: [IMAGES],
      localImageDir: null,
      maxEventAgeMs: 3_600_000,
      topK: 5,
      maxImageBytes: 20 << 20,
      maxImagePixels: 50e6,
      modelFilePattern: parseFilePattern('gs://bench-models/*.h5'),
      currentDocument: 'current',
      modelKeyAttribute: 'model',
      defaultModelKey: null,
      rolloutFlushMs: 1000,
      rolloutThresholds: DEFAULT_THRESHOLDS,
      cutover: 'available',
      recordMaxStalenessMs: staleness,
      maxBatchImages: 500,
      inferenceBatch,
    },
    registry: () => registry,
    objects,
    files: localFiles(),
    predictions: {
      write: async (id, doc) => {
        written.set(id, performance.now());
        answers.set(id, 'error' in doc ? 'failed' : String(doc['model_id']));
      },
      writeBatch: async (id, docs) => {
        docs.forEach((doc, i) => answers.set(`${id}/${i}`, 'error' in doc ? 'failed' : String(doc['model_id'])));
        written.set(id, performance.now());
      },
    },
    models: cache,
    logger,
    now: () => new Date(),
  });
  return {handler, answers, written, swaps, close: async () => void (await (await tfjs.pool())?.close())};
}

function record(name: string, generation: number, bytes: Buffer, extra: Record<string, string> = {}): ModelRecord {
  const updated = new Date(Date.UTC(2026, 0, 1) + generation * 1000).toISOString();
  const data: StorageObjectData = {
    bucket: MODELS,
    name,
    generation: String(generation),
    metageneration: '1',
    updated,
    size: String(bytes.length),
    metadata: {scale: '-1,1', ...extra},
  };
  return buildRecord(data, `bench-${generation}`, {scale: '-1,1', labels: null});
}

/** Sends messages with `concurrency` in flight while `more()`; returns latencies and start times. */
async function drive(h: Harness, photos: Photo[], concurrency: number, more: (sent: number) => boolean) {
  const latencies: number[] = [];
  const started = new Map<string, number>();
  let sent = 0;
  let failures = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({length: concurrency}, async () => {
      while (more(sent)) {
        const e = event(`gs://${IMAGES}/${photos[sent++ % photos.length]!.name}`);
        const t = performance.now();
        started.set(e.id, t);
        await h.handler(e).catch(() => failures++);
        latencies.push(performance.now() - t);
      }
    })
  );
  return {latencies, started, failures, seconds: (performance.now() - t0) / 1000};
}

function memory(photos: Photo[], model: Buffer): {store: MemoryModelStore; objects: MemoryObjectStore} {
  const objects = new MemoryObjectStore();
  for (const p of photos) objects.put(IMAGES, p.name, p.bytes);
  objects.put(MODELS, 'v1.h5', model, '1');
  objects.put(MODELS, 'v2.h5', model, '2');
  return {store: new MemoryModelStore(), objects};
}

/** Throughput and latency at each concurrency (the model loaded first). */
export async function handlerRuns(
  engine: Engine,
  model: Buffer,
  photos: Photo[],
  concurrencies: number[],
  total: number,
  onnx: OnnxOptions = {}
) {
  const {store, objects} = memory(photos, model);
  await store.recordVersion(record('v1.h5', 1, model), 'bench', new Date());
  const h = harness(engine, store, objects, onnx);
  await drive(h, photos, 1, sent => sent < 2); // loads the model
  const out: Record<string, {images_per_s: number; p50_ms: number; p99_ms: number}> = {};
  for (const c of concurrencies) {
    const run = await drive(h, photos, c, sent => sent < total);
    out[`c${c}`] = {
      images_per_s: round(run.latencies.length / run.seconds, 1),
      p50_ms: round(pct(run.latencies, 50), 1),
      p99_ms: round(pct(run.latencies, 99), 1),
    };
  }
  await h.close();
  return out;
}

/**
 * Batch messages (`{"images": [...]}` of `size` photos), one at a time, at each INFERENCE_BATCH:
 * images a second through the whole handler (reads, decoding, the engine, one batched write),
 * against single-image messages at concurrency 1 and 4 on the same handler and photos.
 */
export async function batchRuns(
  engine: Engine,
  model: Buffer,
  photos: Photo[],
  groups: number[],
  size = 64,
  rounds = 3
) {
  const out: Record<string, {images_per_s: number; ms_per_message: number; failed: number}> = {};
  const names = Array.from({length: size}, (_, i) => `gs://${IMAGES}/${photos[i % photos.length]!.name}`);
  for (const group of groups) {
    const {store, objects} = memory(photos, model);
    await store.recordVersion(record('v1.h5', 1, model), 'bench', new Date());
    const h = harness(engine, store, objects, {}, {inferenceBatch: group});
    await drive(h, photos, 1, sent => sent < 2); // loads the model
    if (group === groups[0]) {
      for (const c of [1, 4]) {
        const run = await drive(h, photos, c, sent => sent < size * rounds);
        out[`single-image messages, c${c}`] = {
          images_per_s: round(run.latencies.length / run.seconds, 1),
          ms_per_message: round(pct(run.latencies, 50), 1),
          failed: run.failures + [...h.answers.values()].filter(v => v === 'failed').length,
        };
      }
    }
    h.answers.clear();
    const times: number[] = [];
    const t0 = performance.now();
    for (let r = 0; r < rounds; r++) {
      const t = performance.now();
      await h.handler(event(JSON.stringify({images: names})));
      times.push(performance.now() - t);
    }
    const seconds = (performance.now() - t0) / 1000;
    out[`batch of ${size}, INFERENCE_BATCH=${group}`] = {
      images_per_s: round((size * rounds) / seconds, 1),
      ms_per_message: round(pct(times, 50), 1),
      failed:
        [...h.answers.values()].filter(v => v === 'failed').length + (h.answers.size === size * rounds ? 0 : size),
    };
    await h.close();
  }
  return out;
}

/**
 * What a rollout costs the served traffic: throughput at `concurrency` with no rollout, then
 * with the same model as a candidate in shadow at 50% and 100% (each shadowed message runs
 * the model twice) and as a canary at 50% (no extra work: the control). The bake is never
 * reached and the candidate agrees, so the rollout stays on throughout each run.
 */
export async function rolloutRuns(engine: Engine, model: Buffer, photos: Photo[], total: number, concurrency = 4) {
  const out: Record<string, {images_per_s: number; p50_ms: number; p99_ms: number; overhead: string}> = {};
  let plain = 0;
  for (const rollout of ['none', 'canary:50', 'shadow:50', 'shadow:100']) {
    const {store, objects} = memory(photos, model);
    await store.recordVersion(record('v1.h5', 1, model), 'bench', new Date());
    if (rollout !== 'none')
      await store.recordVersion(record('v2.h5', 2, model, {rollout, bake_samples: '1000000'}), 'bench', new Date());
    const h = harness(engine, store, objects);
    await drive(h, photos, 1, sent => sent < 8); // loads stable and the candidate
    const run = await drive(h, photos, concurrency, sent => sent < total);
    const rate = run.latencies.length / run.seconds;
    if (rollout === 'none') plain = rate;
    out[rollout] = {
      images_per_s: round(rate, 1),
      p50_ms: round(pct(run.latencies, 50), 1),
      p99_ms: round(pct(run.latencies, 99), 1),
      overhead: rollout === 'none' ? '-' : `${round(100 * (1 - rate / plain), 1)}%`,
    };
    await h.close();
  }
  return out;
}

/**
 * Model-record reads per message: Firestore document gets of the record, on the Firestore
 * emulator (real reads, with their latency: concurrent invocations share a read in flight),
 * counted at the registry. RECORD_MAX_STALENESS_MS reuses a recent one. Model and photos
 * come from memory, so only the record's reads touch Firestore.
 */
export async function readsPerMessage(engine: Engine, model: Buffer, photos: Photo[], total: number) {
  fs.mkdirSync(path.join(ROOT, '.local'), {recursive: true});
  const emulator = await startFirestore({logFile: path.join(ROOT, '.local/bench-firestore-reads.log')});
  process.env['FIRESTORE_EMULATOR_HOST'] = emulator.hostPort;
  const db = new Firestore({projectId: 'demo-bench', ignoreUndefinedProperties: true});
  const out: Record<string, {messages: number; reads: number; reads_per_message: number; images_per_s: number}> = {};
  try {
    for (const staleness of [0, 1000]) {
      for (const c of [1, 8, 80]) {
        const {objects} = memory(photos, model);
        const store = firestoreRegistry(db, {modelsCollection: `reads-${staleness}-${c}`, currentDocument: 'current'});
        await store.recordVersion(record('v1.h5', 1, model), 'bench', new Date());
        let reads = 0;
        const counted: ModelRegistry = {
          current: () => {
            reads++;
            return store.current();
          },
          reportRollout: (...args) => store.reportRollout(...args),
        };
        const h = harness(engine, counted, objects, {}, {staleness});
        await drive(h, photos, 1, sent => sent < 2);
        reads = 0;
        const run = await drive(h, photos, c, sent => sent < total);
        out[`c${c}, RECORD_MAX_STALENESS_MS=${staleness}`] = {
          messages: run.latencies.length,
          reads,
          reads_per_message: round(reads / run.latencies.length, 3),
          images_per_s: round(run.latencies.length / run.seconds, 1),
        };
        await h.close();
      }
    }
  } finally {
    await db.terminate();
    await emulator.stop();
  }
  return out;
}

/** A stream at concurrency 8; a newer model is recorded a third of the way in. */
export async function swapRun(engine: Engine, model: Buffer, photos: Photo[], seconds: number) {
  const {store, objects} = memory(photos, model);
  const v1 = record('v1.h5', 1, model);
  const v2 = record('v2.h5', 2, model);
  await store.recordVersion(v1, 'bench', new Date());
  const h = harness(engine, store, objects);
  await drive(h, photos, 1, sent => sent < 2);
  const end = performance.now() + seconds * 1000;
  const recordAt = performance.now() + (seconds * 1000) / 3;
  let recordedAt = 0;
  const timer = setTimeout(() => {
    recordedAt = performance.now();
    void store.recordVersion(v2, 'bench', new Date());
  }, recordAt - performance.now());
  const run = await drive(h, photos, 8, () => performance.now() < end);
  clearTimeout(timer);
  const loaded = h.swaps.find(s => s.model_id === v2.model_id)?.t ?? Infinity;
  let old = 0;
  let stale = 0;
  for (const [id, modelId] of h.answers) {
    const t = run.started.get(id) ?? 0;
    if (modelId === v1.model_id && t > loaded) old++;
    if (modelId === v1.model_id && t > recordedAt && t <= loaded) stale++;
  }
  const failed = [...h.answers.values()].filter(v => v === 'failed').length + run.failures;
  await h.close();
  return {
    messages: h.answers.size,
    failed,
    old_model_after_load: old,
    old_model_while_loading: stale,
    record_to_serving_ms: round(loaded - recordedAt, 1),
    p99_ms: round(pct(run.latencies, 99), 1),
  };
}

/**
 * One clock, real emulators: a stream at concurrency 4 on v1; v2 is uploaded and its
 * finalize event handed to recordModel (gate: the real load); the time from that event to
 * the commit, and to the first prediction by v2.
 */
export async function rollTimeline(engine: Engine, model: Buffer, photos: Photo[]) {
  fs.mkdirSync(path.join(ROOT, '.local'), {recursive: true});
  const firestore = await startFirestore({logFile: path.join(ROOT, '.local/bench-firestore.log')});
  const storageEmulator = await startStorage({projectId: 'demo-bench'});
  process.env['FIRESTORE_EMULATOR_HOST'] = firestore.hostPort;
  process.env['STORAGE_EMULATOR_HOST'] = `http://${storageEmulator.hostPort}`;
  try {
    storageEmulator.createBucket(MODELS);
    storageEmulator.createBucket(IMAGES);
    const storage = new Storage({projectId: 'demo-bench'});
    const db = new Firestore({projectId: 'demo-bench', ignoreUndefinedProperties: true});
    const config = parseConfig({
      MODEL_FILE_PATTERN: `gs://${MODELS}/*.h5`,
      MODELS_COLLECTION: `bench-${engine}`,
      INFERENCE_ENGINE: engine,
    });
    const store = firestoreRegistry(db, config);
    const objects = gcsObjectStore(storage);
    const put = async (bucket: string, name: string, bytes: Buffer): Promise<StorageObjectData> => {
      const file = storage.bucket(bucket).file(name);
      await file.save(bytes, {resumable: false, metadata: {metadata: {scale: '-1,1'}}});
      const [md] = await file.getMetadata();
      return {
        bucket,
        name,
        generation: String(md.generation),
        metageneration: '1',
        updated: String(md.updated),
        size: String(md.size),
        metadata: {scale: '-1,1'},
      };
    };
    for (const p of photos) await put(IMAGES, p.name, p.bytes);
    const logger = jsonLogger(() => {});
    const sources = {objects, files: localFiles(), maxModelBytes: config.maxModelBytes};
    const recordModel = makeRecordModelHandler({
      config,
      store: () => store,
      logger,
      now: () => new Date(),
      validate: r => validateModel(r, sources, {engine, logger}),
    });
    const finalize = (data: StorageObjectData) =>
      recordModel({
        id: `fin-${data.generation}`,
        specversion: '1.0',
        type: 'google.cloud.storage.object.v1.finalized',
        source: `//storage.googleapis.com/projects/_/buckets/${MODELS}`,
        data,
      });
    await finalize(await put(MODELS, 'v1.h5', model));
    const h = harness(engine, store, objects);
    await drive(h, photos, 1, sent => sent < 2);
    const v2 = await put(MODELS, 'v2.h5', model);
    let t0 = 0;
    let committed = 0;
    const rolled = (async () => {
      await new Promise(r => setTimeout(r, 300));
      t0 = performance.now();
      await finalize(v2);
      committed = performance.now();
    })();
    const v2Id = `gs://${MODELS}/v2.h5#${v2.generation}`;
    const deadline = performance.now() + 60_000;
    await drive(h, photos, 4, () => performance.now() < deadline && ![...h.answers.values()].includes(v2Id));
    await rolled;
    let first = Infinity;
    for (const [id, modelId] of h.answers) if (modelId === v2Id) first = Math.min(first, h.written.get(id) ?? Infinity);
    const servedAt = h.swaps.find(s => s.model_id === v2Id)?.t ?? NaN;
    await h.close();
    return {
      finalize_to_commit_ms: round(committed - t0, 1),
      commit_to_serving_ms: round(servedAt - committed, 1),
      finalize_to_first_new_prediction_ms: round(first - t0, 1),
      note: 'gate = download + full load + warm-up; then the record read by classifyImage on its next message and a second load there',
    };
  } finally {
    await storageEmulator.stop();
    await firestore.stop();
    delete process.env['FIRESTORE_EMULATOR_HOST'];
    delete process.env['STORAGE_EMULATOR_HOST'];
  }
}
