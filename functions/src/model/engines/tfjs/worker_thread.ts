/**
 * One inference worker thread (worker.ts) and its request/reply plumbing: numbered requests,
 * their replies, errors rebuilt on this side. pool.ts decides what each thread does and when.
 */
import path from 'node:path';
import {fileURLToPath, pathToFileURL} from 'node:url';
import {Worker} from 'node:worker_threads';
import {EngineUnavailableError, ModelUnusableError} from '../../../core/errors.js';
import type {BackendName} from './backend.js';
import type {WorkerReply, WorkerRequest} from './worker.js';

/** A request before the thread numbers it. */
export type Request = WorkerRequest extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never;

// The build runs the compiled .js. In development (tsx, .ts sources) worker threads do not
// inherit tsx's loader hooks, so the worker first registers tsx, then imports its module.
const here = fileURLToPath(import.meta.url);
const WORKER_FILE = path.join(path.dirname(here), `worker${path.extname(here)}`);

function newWorker(workerData: unknown): Worker {
  if (!WORKER_FILE.endsWith('.ts')) return new Worker(WORKER_FILE, {workerData});
  const tsx = import.meta.resolve('tsx/esm/api');
  const entry = pathToFileURL(WORKER_FILE).href;
  const boot = `import(${JSON.stringify(tsx)}).then(m => { m.register(); return import(${JSON.stringify(entry)}); })`;
  return new Worker(boot, {eval: true, workerData});
}

function rebuildError(e: {name: string; message: string; kind?: string}): Error {
  if (e.name === 'EngineUnavailableError') return new EngineUnavailableError(e.message);
  const error = e.kind ? new ModelUnusableError(e.kind, e.message) : new Error(e.message);
  error.name = e.name;
  return error;
}

/** A worker thread running one tfjs backend. */
export class WorkerThread {
  private readonly worker: Worker;
  private readonly calls = new Map<number, {resolve(v: unknown): void; reject(e: Error): void}>();
  private nextId = 1;
  /** Resolves once the worker's backend is up; rejects if it cannot start. */
  readonly ready: Promise<void>;

  /** `onExit` hears of the thread's end, whatever the cause. */
  constructor(backend: BackendName, onExit: (code: number) => void) {
    const worker = (this.worker = newWorker({backend}));
    this.ready = new Promise<void>((resolve, reject) => {
      worker.on('message', (reply: WorkerReply) => {
        if ('ready' in reply) return resolve();
        if ('failed' in reply) return reject(new EngineUnavailableError(`inference worker: ${reply.failed}`));
        const call = this.calls.get(reply.id);
        this.calls.delete(reply.id);
        if ('error' in reply) call?.reject(rebuildError(reply.error));
        else call?.resolve(reply.result);
      });
      worker.on('error', e => reject(new EngineUnavailableError(`inference worker: ${e.message}`)));
    });
    worker.on('exit', onExit);
  }

  /** Sends one request; resolves with its reply. */
  call(req: Request): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.calls.set(id, {resolve, reject});
      this.worker.postMessage({...req, id});
    });
  }

  /** Fails every request in flight (the thread is gone). */
  failAll(e: Error): void {
    for (const call of this.calls.values()) call.reject(e);
    this.calls.clear();
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}
