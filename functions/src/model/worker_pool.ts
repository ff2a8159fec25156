/**
 * A pool of inference worker threads, so that one instance uses all of its cores with the
 * wasm backend (one thread per isolate in Node; `setThreadsCount` is ignored there).
 *
 * - Each worker has its own backend and its own copy of every loaded model; a load goes to
 *   all workers at once, so a swap costs one load time, not one per worker.
 * - Requests wait in one queue; a worker that becomes free takes the oldest request and,
 *   up to `maxBatch`, the other queued requests for the same model, and runs them as one
 *   `predict` (opportunistic micro-batching: it never waits for a batch to fill, so a lone
 *   request pays nothing).
 * - A worker that dies is replaced and given the live models again; its in-flight requests
 *   fail (transient: the message is redelivered).
 *
 * With tfjs-node, which is multithreaded itself, no pool is used (see {@link poolSize}).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath, pathToFileURL} from 'node:url';
import {Worker} from 'node:worker_threads';
import type {Logger} from '../core/log.js';
import type {BackendName} from './backend.js';
import {ModelUnusableError} from './errors.js';
import type {ModelInfo, WorkerReply, WorkerRequest} from './inference_worker.js';
import type {Classification, LoadedModel, LoadOptions} from './keras_model.js';

/** Options of {@link InferencePool.start}. */
export interface PoolOptions {
  readonly size: number;
  readonly backend: BackendName;
  /** Most requests run as one predict (1 = no batching). */
  readonly maxBatch: number;
  readonly logger?: Logger;
}

/**
 * The cores this process may use: the CPU count, bounded by a cgroup v2 quota
 * (`/sys/fs/cgroup/cpu.max`, e.g. `200000 100000` = 2 vCPUs) where one is set, since a
 * container may see every core of its host.
 */
export function availableCores(cpuMax = '/sys/fs/cgroup/cpu.max'): number {
  const cores = os.availableParallelism();
  try {
    const [quota, period] = fs.readFileSync(cpuMax, 'utf8').trim().split(/\s+/);
    if (quota && quota !== 'max' && Number(period) > 0)
      return Math.max(1, Math.min(cores, Math.ceil(Number(quota) / Number(period))));
  } catch {
    // no cgroup v2 quota here
  }
  return cores;
}

/**
 * Workers for `INFERENCE_WORKERS` (`auto` or a count) on a backend: `auto` is one per core
 * for wasm and cpu, and none for tfjs-node (its own thread pool already uses every core).
 */
export function poolSize(setting: number | 'auto', backend: string, cores = availableCores()): number {
  if (setting !== 'auto') return setting;
  return backend === 'tensorflow' || cores < 2 ? 0 : cores;
}

interface Job {
  readonly key: string;
  readonly image: Float32Array;
  readonly topK: number;
  resolve(c: Classification): void;
  reject(e: Error): void;
}

/** A request before the pool numbers it. */
type Request = WorkerRequest extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never;

interface Handle {
  worker: Worker;
  calls: Map<number, {resolve(v: unknown): void; reject(e: Error): void}>;
  busy: boolean;
  ready: Promise<void>;
}

// The build runs the compiled .js. In development (tsx, .ts sources) worker threads do not
// inherit tsx's loader hooks, so the worker first registers tsx, then imports its module.
const here = fileURLToPath(import.meta.url);
const WORKER_FILE = path.join(path.dirname(here), `inference_worker${path.extname(here)}`);

function newWorker(workerData: unknown): Worker {
  if (!WORKER_FILE.endsWith('.ts')) return new Worker(WORKER_FILE, {workerData});
  const tsx = import.meta.resolve('tsx/esm/api');
  const entry = pathToFileURL(WORKER_FILE).href;
  const boot = `import(${JSON.stringify(tsx)}).then(m => { m.register(); return import(${JSON.stringify(entry)}); })`;
  return new Worker(boot, {eval: true, workerData});
}

function rebuildError(e: {name: string; message: string; kind?: string}): Error {
  const error = e.kind ? new ModelUnusableError(e.kind, e.message) : new Error(e.message);
  error.name = e.name;
  return error;
}

/** The pool; see the module comment. */
export class InferencePool {
  private readonly handles: Handle[] = [];
  private readonly queue: Job[] = [];
  /** Live models, by key, with what it takes to load them into a replacement worker. */
  private readonly live = new Map<string, {bytes: Uint8Array; options: LoadOptions}>();
  private nextId = 1;
  private nextKey = 1;
  private closed = false;
  /** Predicts run and requests served, for the benchmark. */
  readonly stats = {batches: 0, requests: 0, restarts: 0};

  private constructor(private readonly options: PoolOptions) {}

  /** Starts `size` workers and waits until each has its backend. */
  static async start(options: PoolOptions): Promise<InferencePool> {
    const pool = new InferencePool(options);
    for (let i = 0; i < options.size; i++) pool.handles.push(pool.spawn());
    try {
      await Promise.all(pool.handles.map(h => h.ready));
    } catch (e) {
      await pool.close();
      throw e;
    }
    options.logger?.log('INFO', `inference pool: ${options.size} worker threads on ${options.backend}`, {
      workers: options.size,
      backend: options.backend,
      max_batch: options.maxBatch,
    });
    return pool;
  }

  get size(): number {
    return this.handles.length;
  }

  private spawn(): Handle {
    const worker = newWorker({backend: this.options.backend});
    const handle: Handle = {worker, calls: new Map(), busy: false, ready: Promise.resolve()};
    handle.ready = new Promise<void>((resolve, reject) => {
      worker.on('message', (reply: WorkerReply) => {
        if ('ready' in reply) return resolve();
        if ('failed' in reply) return reject(new Error(`inference worker: ${reply.failed}`));
        const call = handle.calls.get(reply.id);
        handle.calls.delete(reply.id);
        if ('error' in reply) call?.reject(rebuildError(reply.error));
        else call?.resolve(reply.result);
      });
      worker.on('error', e => reject(e));
    });
    worker.on('exit', code => this.lost(handle, code));
    return handle;
  }

  /** A worker exited: fail its calls, replace it, give the replacement the live models. */
  private lost(handle: Handle, code: number): void {
    const index = this.handles.indexOf(handle);
    if (index === -1 || this.closed) return;
    for (const call of handle.calls.values()) call.reject(new Error(`inference worker exited (code ${code})`));
    handle.calls.clear();
    const replacement = this.spawn();
    this.handles[index] = replacement;
    this.stats.restarts++;
    this.options.logger?.log('ERROR', `inference worker exited (code ${code}); replaced`, {exit_code: code});
    replacement.busy = true; // not before it has every live model
    void replacement.ready
      .then(() => Promise.all([...this.live].map(([key, m]) => this.call(replacement, {type: 'load', key, ...m}))))
      .then(
        () => {
          replacement.busy = false;
          this.pump();
        },
        e => this.options.logger?.log('ERROR', `inference worker replacement failed: ${(e as Error).message}`)
      );
  }

  private call(handle: Handle, req: Request): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      handle.calls.set(id, {resolve, reject});
      handle.worker.postMessage({...req, id});
    });
  }

  /** Loads a model into every worker (in parallel) and returns it. */
  async load(bytes: Uint8Array, options: LoadOptions): Promise<LoadedModel> {
    const key = `m${this.nextKey++}`;
    const infos = (await Promise.allSettled(
      this.handles.map(h => this.call(h, {type: 'load', key, bytes, options}))
    )) as Array<PromiseSettledResult<ModelInfo>>;
    const failed = infos.find(r => r.status === 'rejected');
    if (failed) {
      for (const h of this.handles) void this.call(h, {type: 'dispose', key}).catch(() => {});
      throw failed.reason;
    }
    this.live.set(key, {bytes, options});
    return new PooledModel(this, key, (infos[0] as PromiseFulfilledResult<ModelInfo>).value);
  }

  /** Queues one request per image; resolves when all are classified. */
  classify(key: string, images: readonly Float32Array[], topK: number): Promise<Classification[]> {
    const done = Promise.all(
      images.map(
        image => new Promise<Classification>((resolve, reject) => this.queue.push({key, image, topK, resolve, reject}))
      )
    );
    this.pump();
    return done;
  }

  private pump(): void {
    for (const handle of this.handles) {
      if (handle.busy || this.queue.length === 0) continue;
      const first = this.queue.shift()!;
      const batch = [first];
      for (let i = 0; i < this.queue.length && batch.length < this.options.maxBatch;) {
        const job = this.queue[i]!;
        if (job.key === first.key && job.topK === first.topK) batch.push(...this.queue.splice(i, 1));
        else i++;
      }
      handle.busy = true;
      this.stats.batches++;
      this.stats.requests += batch.length;
      const images = batch.map(j => j.image);
      this.call(handle, {type: 'classify', key: first.key, images, topK: first.topK})
        .then(
          results => batch.forEach((job, i) => job.resolve((results as Classification[])[i]!)),
          (e: Error) => batch.forEach(job => job.reject(e))
        )
        .finally(() => {
          handle.busy = false;
          this.pump();
        });
    }
  }

  /** Frees a model in every worker. */
  dispose(key: string): void {
    this.live.delete(key);
    for (const h of this.handles) void this.call(h, {type: 'dispose', key}).catch(() => {});
  }

  /** `tf.memory()` of each worker. */
  memory(): Promise<Array<{numTensors: number; numBytes: number}>> {
    return Promise.all(this.handles.map(h => this.call(h, {type: 'memory'}))) as Promise<
      Array<{numTensors: number; numBytes: number}>
    >;
  }

  /** Stops every worker; queued requests fail. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new Error('inference pool closed'));
    await Promise.all(this.handles.map(h => h.worker.terminate()));
  }
}

/** A model living in the pool's workers, behind the {@link LoadedModel} interface. */
class PooledModel implements LoadedModel {
  readonly name: string;
  readonly input: LoadedModel['input'];
  readonly outputWidth: number;
  readonly labels: readonly string[] | null;
  readonly kerasVersion: string | null;
  readonly backend: string;
  readonly byteSize: number;
  readonly paramCount: number;
  readonly outputsProbabilities: boolean;
  readonly timings: LoadedModel['timings'];
  private disposed = false;

  constructor(
    private readonly pool: InferencePool,
    private readonly key: string,
    info: ModelInfo
  ) {
    this.name = info.name;
    this.input = info.input;
    this.outputWidth = info.outputWidth;
    this.labels = info.labels;
    this.kerasVersion = info.kerasVersion;
    this.backend = info.backend;
    this.byteSize = info.byteSize;
    this.paramCount = info.paramCount;
    this.outputsProbabilities = info.outputsProbabilities;
    this.timings = info.timings;
  }

  classifyBatch(images: readonly Float32Array[], topK = 5): Promise<Classification[]> {
    if (this.disposed) return Promise.reject(new Error(`model ${this.name} was disposed`));
    return this.pool.classify(this.key, images, topK);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.pool.dispose(this.key);
  }
}
