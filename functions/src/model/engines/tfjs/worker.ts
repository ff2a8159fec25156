/**
 * One inference worker thread of {@link InferencePool}: its own TensorFlow.js backend
 * (wasm runs one thread per isolate, so one worker per core is how an instance uses all
 * of its cores), its own copies of the loaded models.
 *
 * Protocol (every request has an `id`; every reply echoes it with `result` or `error`):
 * `load {key, graph, contract}` → output width; `predict {key, images}` → one
 * output row per image; `dispose {key}`; `memory` → tf.memory(). The model arrives parsed
 * (the instance reads each file once), as plain data.
 */
import {parentPort, workerData} from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import {EngineUnavailableError} from '../../../core/errors.js';
import {initBackend, type BackendName} from './backend.js';
import type {InputContract} from '../../../core/ports.js';
import type {KerasGraph} from '../../keras/graph.js';
import type {EngineModel} from '../engine.js';
import {createTfjsModel} from './model.js';

/** A request from the pool. */
export type WorkerRequest =
  | {id: number; type: 'load'; key: string; graph: KerasGraph; contract: InputContract}
  | {id: number; type: 'predict'; key: string; images: Float32Array[]}
  | {id: number; type: 'dispose'; key: string}
  | {id: number; type: 'memory'};

/** A reply to the pool. */
export type WorkerReply =
  | {id: number; result: unknown}
  | {id: number; error: {name: string; message: string; kind?: string}}
  | {id: 0; ready: string}
  | {id: 0; failed: string};

const port = parentPort!;
const models = new Map<string, {model: EngineModel; contract: InputContract}>();
const {backend} = workerData as {backend: BackendName};

async function handle(req: WorkerRequest): Promise<unknown> {
  switch (req.type) {
    case 'load': {
      const model = await createTfjsModel(req.graph, req.contract);
      models.get(req.key)?.model.dispose();
      models.set(req.key, {model, contract: req.contract});
      return model.outputWidth;
    }
    case 'predict': {
      const entry = models.get(req.key);
      if (!entry) throw new EngineUnavailableError(`model ${req.key} is not loaded in this worker`);
      const size = req.images[0]?.length ?? 0;
      const batch = new Float32Array(size * req.images.length);
      req.images.forEach((img, i) => batch.set(img, i * size));
      const out = await entry.model.predict(batch, req.images.length);
      const width = out.length / req.images.length;
      return req.images.map((_, i) => out.slice(i * width, (i + 1) * width));
    }
    case 'dispose':
      models.get(req.key)?.model.dispose();
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
