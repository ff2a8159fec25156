/**
 * Configuration, parsed once from the environment. `parseConfig(env)` is pure and lists
 * every bad variable in one {@link ConfigError}, so a deploy with two mistakes fails once,
 * naming both.
 */
import {parseFilePattern, PatternError, type FilePattern} from './core/glob.js';
import {DEFAULT_SCALE, parseScale, type Scale} from './core/scale.js';
import {DEFAULT_THRESHOLDS, type RolloutThresholds} from './core/rollout.js';
import {bool, durationMs, firestoreId, oneOf, positiveInt, share} from './config_values.js';

/** One or more environment variables are invalid. */
export class ConfigError extends Error {}

/** Everything both functions read from the environment. */
export interface Config {
  /** `MODEL_FILE_PATTERN`, e.g. `gs://my-models/prod/*.h5` (required). */
  readonly modelFilePattern: FilePattern;
  /**
   * `MODELS_COLLECTION` (default `models`) and `CURRENT_MODEL_DOC` (default `current`);
   * history lives under the current document, in its `history` subcollection.
   */
  readonly modelsCollection: string;
  readonly currentDocument: string;
  /**
   * With `{key}` in MODEL_FILE_PATTERN: the message attribute that names a model key
   * (`MODEL_KEY_ATTRIBUTE`, default `model`), and the key of a message without it
   * (`DEFAULT_MODEL_KEY`, default none: such a message fails with `unknown_model`). Each
   * key's record is `{collection}/{key}`. Without `{key}`, the only key is CURRENT_MODEL_DOC.
   */
  readonly modelKeyAttribute: string;
  readonly defaultModelKey: string | null;
  /**
   * How many models one classifyImage instance keeps (Beam's `max_models_per_worker_hint`):
   * `MAX_CACHED_MODELS` (default 4) and `MODEL_CACHE_BYTES` (default 1 GiB, counted as the
   * models' weight bytes). Past either, the least recently used model is evicted.
   */
  readonly maxCachedModels: number;
  readonly modelCacheBytes: number;
  /** `ROLLOUT_FLUSH_INTERVAL` (default 5 s): how often an instance reports its rollout counts. */
  readonly rolloutFlushMs: number;
  /**
   * The rollout judge's thresholds: `ROLLOUT_MAX_FAILURE_INCREASE` (0.05),
   * `ROLLOUT_MIN_AGREEMENT` (0.9), `ROLLOUT_MIN_SAMPLES` (20), `ROLLOUT_MAX_P99_FACTOR` (2).
   */
  readonly rolloutThresholds: RolloutThresholds;
  /**
   * `CUTOVER` (default `available`): `available` keeps answering with the old model while a
   * new one loads (`stale_model: true`); `consistent` never does: a message waits for the
   * new model up to `CUTOVER_WAIT` (default 30 s), else is redelivered.
   */
  readonly cutover: 'available' | 'consistent';
  readonly cutoverWaitMs: number;
  /**
   * `RECORD_MAX_STALENESS_MS` (default 0): 0 reads the model record on every invocation (read
   * in flight shared). Above 0, an instance reuses a record read less than that long ago:
   * fewer Firestore reads, and a roll reaches the instance up to that much later.
   */
  readonly recordMaxStalenessMs: number;
  /** `PREDICTIONS_COLLECTION` (default `predictions`). */
  readonly predictionsCollection: string;
  /** `VALIDATE_MODELS` (default true): load + warm up before promoting. */
  readonly validateModels: boolean;
  /** `MAX_MODEL_BYTES` (default 512 MiB). */
  readonly maxModelBytes: number;
  /**
   * `MAX_MODEL_PARAMS` (default 100 M): weight values a model may declare; checked from the
   * declared shapes before any weight is read (compressed datasets can declare gigabytes).
   */
  readonly maxModelParams: number;
  /** `DEFAULT_INPUT_SCALE` (default `0,1`) for models whose object metadata has no `scale`. */
  readonly defaultScale: Scale;
  /** `DEFAULT_LABELS`: label file URI for models whose metadata has no `labels` (default none). */
  readonly defaultLabels: string | null;
  /** `IMAGE_BUCKETS`: comma-separated buckets classifyImage may read (required for gs:// paths). */
  readonly imageBuckets: readonly string[];
  /** `LOCAL_IMAGE_DIR`: a local folder whose files may be classified (local use only). */
  readonly localImageDir: string | null;
  /** `MAX_EVENT_AGE` in ms (default 1 h; accepts `3600`, `90s`, `15m`, `1h`). */
  readonly maxEventAgeMs: number;
  /** `TOP_K` (default 5). */
  readonly topK: number;
  /** `MAX_IMAGE_BYTES` (default 20 MiB) and `MAX_IMAGE_PIXELS` (default 50 M). */
  readonly maxImageBytes: number;
  readonly maxImagePixels: number;
  /**
   * `ICC_PROFILES` (default `ignore`): `ignore` gives the model the values stored in the file,
   * as PIL and `tf.io.decode_image` do in training; `apply` converts through an embedded
   * profile to sRGB first (colour-managed, 2.5–9 ms more a photo that carries one).
   */
  readonly iccProfiles: 'ignore' | 'apply';
  /** `MAX_BATCH_IMAGES` (default 500): most images one batch message may list (or a prefix hold). */
  readonly maxBatchImages: number;
  /**
   * `INFERENCE_BATCH` (default 8): images of a batch message read, decoded and classified at
   * once, each in its own engine run (measured faster than one engine batch). Bounds a batch
   * message's memory too.
   */
  readonly inferenceBatch: number;
  /** `MODEL_RELOAD_BACKOFF` in ms (default 30 s): wait before retrying a model that failed to load. */
  readonly reloadBackoffMs: number;
  /**
   * `INFERENCE_ENGINE` (default `auto`): `onnx` (ONNX Runtime), `tfjs`, or `auto` (ONNX
   * Runtime where it loads and the model translates, else tfjs).
   */
  readonly engine: 'auto' | 'onnx' | 'tfjs';
  /** `INFERENCE_THREADS` (default `auto`: the cores the instance has): ONNX Runtime intra-op threads. */
  readonly inferenceThreads: number | 'auto';
  /** `ORT_SPIN` (default `off`; `auto`: on, off under a fractional CPU quota): ONNX Runtime's spin-waiting threads. */
  readonly ortSpin: 'auto' | 'on' | 'off';
  /** `TFJS_BACKEND`: force `tensorflow`, `wasm` or `cpu` (default: best available). */
  readonly backend: string | null;
  /**
   * `INFERENCE_WORKERS` (default `auto`): tfjs worker threads for classifyImage (the tfjs
   * engine only; ONNX Runtime has its own threads); `auto` is one per core with wasm/cpu and
   * none with tfjs-node; `0` runs in the request thread.
   */
  readonly inferenceWorkers: number | 'auto';
  /**
   * `MAX_BATCH` (default 1): most queued requests one worker runs as one predict. Measured
   * (npm run bench, wasm): batching adds latency and no throughput, so it is off.
   */
  readonly maxBatch: number;
}

type Env = Record<string, string | undefined>;

/** Parses the configuration; throws one ConfigError naming every bad variable. */
export function parseConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  function read<T>(name: string, fallback: T, parse: (v: string) => T): T {
    const value = env[name];
    if (value === undefined || value.trim() === '') return fallback;
    try {
      return parse(value);
    } catch (e) {
      problems.push(`${name}: ${(e as Error).message}`);
      return fallback;
    }
  }
  let modelFilePattern: FilePattern | undefined;
  const rawPattern = env['MODEL_FILE_PATTERN'];
  if (!rawPattern) problems.push('MODEL_FILE_PATTERN: required, e.g. gs://my-models/prod/*.h5');
  else {
    try {
      modelFilePattern = parseFilePattern(rawPattern);
    } catch (e) {
      if (!(e instanceof PatternError)) throw e;
      problems.push(`MODEL_FILE_PATTERN: ${e.message}`);
    }
  }
  const config = {
    modelsCollection: read('MODELS_COLLECTION', 'models', firestoreId),
    currentDocument: read('CURRENT_MODEL_DOC', 'current', firestoreId),
    predictionsCollection: read('PREDICTIONS_COLLECTION', 'predictions', firestoreId),
    modelKeyAttribute: read('MODEL_KEY_ATTRIBUTE', 'model', v => {
      if (!/^[A-Za-z][A-Za-z0-9_-]{0,255}$/.test(v.trim()) || /^goog/i.test(v.trim()))
        throw new Error(`must be a Pub/Sub attribute name (not starting with goog), not '${v}'`);
      return v.trim();
    }),
    defaultModelKey: read<string | null>('DEFAULT_MODEL_KEY', null, firestoreId),
    maxCachedModels: read('MAX_CACHED_MODELS', 4, positiveInt),
    modelCacheBytes: read('MODEL_CACHE_BYTES', 1024 * 1024 * 1024, positiveInt),
    rolloutFlushMs: read('ROLLOUT_FLUSH_INTERVAL', 5000, durationMs),
    rolloutThresholds: {
      maxFailureRateIncrease: read('ROLLOUT_MAX_FAILURE_INCREASE', DEFAULT_THRESHOLDS.maxFailureRateIncrease, share),
      minAgreement: read('ROLLOUT_MIN_AGREEMENT', DEFAULT_THRESHOLDS.minAgreement, share),
      minSamples: read('ROLLOUT_MIN_SAMPLES', DEFAULT_THRESHOLDS.minSamples, positiveInt),
      maxP99Factor: read('ROLLOUT_MAX_P99_FACTOR', DEFAULT_THRESHOLDS.maxP99Factor, v => {
        const n = Number(v);
        if (!(n >= 1)) throw new Error(`must be a number ≥ 1, not '${v}'`);
        return n;
      }),
    },
    cutover: read('CUTOVER', 'available', oneOf('available', 'consistent')),
    cutoverWaitMs: read('CUTOVER_WAIT', 30_000, durationMs),
    recordMaxStalenessMs: read('RECORD_MAX_STALENESS_MS', 0, v => {
      const n = Number(v);
      if (!Number.isSafeInteger(n) || n < 0) throw new Error(`must be a whole number of milliseconds ≥ 0, not '${v}'`);
      return n;
    }),
    validateModels: read('VALIDATE_MODELS', true, bool),
    maxModelBytes: read('MAX_MODEL_BYTES', 512 * 1024 * 1024, positiveInt),
    maxModelParams: read('MAX_MODEL_PARAMS', 100_000_000, positiveInt),
    defaultScale: read('DEFAULT_INPUT_SCALE', DEFAULT_SCALE, parseScale),
    defaultLabels: read<string | null>('DEFAULT_LABELS', null, v => {
      if (!/^gs:\/\/[^/]+\/.+/.test(v) && !v.startsWith('/'))
        throw new Error(`must be a gs:// URI or an absolute path, not '${v}'`);
      return v;
    }),
    imageBuckets: read<string[]>('IMAGE_BUCKETS', [], v =>
      v
        .split(',')
        .map(s =>
          s
            .trim()
            .replace(/^gs:\/\//, '')
            .replace(/\/$/, '')
        )
        .filter(Boolean)
    ),
    localImageDir: read<string | null>('LOCAL_IMAGE_DIR', null, v => {
      if (!v.startsWith('/')) throw new Error(`must be an absolute path, not '${v}'`);
      return v.replace(/\/+$/, '');
    }),
    maxEventAgeMs: read('MAX_EVENT_AGE', 3_600_000, durationMs),
    topK: read('TOP_K', 5, positiveInt),
    maxImageBytes: read('MAX_IMAGE_BYTES', 20 * 1024 * 1024, positiveInt),
    maxImagePixels: read('MAX_IMAGE_PIXELS', 50_000_000, positiveInt),
    iccProfiles: read('ICC_PROFILES', 'ignore', oneOf('ignore', 'apply')),
    maxBatchImages: read('MAX_BATCH_IMAGES', 500, v => {
      const n = positiveInt(v);
      if (n > 10_000) throw new Error(`must be at most 10000, not ${n}`);
      return n;
    }),
    inferenceBatch: read('INFERENCE_BATCH', 8, v => {
      const n = positiveInt(v);
      if (n > 64) throw new Error(`must be at most 64, not ${n}`);
      return n;
    }),
    reloadBackoffMs: read('MODEL_RELOAD_BACKOFF', 30_000, durationMs),
    engine: read('INFERENCE_ENGINE', 'auto', oneOf('auto', 'onnx', 'tfjs')),
    inferenceThreads: read<number | 'auto'>('INFERENCE_THREADS', 'auto', v =>
      v.trim() === 'auto' ? 'auto' : positiveInt(v)
    ),
    ortSpin: read('ORT_SPIN', 'off', oneOf('auto', 'on', 'off')),
    backend: read<string | null>('TFJS_BACKEND', null, v => {
      const name = oneOf('auto', 'tensorflow', 'wasm', 'cpu')(v);
      return name === 'auto' ? null : name;
    }),
    inferenceWorkers: read<number | 'auto'>('INFERENCE_WORKERS', 'auto', v => {
      if (v.trim() === 'auto') return 'auto';
      const n = Number(v);
      if (!Number.isSafeInteger(n) || n < 0 || n > 64) throw new Error(`must be auto or 0..64, not '${v}'`);
      return n;
    }),
    maxBatch: read('MAX_BATCH', 1, positiveInt),
  };
  if (config.cutover === 'consistent' && config.recordMaxStalenessMs > 0)
    problems.push(
      'RECORD_MAX_STALENESS_MS: must be 0 with CUTOVER=consistent (a reused record may predate a promotion)'
    );
  if (config.defaultModelKey && modelFilePattern && !modelFilePattern.keyed)
    problems.push("DEFAULT_MODEL_KEY: only meaningful with '{key}' in MODEL_FILE_PATTERN");
  if (problems.length > 0 || !modelFilePattern) {
    throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  return {...config, modelFilePattern};
}
