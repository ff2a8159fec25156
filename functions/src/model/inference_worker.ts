/**
 * One inference worker thread of {@link InferencePool}: its own TensorFlow.js backend
 * (wasm runs one thread per isolate, so one worker per core is how an instance uses all
 * of its cores), its own copies of the loaded models.
 *
 * Protocol (every request has an `id`; every reply echoes it with `result` or `error`):
 * `load {key, bytes, options}` → model info; `classify {key, images, topK}` →
 * Classification[]; `dispose {key}`; `memory` → tf.memory().
 */
import {parentPort, workerData} from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import {initBackend, type BackendName} from './backend.js';
import {loadKerasModel, modelInfo, type LoadedModel, type LoadOptions} from './keras_model.js';

/** A request from the pool. */
export type WorkerRequest =
  | {id: number; type: 'load'; key: string; bytes: Uint8Array; options: LoadOptions}
  | {id: number; type: 'classify'; key: string; images: Float32Array[]; topK: number}
  | {id: number; type: 'dispose'; key: string}
  | {id: number; type: 'memory'};

/** A reply to the pool. */
export type WorkerReply =
  | {id: number; result: unknown}
  | {id: number; error: {name: string; message: string; kind?: string}}
  | {id: 0; ready: string}
  | {id: 0; failed: string};

const port = parentPort!;
const models = new Map<string, LoadedModel>();
const {backend} = workerData as {backend: BackendName};

async function handle(req: WorkerRequest): Promise<unknown> {
  switch (req.type) {
    case 'load': {
      const model = await loadKerasModel(req.bytes, req.options);
      models.get(req.key)?.dispose();
      models.set(req.key, model);
      return modelInfo(model);
    }
    case 'classify': {
      const model = models.get(req.key);
      if (!model) throw new Error(`model ${req.key} is not loaded in this worker`);
      return model.classifyBatch(req.images, req.topK);
    }
    case 'dispose':
      models.get(req.key)?.dispose();
      models.delete(req.key);
      return null;
    case 'memory':
      // With --expose-gc (npm run bench), collect first: the figure is what is retained.
      (globalThis as {gc?: () => void}).gc?.();
      return tf.memory();
  }
}

initBackend({forced: backend}).then(
  choice => {
    port.on('message', (req: WorkerRequest) => {
      handle(req).then(
        result => port.postMessage({id: req.id, result} satisfies WorkerReply),
        (e: Error & {kind?: string}) =>
          port.postMessage({
            id: req.id,
            error: {name: e.name, message: e.message, ...(e.kind ? {kind: e.kind} : {})},
          } satisfies WorkerReply)
      );
    });
    port.postMessage({id: 0, ready: choice.name} satisfies WorkerReply);
  },
  (e: Error) => port.postMessage({id: 0, failed: e.message} satisfies WorkerReply)
);
