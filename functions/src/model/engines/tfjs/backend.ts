/**
 * Chooses the TensorFlow.js backend once per thread.
 *
 * Order of preference: `tensorflow` (tfjs-node, native libtensorflow, multithreaded:
 * what production installs), then `wasm` (XNNPACK with SIMD: about 55 ms per
 * MobileNetV2 image on one core, but one thread only in Node, since the threaded build
 * needs a browser-style worker setup), then `cpu` (pure JavaScript, about 1 s per image).
 * `TFJS_BACKEND` forces one and fails loudly if it cannot start. A backend is chosen only
 * once it has computed a small add and convolution correctly ({@link proveBackend}).
 *
 * State is per thread (module instance), so worker threads each choose their own.
 */
import util from 'node:util';
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

/**
 * Puts back `util.isNullOrUndefined` where Node lacks it (Node 23 removed it, DEP0051), with
 * its old meaning, `v === null || v === undefined`. tfjs-node 4.22.0, the last release, calls
 * it in every op's dtype attribute and in TopK, so on the `nodejs24` runtime it starts and
 * then fails its first op ("isNullOrUndefined is not a function"). Upstream replaced those
 * calls with the same expression (tensorflow/tfjs#8425) but has not released it (#8609).
 * Returns whether it had to.
 */
export function restoreIsNullOrUndefined(target: object = util): boolean {
  const t = target as Record<string, unknown>;
  if (typeof t['isNullOrUndefined'] === 'function') return false;
  t['isNullOrUndefined'] = (v: unknown): boolean => v === null || v === undefined;
  return true;
}

/**
 * Runs an add and a convolution on the current backend and checks the answers: a backend
 * that starts but cannot compute (tfjs-node on a Node it does not support) is skipped, so
 * the next one serves, rather than failing every model's load.
 */
export function proveBackend(): void {
  const [sum, conv] = tf.tidy(() => [
    tf.add(tf.tensor1d([1, 2]), tf.scalar(1)).dataSync(),
    tf.conv2d(tf.ones([1, 2, 2, 1]) as tf.Tensor4D, tf.fill([1, 1, 1, 1], 2) as tf.Tensor4D, 1, 'same').dataSync(),
  ]);
  if (sum[0] !== 2 || sum[1] !== 3 || conv.length !== 4 || conv.some(v => v !== 2))
    throw new Error(`computed [1, 2] + 1 as [${String(sum)}] and a 1×1 convolution by 2 of ones as [${String(conv)}]`);
}

async function tryBackend(name: BackendName): Promise<void> {
  if (name === 'tensorflow') {
    restoreIsNullOrUndefined();
    // Registers the 'tensorflow' backend with the same tfjs-core engine (npm dedupes it).
    const pkg = '@tensorflow/tfjs-node';
    await import(pkg);
  } else if (name === 'wasm') {
    await import('@tensorflow/tfjs-backend-wasm');
  }
  if (!(await tf.setBackend(name))) throw new Error(`tf.setBackend('${name}') returned false`);
  await tf.ready();
  proveBackend();
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
