/**
 * Model bytes + contract → a ready {@link Classifier}, warmed up. The one way both
 * functions load a model (recordModel's gate and classifyImage's cache), so the gate
 * proves exactly what serving will run.
 *
 * read (.h5) → translate the config (keras/config.ts) → graph, BatchNormalization folded
 * (keras/graph.ts, keras/fold.ts) → an engine → warm-up on a mid-grey image (compiles the
 * kernels, rejects NaN weights; with the head's activation, tells how its outputs become
 * scores: head.ts).
 *
 * Engines (`INFERENCE_ENGINE`): `auto` uses ONNX Runtime where its native binding loads
 * and the model translates, else tfjs (with its own backend order: tfjs-node, wasm,
 * cpu) and says why in one log line naming the layer; `onnx` and `tfjs` force one.
 */
import {LabelMismatchError, ModelUnusableError, NotAClassifierError, UnsupportedLayerError} from '../core/errors.js';
import type {Logger} from '../core/log.js';
import type {CurrentModel, ModelRecord} from '../core/model_record.js';
import type {Classifier, FileStore, ObjectStore, Validation} from '../core/ports.js';
import {DEFAULT_SCALE, type Scale} from '../core/scale.js';
import {ImageClassifier} from './classifier.js';
import {classCount, outputActivation, scoringOf} from './head.js';
import {scaleHint} from './input_hints.js';
import {graphContract} from './contract.js';
import {refuseConstantOrBroken, warmUp} from './gate_probes.js';
import type {EngineModel, EngineName} from './engines/engine.js';
import {NoOnnxTranslation} from './engines/onnx/builder.js';
import {ONNX_LAYERS} from './engines/onnx/layers.js';
import {createOnnxModel, type OnnxOptions} from './engines/onnx/session.js';
import {translateModelConfig, type ModelEntry} from './keras/config.js';
import {foldBatchNorm} from './keras/fold.js';
import {buildGraph, CONTAINERS, type KerasGraph} from './keras/graph.js';
import type {KerasModelFile} from './keras/h5_reader.js';
import {readKerasModel} from './keras/read.js';
import {layerScaleWeights} from './keras/layer_scale.js';
import {normalizationWeights} from './keras/normalization.js';
import {matchLabels, parseLabels} from './labels.js';
import {DEFAULT_PREPROCESS, type PreprocessOptions} from './preprocess.js';

/** `INFERENCE_ENGINE`. */
export type EngineChoice = 'auto' | EngineName;

/** Runs a graph on tfjs: in this thread, or on the instance's worker pool (engines/tfjs). */
export type TfjsRunner = (graph: KerasGraph, contract: Classifier['input']) => Promise<EngineModel>;

/** Options of {@link loadClassifier}. */
export interface LoadOptions {
  /** Model name for logs and metrics (default: from the config). */
  readonly name?: string;
  /** Labels in output order; matched to the output width now. */
  readonly labels?: readonly string[] | null;
  readonly labelsSource?: string;
  /** Input range (default `0,1`). */
  readonly scale?: Scale;
  /** Size cap in bytes (MAX_MODEL_BYTES). */
  readonly maxBytes?: number;
  /** `MAX_MODEL_PARAMS`: refuse a model whose weights declare more values (before reading them). */
  readonly maxParams?: number;
  /** The promotion gate's load: also refuse NaN on its probe images, or a constant output. */
  readonly gate?: boolean;
  readonly engine?: EngineChoice;
  readonly onnx?: OnnxOptions;
  /** How tfjs runs (default: in this thread, tfjs loaded on first use). */
  readonly tfjs?: TfjsRunner;
  /** `TFJS_BACKEND` for the in-thread default (null: the best available). */
  readonly tfjsBackend?: string | null;
  readonly preprocess?: PreprocessOptions;
  readonly logger?: Logger;
}

/** tfjs in this thread, loaded on first use (a process that only runs ONNX never loads it). */
function inThreadTfjs(logger?: Logger, backend?: string | null): TfjsRunner {
  return async (graph, contract) => {
    const [{initBackend, parseBackendName}, {createTfjsModel}] = await Promise.all([
      import('./engines/tfjs/backend.js'),
      import('./engines/tfjs/model.js'),
    ]);
    const forced = parseBackendName(backend ?? undefined);
    await initBackend({...(logger ? {logger} : {}), ...(forced ? {forced} : {})});
    return createTfjsModel(graph, contract);
  };
}

async function tfjsKnows(): Promise<(cls: string) => boolean> {
  return (await import('./engines/tfjs/model.js')).tfjsKnows;
}

/**
 * The graph both engines run: the translated config and the weights, BatchNormalization
 * folded (`fold: false` only for measuring what folding gives).
 */
export function graphOf(file: KerasModelFile, isKnown: (cls: string) => boolean, fold = true): KerasGraph {
  const config = translateModelConfig(file.modelConfig as ModelEntry, isKnown, file.kerasVersion);
  const graph = layerScaleWeights(normalizationWeights(buildGraph(config, file.layerWeights)));
  return fold ? foldBatchNorm(graph) : graph;
}

/** The graph ONNX Runtime runs for `file` (ONNX's layers, BatchNormalization folded), and its input. */
export function onnxGraph(file: KerasModelFile, scale: Scale): {graph: KerasGraph; contract: Classifier['input']} {
  const graph = graphOf(file, cls => ONNX_LAYERS.has(cls) || CONTAINERS.has(cls));
  return {graph, contract: graphContract(graph, scale)};
}

/** The engine for `file`: ONNX where it can, tfjs where it must (see the module comment). */
async function engineFor(
  file: KerasModelFile,
  scale: Scale,
  options: LoadOptions
): Promise<{model: EngineModel; contract: Classifier['input']; onnxRefusal: string | null; graph: KerasGraph}> {
  const choice = options.engine ?? 'auto';
  let onnxRefusal: string | null = null;
  if (choice !== 'tfjs') {
    try {
      const {graph, contract} = onnxGraph(file, scale);
      const model = await createOnnxModel(graph, contract, options.onnx, options.logger);
      return {model, contract, onnxRefusal: null, graph};
    } catch (e) {
      const untranslatable = e instanceof NoOnnxTranslation || e instanceof UnsupportedLayerError;
      if (e instanceof ModelUnusableError && !untranslatable) throw e;
      const why = (e as Error).message.split('\n')[0]!;
      if (choice === 'onnx') {
        if (untranslatable) throw new UnsupportedLayerError(`no ONNX translation (INFERENCE_ENGINE=onnx): ${why}`);
        throw e; // ONNX Runtime itself did not load: transient for the caller
      }
      options.logger?.log('WARNING', `model ${options.name ?? ''}: served by tfjs, not ONNX Runtime: ${why}`, {
        engine: 'tfjs',
        onnx_fallback_reason: why,
      });
      onnxRefusal = why;
    }
  }
  const graph = graphOf(file, await tfjsKnows());
  const contract = graphContract(graph, scale);
  const run = options.tfjs ?? inThreadTfjs(options.logger, options.tfjsBackend);
  const model = await run(graph, contract).catch((e: unknown) => {
    throw withRefusal(e, onnxRefusal);
  });
  return {model, contract, onnxRefusal, graph};
}

/** A refusal by tfjs as well, completed with why ONNX Runtime did not take the model either. */
function withRefusal(e: unknown, onnxRefusal: string | null): unknown {
  if (!onnxRefusal || !(e instanceof UnsupportedLayerError)) return e;
  return new UnsupportedLayerError(`${e.message} (and no ONNX translation: ${onnxRefusal})`);
}

/**
 * Loads a Keras `.h5` model from bytes, warmed up.
 *
 * @throws ModelUnusableError (or a subclass) for every file that cannot be served.
 */
export async function loadClassifier(bytes: Uint8Array, options: LoadOptions = {}): Promise<Classifier> {
  const t0 = performance.now();
  const file = await readKerasModel(bytes, {
    ...(options.maxBytes === undefined ? {} : {maxBytes: options.maxBytes}),
    ...(options.maxParams === undefined ? {} : {maxParams: options.maxParams}),
  });
  const t1 = performance.now();
  const scale = options.scale ?? DEFAULT_SCALE;
  const {model, contract, onnxRefusal, graph} = await engineFor(file, scale, options);
  const hint = scaleHint(graph, scale);
  if (hint) options.logger?.log('WARNING', `model ${options.name ?? ''}: ${hint}`, {input_scale: scale});
  try {
    if (model.outputWidth <= 0) throw new NotAClassifierError('model output is not a class vector [batch, classes]');
    const t2 = performance.now();
    const size = contract.height * contract.width * contract.channels;
    const probe = await warmUp(model, size).catch((e: unknown) => {
      throw withRefusal(e, onnxRefusal);
    });
    const scoring = scoringOf(outputActivation(graph), model.outputWidth, probe);
    const classes = classCount(model.outputWidth, scoring);
    const labels = options.labels ? matchLabels(options.labels, classes, options.labelsSource) : null;
    if (options.gate) await refuseConstantOrBroken(model, contract);
    const t3 = performance.now();
    const configName = (file.modelConfig.config as {name?: string} | null)?.name;
    return new ImageClassifier(
      model,
      {
        name: options.name ?? String(configName ?? 'model'),
        input: contract,
        labels,
        kerasVersion: file.kerasVersion,
        byteSize: bytes.length,
        paramCount: file.paramCount,
        scoring,
        timings: {read_ms: t1 - t0, build_ms: t2 - t1, warmup_ms: t3 - t2},
      },
      options.preprocess ?? DEFAULT_PREPROCESS
    );
  } catch (e) {
    model.dispose();
    throw e;
  }
}

/** Label files are small; anything bigger is a mistake (a model uploaded as labels, say). */
const MAX_LABEL_BYTES = 8 * 1024 * 1024;

/** Where a record's files come from. */
export interface RecordSources {
  readonly objects: ObjectStore;
  readonly files: FileStore;
  readonly maxModelBytes: number;
  /** `MAX_MODEL_PARAMS` (default 100 M). */
  readonly maxModelParams?: number;
}

async function readLabels(uri: string, sources: RecordSources): Promise<string[]> {
  const gs = /^gs:\/\/([^/]+)\/(.+)$/.exec(uri);
  let bytes: Buffer;
  if (gs) bytes = await sources.objects.read(gs[1]!, gs[2]!, {maxBytes: MAX_LABEL_BYTES});
  else if (uri.startsWith('/')) bytes = await sources.files.read(uri, {maxBytes: MAX_LABEL_BYTES});
  else throw new LabelMismatchError(`labels '${uri}' must be a gs:// URI or an absolute path`);
  return parseLabels(bytes.toString('utf8'), uri);
}

/**
 * Downloads and loads the model a record names (exactly that generation) with its labels.
 *
 * @throws a PermanentError (unusable model, missing or oversized object) or anything
 *   else (transient).
 */
export async function loadRecordedModel(
  record: ModelRecord | CurrentModel,
  sources: RecordSources,
  options: Omit<LoadOptions, 'name' | 'labels' | 'labelsSource' | 'scale' | 'maxBytes'> = {}
): Promise<Classifier> {
  const [bytes, labels] = await Promise.all([
    sources.objects.read(record.bucket, record.name, {generation: record.generation, maxBytes: sources.maxModelBytes}),
    record.labels ? readLabels(record.labels, sources) : Promise.resolve(null),
  ]);
  return loadClassifier(bytes, {
    ...options,
    name: record.model_name,
    labels,
    ...(record.labels ? {labelsSource: record.labels} : {}),
    scale: record.input_scale,
    maxBytes: sources.maxModelBytes,
    ...(sources.maxModelParams === undefined ? {} : {maxParams: sources.maxModelParams}),
  });
}

/**
 * recordModel's promotion gate: loads the recorded model exactly as classifyImage will
 * (download, labels, translation, engine, warm-up), checks that it is neither broken nor a
 * constant ({@link refuseConstantOrBroken}), reports its input shape and class count, and
 * frees it.
 */
export async function validateModel(
  record: ModelRecord,
  sources: RecordSources,
  options: Parameters<typeof loadRecordedModel>[2] = {}
): Promise<Validation> {
  const model = await loadRecordedModel(record, sources, {...options, gate: true});
  try {
    const {height, width, channels} = model.input;
    return {input_shape: [height, width, channels], output_width: model.outputWidth};
  } finally {
    model.dispose();
  }
}
