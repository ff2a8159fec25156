/**
 * A pool of inference worker threads, so that one instance uses all of its cores with the
 * wasm backend (one thread per isolate in Node; `setThreadsCount` is ignored there).
 *
 * - Each worker has its own backend and its own copy of every loaded model. A new model
 *   loads into one worker first while the others keep answering with the old one; as soon
 *   as that worker has it, the model is ready (it serves there), and the other workers load
 *   it one by one, each once no queued request needs it for the old model. A swap thus
 *   costs one load time and never stops the whole instance.
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
import type {WorkerReply, WorkerRequest} from './inference_worker.js';
import {ModelBase, type Classification, type LoadedModel, type LoadOptions, type ModelInfo} from './keras_model.js';

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

/** Work for one worker other than a request: loading a model. */
interface Task {
  /** Runs before queued requests (the first load of a model; a replacement's reloads). */
  readonly urgent: boolean;
  run(): Promise<void>;
  /** The worker died before running it. */
  cancel(e: Error): void;
}

interface Handle {
  worker: Worker;
  calls: Map<number, {resolve(v: unknown): void; reject(e: Error): void}>;
  busy: boolean;
  ready: Promise<void>;
  /** Keys of the models this worker has loaded. */
  models: Set<string>;
  tasks: Task[];
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
  /** Predicts run, requests served and workers replaced (the tests read them). */
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
    const handle: Handle = {
      worker,
      calls: new Map(),
      busy: false,
      ready: Promise.resolve(),
      models: new Set(),
      tasks: [],
    };
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
    const died = new Error(`inference worker exited (code ${code})`);
    for (const call of handle.calls.values()) call.reject(died);
    handle.calls.clear();
    for (const task of handle.tasks.splice(0)) task.cancel(died);
    const replacement = this.spawn();
    this.handles[index] = replacement;
    this.stats.restarts++;
    this.options.logger?.log('ERROR', `inference worker exited (code ${code}); replaced`, {exit_code: code});
    replacement.busy = true; // until its backend is up
    void replacement.ready.then(
      () => {
        replacement.busy = false;
        for (const [key, m] of this.live) void this.loadOn(replacement, key, m, true).catch(() => {});
      },
      e => this.options.logger?.log('ERROR', `inference worker replacement failed: ${(e as Error).message}`)
    );
  }

  /** Loads a model into one worker, as a task of that worker. */
  private loadOn(
    handle: Handle,
    key: string,
    m: {bytes: Uint8Array; options: LoadOptions},
    urgent: boolean
  ): Promise<ModelInfo> {
    return new Promise<ModelInfo>((resolve, reject) => {
      if (!this.handles.includes(handle)) return reject(new Error('inference worker was replaced'));
      handle.tasks.push({
        urgent,
        cancel: reject,
        run: async () => {
          try {
            const info = (await this.call(handle, {type: 'load', key, ...m})) as ModelInfo;
            if (this.live.has(key)) handle.models.add(key);
            else void this.call(handle, {type: 'dispose', key}).catch(() => {}); // disposed meanwhile
            resolve(info);
          } catch (e) {
            reject(e as Error);
          }
        },
      });
      this.pump();
    });
  }

  private call(handle: Handle, req: Request): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      handle.calls.set(id, {resolve, reject});
      handle.worker.postMessage({...req, id});
    });
  }

  /**
   * Loads a model: into the first worker before anything else it has queued, then, in the
   * background, into the others. Resolves when the first has it (it can serve from then on).
   */
  async load(bytes: Uint8Array, options: LoadOptions): Promise<LoadedModel> {
    const key = `m${this.nextKey++}`;
    const m = {bytes, options};
    this.live.set(key, m);
    const [first, ...rest] = this.handles;
    let info: ModelInfo;
    try {
      info = await this.loadOn(first!, key, m, true);
    } catch (e) {
      this.live.delete(key);
      throw e;
    }
    void (async () => {
      for (const handle of rest) {
        if (!this.live.has(key)) return;
        await this.loadOn(handle, key, m, false).catch((e: Error) =>
          this.options.logger?.log('ERROR', `inference worker could not load ${options.name ?? key}: ${e.message}`)
        );
      }
    })();
    return new PooledModel(this, key, info);
  }

  /** How many workers have the model (for tests and the benchmark). */
  workersWith(model: LoadedModel): number {
    const key = (model as PooledModel).key;
    return this.handles.filter(h => h.models.has(key)).length;
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
      if (handle.busy) continue;
      const servable = this.queue.findIndex(j => handle.models.has(j.key));
      const task = handle.tasks.find(t => t.urgent) ?? (servable === -1 ? handle.tasks[0] : undefined);
      if (task) {
        handle.tasks.splice(handle.tasks.indexOf(task), 1);
        handle.busy = true;
        void task.run().finally(() => {
          handle.busy = false;
          this.pump();
        });
        continue;
      }
      if (servable === -1) continue;
      const first = this.queue.splice(servable, 1)[0]!;
      const batch = [first];
      for (let i = servable; i < this.queue.length && batch.length < this.options.maxBatch;) {
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
    for (const h of this.handles) {
      h.models.delete(key);
      void this.call(h, {type: 'dispose', key}).catch(() => {});
    }
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
class PooledModel extends ModelBase {
  private disposed = false;

  constructor(
    private readonly pool: InferencePool,
    /** The model's key in the pool's workers. */
    readonly key: string,
    info: ModelInfo
  ) {
    super(info);
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
