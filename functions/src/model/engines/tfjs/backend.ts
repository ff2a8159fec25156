/**
 * Chooses the TensorFlow.js backend once per thread.
 *
 * Order of preference: `tensorflow` (tfjs-node, native libtensorflow, multithreaded:
 * what production installs), then `wasm` (XNNPACK with SIMD: about 55 ms per
 * MobileNetV2 image on one core, but one thread only in Node, since the threaded build
 * needs a browser-style worker setup), then `cpu` (pure JavaScript, about 1 s per image).
 * `TFJS_BACKEND` forces one and fails loudly if it cannot start.
 *
 * State is per thread (module instance), so worker threads each choose their own.
 */
import * as tf from '@tensorflow/tfjs';
import type {Logger} from '../../../core/log.js';

/** Backends in order of preference. */
export const BACKENDS = ['tensorflow', 'wasm', 'cpu'] as const;
/** A backend this project can run on. */
export type BackendName = (typeof BACKENDS)[number];

/** What {@link initBackend} chose, and why the better ones were not used. */
export interface BackendChoice {
  readonly name: BackendName;
  /** Backends tried before, with the reason each failed. */
  readonly skipped: ReadonlyArray<{name: BackendName; reason: string}>;
}

let choice: Promise<BackendChoice> | undefined;

async function tryBackend(name: BackendName): Promise<void> {
  if (name === 'tensorflow') {
    // Registers the 'tensorflow' backend with the same tfjs-core engine (npm dedupes it).
    const pkg = '@tensorflow/tfjs-node';
    await import(pkg);
  } else if (name === 'wasm') {
    await import('@tensorflow/tfjs-backend-wasm');
  }
  if (!(await tf.setBackend(name))) throw new Error(`tf.setBackend('${name}') returned false`);
  await tf.ready();
}

/** Parses `TFJS_BACKEND` (empty = automatic). */
export function parseBackendName(value: string | undefined): BackendName | undefined {
  const name = value?.trim() ?? '';
  if (name === '' || name === 'auto') return undefined;
  if ((BACKENDS as readonly string[]).includes(name)) return name as BackendName;
  throw new Error(`TFJS_BACKEND must be one of ${BACKENDS.join(', ')} (or empty), not '${value}'`);
}

/**
 * Initialises the best available backend (or `forced`), once; later calls return the
 * same choice. Logs the choice once.
 */
export function initBackend(options: {forced?: BackendName; logger?: Logger} = {}): Promise<BackendChoice> {
  choice ??= (async () => {
    const order: readonly BackendName[] = options.forced ? [options.forced] : BACKENDS;
    const skipped: Array<{name: BackendName; reason: string}> = [];
    for (const name of order) {
      try {
        await tryBackend(name);
        const result = {name, skipped};
        options.logger?.log('INFO', `inference engine: tfjs (TensorFlow.js backend ${name})`, {
          engine: 'tfjs',
          backend: name,
          skipped: skipped.map(s => `${s.name}: ${s.reason}`),
        });
        return result;
      } catch (e) {
        skipped.push({name, reason: (e as Error).message.split('\n')[0] ?? String(e)});
      }
    }
    choice = undefined;
    throw new Error(`no TensorFlow.js backend could start: ${skipped.map(s => `${s.name}: ${s.reason}`).join('; ')}`);
  })();
  return choice;
}
