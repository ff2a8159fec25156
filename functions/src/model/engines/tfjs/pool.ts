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
 * With tfjs-node, which is multithreaded itself, no pool is used (runner.ts, `poolSize`).
 */
import {EngineUnavailableError} from '../../../core/errors.js';
import type {Logger} from '../../../core/log.js';
import type {InputContract} from '../../../core/ports.js';
import type {KerasGraph} from '../../keras/graph.js';
import type {EngineModel} from '../engine.js';
import type {BackendName} from './backend.js';
import {PooledModel} from './pooled_model.js';
import {WorkerThread} from './worker_thread.js';

/** Options of {@link InferencePool.start}. */
export interface PoolOptions {
  readonly size: number;
  readonly backend: BackendName;
  /** Most requests run as one predict (1 = no batching). */
  readonly maxBatch: number;
  readonly logger?: Logger;
}

interface Job {
  readonly key: string;
  readonly image: Float32Array;
  resolve(row: Float32Array): void;
  reject(e: Error): void;
}

/** What a worker needs to build a model: the parsed graph (plain data) and its input contract. */
interface Loadable {
  readonly graph: KerasGraph;
  readonly contract: InputContract;
}

/** Work for one worker other than a request: loading a model. */
interface Task {
  /** Runs before queued requests (the first load of a model; a replacement's reloads). */
  readonly urgent: boolean;
  run(): Promise<void>;
  /** The worker died before running it. */
  cancel(e: Error): void;
}

interface Handle {
  thread: WorkerThread;
  busy: boolean;
  /** Keys of the models this worker has loaded. */
  models: Set<string>;
  tasks: Task[];
}

/** The pool; see the module comment. */
export class InferencePool {
  private readonly handles: Handle[] = [];
  private readonly queue: Job[] = [];
  /** Live models, by key, with what it takes to load them into a replacement worker. */
  private readonly live = new Map<string, Loadable>();
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
      await Promise.all(pool.handles.map(h => h.thread.ready));
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
    const handle: Handle = {
      thread: new WorkerThread(this.options.backend, code => this.lost(handle, code)),
      busy: false,
      models: new Set(),
      tasks: [],
    };
    return handle;
  }

  /** A worker exited: fail its calls, replace it, give the replacement the live models. */
  private lost(handle: Handle, code: number): void {
    const index = this.handles.indexOf(handle);
    if (index === -1 || this.closed) return;
    const died = new EngineUnavailableError(`inference worker exited (code ${code})`);
    handle.thread.failAll(died);
    for (const task of handle.tasks.splice(0)) task.cancel(died);
    const replacement = this.spawn();
    this.handles[index] = replacement;
    this.stats.restarts++;
    this.options.logger?.log('ERROR', `inference worker exited (code ${code}); replaced`, {exit_code: code});
    replacement.busy = true; // until its backend is up
    void replacement.thread.ready.then(
      () => {
        replacement.busy = false;
        for (const [key, m] of this.live) void this.loadOn(replacement, key, m, true).catch(() => {});
      },
      e => this.options.logger?.log('ERROR', `inference worker replacement failed: ${(e as Error).message}`)
    );
  }

  /** Loads a model into one worker, as a task of that worker. */
  private loadOn(handle: Handle, key: string, m: Loadable, urgent: boolean): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      if (!this.handles.includes(handle)) return reject(new EngineUnavailableError('inference worker was replaced'));
      handle.tasks.push({
        urgent,
        cancel: reject,
        run: async () => {
          try {
            const info = (await handle.thread.call({type: 'load', key, ...m})) as number;
            if (this.live.has(key)) handle.models.add(key);
            else void handle.thread.call({type: 'dispose', key}).catch(() => {}); // disposed meanwhile
            resolve(info);
          } catch (e) {
            reject(e as Error);
          }
        },
      });
      this.pump();
    });
  }

  /**
   * Loads a model: into the first worker before anything else it has queued, then, in the
   * background, into the others. Resolves when the first has it (it can serve from then on).
   */
  async load(graph: KerasGraph, contract: InputContract): Promise<EngineModel> {
    const key = `m${this.nextKey++}`;
    const m = {graph, contract};
    this.live.set(key, m);
    const [first, ...rest] = this.handles;
    let info: number;
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
          this.options.logger?.log('ERROR', `inference worker could not load ${graph.name} (${key}): ${e.message}`)
        );
      }
    })();
    return new PooledModel(this, key, info, this.options.backend);
  }

  /** For each live model, oldest first: how many workers have it (for tests and the benchmark). */
  workerCounts(): number[] {
    return [...this.live.keys()].map(key => this.handles.filter(h => h.models.has(key)).length);
  }

  /** Queues one request per image; resolves with each image's output row. */
  predict(key: string, images: readonly Float32Array[]): Promise<Float32Array[]> {
    if (this.closed) return Promise.reject(new EngineUnavailableError('inference pool closed'));
    const done = Promise.all(
      images.map(
        image => new Promise<Float32Array>((resolve, reject) => this.queue.push({key, image, resolve, reject}))
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
        if (job.key === first.key) batch.push(...this.queue.splice(i, 1));
        else i++;
      }
      handle.busy = true;
      this.stats.batches++;
      this.stats.requests += batch.length;
      const images = batch.map(j => j.image);
      handle.thread
        .call({type: 'predict', key: first.key, images})
        .then(
          rows => batch.forEach((job, i) => job.resolve((rows as Float32Array[])[i]!)),
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
      void h.thread.call({type: 'dispose', key}).catch(() => {});
    }
  }

  /** `tf.memory()` of each worker. */
  memory(): Promise<Array<{numTensors: number; numBytes: number}>> {
    return Promise.all(this.handles.map(h => h.thread.call({type: 'memory'}))) as Promise<
      Array<{numTensors: number; numBytes: number}>
    >;
  }

  /** Stops every worker; queued requests fail. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new EngineUnavailableError('inference pool closed'));
    await Promise.all(this.handles.map(h => h.thread.terminate()));
  }
}
