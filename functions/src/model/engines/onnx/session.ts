/**
 * The ONNX engine: a Keras graph translated in memory (translate.ts) and run by ONNX
 * Runtime's CPU execution provider with every graph optimisation on.
 *
 * Threads: intra-op threads = the cores the instance really has (engines/cores.ts; see
 * {@link defaultThreads}), or `INFERENCE_THREADS`. ORT's pool threads spin-wait between ops
 * unless told not to; here they do not (`ORT_SPIN=off`, the default): a spinning thread takes
 * the core that decodes the next photo. `ORT_SPIN=on` forces spinning, `auto` spins except
 * under a fractional vCPU quota. `npm run bench` measures the alternatives.
 */
import type {InferenceSession as Session} from 'onnxruntime-node';
import {isOutOfMemory} from '../../../core/errors.js';
import type {Logger} from '../../../core/log.js';
import type {InputContract} from '../../../core/ports.js';
import type {KerasGraph} from '../../keras/graph.js';
import {availableCores, cpuQuota} from '../cores.js';
import type {EngineModel} from '../engine.js';
import {NoOnnxTranslation} from './builder.js';
import {kerasToOnnx} from './translate.js';

/** How ONNX Runtime runs. */
export interface OnnxOptions {
  /** Intra-op threads; `auto`: the instance's cores. */
  readonly threads?: number | 'auto';
  /** Spin-waiting of ORT's pool threads (default off); `auto`: on, off under a fractional CPU quota. */
  readonly spin?: 'auto' | 'on' | 'off';
}

type Ort = typeof import('onnxruntime-node');
let ort: Promise<Ort> | undefined;

/**
 * Loads the native binding once and logs the engine once; rejects where it cannot load
 * (the loader then falls back to tfjs).
 */
export function loadOrt(logger?: Logger, options: OnnxOptions = {}): Promise<Ort> {
  ort ??= import('onnxruntime-node').then(
    m => {
      const s = sessionOptions(options);
      logger?.log(
        'INFO',
        `inference engine: onnx (onnxruntime-node ${m.env.versions.common}, ${s.intraOpNumThreads} threads)`,
        {
          engine: 'onnx',
          backend: 'onnxruntime-cpu',
          intra_op_threads: s.intraOpNumThreads,
          spinning: spins(options),
        }
      );
      return m;
    },
    (e: unknown) => {
      ort = undefined;
      throw e;
    }
  );
  return ort;
}

/**
 * `INFERENCE_THREADS=auto`: every core the instance has. onnxruntime-node runs one
 * inference at a time (its `run` is synchronous on the main thread), so its threads are the
 * only way an inference uses more than one core; without spinning they leave the cores to
 * decoding between ops. On 2 cores, the configurations interleaved over six rounds (README,
 * Performance, "Threads"): two non-spinning threads beat one at concurrency 1 every round
 * (about 10 %) and at 4 and 16 in half the rounds (about 4 % on average); two spinning
 * threads lost under load every round. Measured on 2 cores only.
 */
export function defaultThreads(cores = availableCores()): number {
  return Math.max(1, cores);
}

/** Whether ORT's pool threads spin-wait: `on`, or `auto` without a fractional CPU quota. */
export function spins(options: OnnxOptions = {}): boolean {
  return options.spin === 'on' || (options.spin === 'auto' && Number.isInteger(cpuQuota()));
}

/** The session options {@link createOnnxModel} uses, resolved for this instance. */
export function sessionOptions(options: OnnxOptions = {}): Session.SessionOptions {
  const threads = options.threads === undefined || options.threads === 'auto' ? defaultThreads() : options.threads;
  const spin = spins(options);
  return {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    extra: {session: {intra_op: {allow_spinning: spin ? '1' : '0'}}},
  };
}

/**
 * Translates and loads a graph into ONNX Runtime. Throws NoOnnxTranslation where a layer has
 * none, or where ONNX Runtime will not load the translated graph.
 */
export async function createOnnxModel(
  graph: KerasGraph,
  contract: InputContract,
  options: OnnxOptions = {},
  logger?: Logger
): Promise<EngineModel & {readonly onnxBytes: number}> {
  const translated = kerasToOnnx(graph, contract);
  const {InferenceSession, Tensor} = await loadOrt(logger, options);
  const session = await InferenceSession.create(translated.bytes, sessionOptions(options)).catch((e: unknown) => {
    // A graph ONNX Runtime will not load (its shape inference disagrees with the weights, say)
    // is this translation's limit for the model: tfjs gets it, as for a layer without one.
    const why = (e as Error).message?.split('\n')[0] ?? String(e);
    throw isOutOfMemory(why) ? e : new NoOnnxTranslation(`ONNX Runtime refused the translated graph: ${why}`);
  });
  const outputWidth = translated.outputShape.length === 1 ? translated.outputShape[0]! : -1;
  const dims = [contract.height, contract.width, contract.channels];
  let disposed = false;
  return {
    engine: 'onnx',
    backend: 'onnxruntime-cpu',
    outputWidth,
    onnxBytes: translated.bytes.length,
    async predict(batch: Float32Array, count: number): Promise<Float32Array> {
      if (disposed) throw new Error('model was disposed');
      const input = new Tensor('float32', batch, [count, ...dims]);
      const result = await session.run({input});
      const out = Object.values(result)[0]!;
      return out.data as Float32Array;
    },
    dispose(): void {
      if (disposed) return;
      disposed = true;
      void session.release();
    },
  };
}
