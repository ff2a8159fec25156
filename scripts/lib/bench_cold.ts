/**
 * The bench's cold start: a fresh Node process importing the compiled index.js (as
 * deployed: config, clients, both functions) and answering its first classifyImage push
 * through functions-framework, from the process's first line to the 204. Every read is
 * real: the record from the Firestore emulator, the model and the photo from the Storage
 * emulator; the prediction is written to Firestore. The first invocation's time splits
 * into the registry read, the model download, the load and the classification, which the
 * function logs. RSS is read after it.
 */
import {execFile} from 'node:child_process';
import {promisify} from 'node:util';
import fs from 'node:fs';
import path from 'node:path';
import {Firestore} from '@google-cloud/firestore';
import {Storage} from '@google-cloud/storage';
import {firestoreRegistry} from '../../functions/src/adapters/firestore_registry.js';
import {parseConfig} from '../../functions/src/config.js';
import {buildRecord} from '../../functions/src/core/model_record.js';
import type {Engine, Photo} from './bench_handler.js';
import {startFirestore, startStorage} from './emulators.js';
import {ROOT} from './stack.js';

const CHILD = `
const t0 = performance.now();
const dist = process.argv[2];
await import(dist + '/index.js'); // the real wiring: config, clients, both functions
const [{getTestServer}, {default: request}] = await Promise.all([
  import('@google-cloud/functions-framework/testing'),
  import('supertest'),
]);
const t1 = performance.now();
const push = {
  message: {data: Buffer.from(process.argv[3]).toString('base64'), messageId: 'cold-1', publishTime: new Date().toISOString()},
  subscription: 'projects/demo-bench/subscriptions/cold',
};
const res = await request(getTestServer('classifyImage')).post('/projects/demo-bench/topics/images').set('content-type', 'application/json').send(JSON.stringify(push));
const t2 = performance.now();
console.log(JSON.stringify({
  first_prediction_ms: t2,
  node_bootstrap_ms: t0,
  module_load_ms: t1 - t0,
  first_invocation_ms: t2 - t1,
  status: res.status,
  rss_mb: process.memoryUsage().rss / 1048576,
}));
process.exit(0);
`;

/** One fresh process: its figures, split by the function's own log lines. */
async function oneProcess(
  script: string,
  photo: Photo,
  env: NodeJS.ProcessEnv
): Promise<Record<string, number | string>> {
  // Asynchronously: the Storage emulator answers from this very process.
  const {stdout: out} = await promisify(execFile)(
    process.execPath,
    [script, path.join(ROOT, 'dist/functions/src'), `gs://cold-images/${photo.name}`],
    {cwd: ROOT, encoding: 'utf8', env}
  );
  const lines = out.trim().split('\n');
  const parsed = JSON.parse(lines.at(-1)!) as Record<string, number | string>;
  for (const line of lines.slice(0, -1)) {
    const log = JSON.parse(line) as Record<string, unknown>;
    if (typeof log['load_model_latency_ms'] === 'number') parsed['model_load_ms'] = log['load_model_latency_ms'];
    if (log['outcome'] === 'predicted') {
      parsed['registry_read_ms'] = Number(log['registry_read_ms']);
      parsed['preprocess_ms'] = Number(log['preprocess_ms']);
      parsed['inference_ms'] = Number(log['inference_latency_ms']);
      parsed['engine'] = String(log['engine']);
    }
  }
  return parsed;
}

/**
 * Process start → first prediction, on emulators this function starts and stops: `runs` fresh
 * processes one after the other (the first one alone also pays for a cold disk cache and a
 * just-started emulator), reported as the run with the median first prediction, with every
 * run's figure beside it.
 */
export async function coldStart(
  engine: Engine,
  model: Buffer,
  scale: string,
  photo: Photo,
  runs = 3
): Promise<Record<string, unknown>> {
  const firestore = await startFirestore({logFile: path.join(ROOT, '.local/bench-firestore.log')});
  const storageEmulator = await startStorage({projectId: 'demo-bench'});
  const env = {
    ...process.env,
    FIRESTORE_EMULATOR_HOST: firestore.hostPort,
    STORAGE_EMULATOR_HOST: `http://${storageEmulator.hostPort}`,
    GOOGLE_CLOUD_PROJECT: 'demo-bench',
    METADATA_SERVER_DETECTION: 'none',
    MODEL_FILE_PATTERN: 'gs://cold-models/*.h5',
    IMAGE_BUCKETS: 'cold-images',
    INFERENCE_ENGINE: engine,
  };
  try {
    Object.assign(process.env, {
      FIRESTORE_EMULATOR_HOST: env.FIRESTORE_EMULATOR_HOST,
      STORAGE_EMULATOR_HOST: env.STORAGE_EMULATOR_HOST,
    });
    storageEmulator.createBucket('cold-models');
    storageEmulator.createBucket('cold-images');
    const storage = new Storage({projectId: 'demo-bench'});
    const file = storage.bucket('cold-models').file('model.h5');
    await file.save(model, {resumable: false});
    await storage.bucket('cold-images').file(photo.name).save(photo.bytes, {resumable: false});
    const [md] = await file.getMetadata();
    const config = parseConfig({MODEL_FILE_PATTERN: 'gs://cold-models/*.h5'});
    const db = new Firestore({projectId: 'demo-bench', ignoreUndefinedProperties: true});
    const data = {
      bucket: 'cold-models',
      name: 'model.h5',
      generation: String(md.generation),
      metageneration: '1',
      updated: String(md.updated),
      size: String(md.size),
      metadata: {scale},
    };
    await firestoreRegistry(db, config).recordVersion(
      buildRecord(data, 'cold', {scale: '0,1', labels: null}),
      'bench',
      new Date()
    );
    await db.terminate();
    const script = path.join(ROOT, '.local/bench-cold-start.mjs');
    fs.writeFileSync(script, CHILD);
    const results: Record<string, number | string>[] = [];
    for (let r = 0; r < runs; r++) results.push(await oneProcess(script, photo, env));
    results.sort((a, b) => Number(a['first_prediction_ms']) - Number(b['first_prediction_ms']));
    const median = results[Math.floor(results.length / 2)]!;
    const rounded = Object.fromEntries(
      Object.entries(median).map(([k, v]) => [k, typeof v === 'number' ? Math.round(v * 10) / 10 : v])
    );
    return {...rounded, runs_first_prediction_ms: results.map(x => Math.round(Number(x['first_prediction_ms'])))};
  } finally {
    await storageEmulator.stop();
    await firestore.stop();
    delete process.env['FIRESTORE_EMULATOR_HOST'];
    delete process.env['STORAGE_EMULATOR_HOST'];
  }
}
