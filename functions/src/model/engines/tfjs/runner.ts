/**
 * How the tfjs engine runs on an instance: the backend chosen once (backend.ts), then
 * either in the request thread (tfjs-node, which is multithreaded itself, or
 * `INFERENCE_WORKERS=0`) or on a pool of worker threads (wasm and cpu: one per core,
 * since wasm runs one thread per isolate in Node). The pool starts with the first model.
 *
 * tfjs itself (about 300 ms of module loading) is imported with the first model that needs
 * it, not with this file: with ONNX Runtime as the engine, a cold start never pays for it.
 */
import type {Logger} from '../../../core/log.js';
import type {TfjsRunner} from '../../loader.js';
import {availableCores} from '../cores.js';
import type {InferencePool} from './pool.js';

/** Options of {@link tfjsRunner}. */
export interface TfjsRunnerOptions {
  /** `TFJS_BACKEND` (null: the best available). */
  readonly backend: string | null;
  /** `INFERENCE_WORKERS`. */
  readonly workers: number | 'auto';
  /** `MAX_BATCH`. */
  readonly maxBatch: number;
  readonly logger: Logger;
}

/**
 * Workers for `INFERENCE_WORKERS` (`auto` or a count) on a backend: `auto` is one per core
 * for wasm and cpu, and none for tfjs-node (its own thread pool already uses every core).
 */
export function poolSize(setting: number | 'auto', backend: string, cores = availableCores()): number {
  if (setting !== 'auto') return setting;
  return backend === 'tensorflow' || cores < 2 ? 0 : cores;
}

/** A runner for the loader, with the pool (if any) started lazily and shared by every model. */
export function tfjsRunner(options: TfjsRunnerOptions): TfjsRunner & {pool(): Promise<InferencePool | null>} {
  let pool: Promise<InferencePool | null> | null = null;
  const getPool = (): Promise<InferencePool | null> => {
    pool ??= (async () => {
      const [{initBackend, parseBackendName}, {InferencePool}] = await Promise.all([
        import('./backend.js'),
        import('./pool.js'),
      ]);
      const forced = parseBackendName(options.backend ?? undefined);
      const choice = await initBackend({logger: options.logger, ...(forced ? {forced} : {})});
      const size = poolSize(options.workers, choice.name);
      if (size === 0) return null;
      return InferencePool.start({size, backend: choice.name, maxBatch: options.maxBatch, logger: options.logger});
    })().catch(e => {
      pool = null; // try again on the next load
      throw e;
    });
    return pool;
  };
  const run: TfjsRunner = async (graph, contract) => {
    const p = await getPool();
    return p ? p.load(graph, contract) : (await import('./model.js')).createTfjsModel(graph, contract);
  };
  return Object.assign(run, {pool: getPool});
}
