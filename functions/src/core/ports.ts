/**
 * Ports: what handlers need from the outside world. Adapters (adapters/) implement them
 * with the Google Cloud client libraries; tests implement them in memory.
 *
 * Error contract: adapters throw ObjectNotFoundError / ObjectTooLargeError (core/errors.ts)
 * for permanent problems and let everything else (unavailable, deadline, …) propagate as
 * transient. The client libraries already retry their own idempotent calls.
 */
import type {CurrentModel, Decision, ModelRecord} from './model_record.js';
import type {Judgement, Rollout, RolloutPlan} from './rollout.js';
import type {RolloutCounts} from './rollout_counts.js';
import type {Scale} from './scale.js';

/**
 * The record of each model key (`{collection}/{key}`). Without `{key}` in the pattern the
 * only key is CURRENT_MODEL_DOC, so the record is `models/current` as before.
 */
export type ModelStores = (key: string) => ModelStore;

/** Read side of the model record: all classifyImage needs. */
export interface ModelRegistry {
  /** `models/current`, or null when no model was ever recorded. */
  current(): Promise<CurrentModel | null>;
  /**
   * Stores this instance's totals for a baking candidate, then merges every instance's
   * totals and applies `judge` to the rollout, in a transaction that re-reads the record: a
   * promotion or a rollback is written to the record and the candidate's history entry. Null
   * when the rollout is no longer baking (or is another candidate's).
   *
   * `share`, when given, is asked with the number of instances reporting for the candidate (a
   * count query, about one read) whether this report judges; if not, the totals are stored
   * and `{decision: 'wait'}` returned without the transaction. With a 1/n share, about one
   * judgement per interval reads everyone's totals, instead of every instance every interval
   * (reads that grow with the square of the instances).
   */
  reportRollout(
    instance: string,
    candidateId: string,
    counts: RolloutCounts,
    judge: (rollout: Rollout, merged: RolloutCounts) => Judgement,
    now: Date,
    share?: (instances: number) => boolean
  ): Promise<Judgement | null>;
}

/** Outcome of {@link ModelStore.recordVersion}. */
export interface RecordOutcome {
  readonly decision: Decision;
  /** Whether the history entry was new (false: a redelivered event). */
  readonly newVersion: boolean;
  readonly current: CurrentModel | null;
}

/** Write side, for recordModel and the pin/unpin/rollback commands. */
export interface ModelStore extends ModelRegistry {
  /** The history entry for this version, or null. */
  historyEntry(record: Pick<ModelRecord, 'generation' | 'name'>): Promise<ModelRecord | null>;
  /**
   * In one transaction: create the history entry if it does not exist (a redelivered
   * event changes nothing), and replace `current` when `decide` says `promote`.
   */
  recordVersion(record: ModelRecord, changedBy: string, now: Date): Promise<RecordOutcome>;
  /** History, most recently updated first. */
  listHistory(limit: number): Promise<ModelRecord[]>;
  /** Makes `modelId` (an accepted history entry) current and pins it. */
  pin(modelId: string, changedBy: string, now: Date): Promise<CurrentModel>;
  /** Clears the pin, then promotes the newest accepted version if it is newer than current. */
  unpin(changedBy: string, now: Date): Promise<CurrentModel>;
  /** Makes the accepted version before current current, and pins it. */
  rollback(changedBy: string, now: Date): Promise<CurrentModel>;
  /** Starts a rollout of an accepted version newer than current (`npm run rollout -- start`). */
  startRollout(modelId: string, plan: RolloutPlan, changedBy: string, now: Date): Promise<CurrentModel>;
  /** Ends the baking rollout by hand: `promote` makes the candidate current, `abort` rolls it back. */
  endRollout(action: 'promote' | 'abort', changedBy: string, now: Date): Promise<CurrentModel>;
  /** Every instance's totals for a candidate, merged. */
  rolloutCounts(candidateId: string): Promise<RolloutCounts>;
}

/** Read access to Cloud Storage objects. */
export interface ObjectStore {
  /** The object's bytes; refuses objects over `maxBytes` before downloading them. */
  read(bucket: string, name: string, options: {generation?: string; maxBytes: number}): Promise<Buffer>;
  /**
   * Names of the objects directly under `prefix` (a "folder": not in its sub-folders), in
   * name order, at most `limit` of them; names that end in `/` (folder placeholders) are left out.
   */
  list(bucket: string, prefix: string, options: {limit: number}): Promise<string[]>;
}

/** Read access to local files (local use: `LOCAL_IMAGE_DIR`, label files given as paths). */
export interface FileStore {
  /** The file's bytes; ObjectNotFoundError for a missing file or a folder, ObjectTooLargeError over `maxBytes`. */
  read(path: string, options: {maxBytes: number}): Promise<Buffer>;
}

/** Where results go: `predictions/{id}`, written idempotently (a redelivery overwrites). */
export interface PredictionSink {
  /** The result of a message that named one image (or of a message that failed as a whole). */
  write(messageId: string, doc: Record<string, unknown>): Promise<void>;
  /**
   * The results of a batch message, `docs[i]` for its i-th image, each under an id made of the
   * message id and i (so a redelivered batch rewrites its own documents), in one commit.
   */
  writeBatch(messageId: string, docs: readonly Record<string, unknown>[]): Promise<void>;
}

/** How a model wants its pixels: shape, layout and value range. */
export interface InputContract {
  readonly height: number;
  readonly width: number;
  /** 3 (RGB) or 1 (greyscale). */
  readonly channels: number;
  /**
   * `nhwc`: [batch, h, w, c]; `nchw`: channels-first; `hw`: [batch, h, w] greyscale;
   * `flat`: [batch, h*w*c] (models that start with a Reshape or Dense on raw pixels).
   */
  readonly layout: 'nhwc' | 'nchw' | 'hw' | 'flat';
  readonly scale: Scale;
}

/** One class and its score. */
export interface ScoredLabel {
  readonly label: string;
  readonly index: number;
  readonly score: number;
}

/** The result of classifying one image. */
export interface Classification {
  readonly label: string;
  readonly index: number;
  readonly score: number;
  readonly top_k: ScoredLabel[];
  /** Milliseconds in the engine (the whole batch's run, when batched). */
  readonly inference_ms: number;
  /** Milliseconds decoding, resizing and scaling the image (0 when given pixels). */
  readonly preprocess_ms: number;
}

/**
 * How a head's outputs become class scores: as they are (`probabilities`, a softmax head, and
 * `sigmoid`, independent units), softmax of logits (`softmax`), or one unit read as a binary
 * [1 − p, p] (`binary`, a sigmoid; `binary_logit`, without one).
 */
export type Scoring = 'probabilities' | 'softmax' | 'sigmoid' | 'binary' | 'binary_logit';

/** A loaded, warmed-up image classifier. Immutable; {@link dispose} frees it. */
export interface Classifier {
  readonly name: string;
  readonly input: InputContract;
  /** The number of classes (2 for a one-unit binary head). */
  readonly outputWidth: number;
  /** Labels in output order, or null (labels are then the class indices). */
  readonly labels: readonly string[] | null;
  readonly kerasVersion: string | null;
  /** `onnx` or `tfjs`. */
  readonly engine: string;
  /** Where the engine runs: `onnxruntime-cpu`, or the tfjs backend (`tensorflow`, `wasm`, `cpu`). */
  readonly backend: string;
  readonly byteSize: number;
  readonly paramCount: number;
  /** How the head's outputs become class scores (model/head.ts). */
  readonly scoring: Scoring;
  readonly timings: {readonly read_ms: number; readonly build_ms: number; readonly warmup_ms: number};
  /**
   * Decodes and preprocesses an image (RGB or grey, resized to the input, scaled) and
   * classifies it. Throws ImageError (permanent) for an image that cannot be classified.
   */
  classify(image: Uint8Array, topK: number): Promise<Classification>;
  /** Classifies already preprocessed images (HWC floats, scaled), as one batch. */
  classifyPixels(images: readonly Float32Array[], topK: number): Promise<Classification[]>;
  /** Frees the model. Further calls fail. */
  dispose(): void;
}

/** A model in use by one invocation; {@link release} it when done. */
export interface Lease {
  readonly classifier: Classifier;
  /** The record of the model that runs: its model_id goes into the result. */
  readonly record: CurrentModel;
  /** The record names a newer model that is still loading here (this one is older). */
  readonly stale: boolean;
  /**
   * Order in which this instance handed out its leases (1, 2, …): the order in which models
   * were chosen, which completion order is not. Logged, so that "never back to an older
   * model" can be checked from the logs.
   */
  readonly seq: number;
  release(): void;
}

/** Which classifier serves a record (model/model_cache.ts): a handler's whole contact with the model. */
export interface ModelProvider {
  /**
   * Leases the model of `record`, the current record of model key `key` (default: the only
   * key). `consistent`: never the model it replaces, wait for this one (a rollout's candidate).
   */
  acquire(record: CurrentModel, key?: string, options?: {consistent?: boolean}): Promise<Lease>;
}

/** What recordModel's gate learns about a model that loads. */
export interface Validation {
  readonly input_shape: number[];
  readonly output_width: number;
}
