/**
 * Ports: what handlers need from the outside world. Adapters (adapters/) implement them
 * with the Google Cloud client libraries; tests implement them in memory.
 *
 * Error contract: adapters throw {@link ObjectNotFoundError} / {@link ObjectTooLargeError}
 * for permanent problems and let everything else (unavailable, deadline, …) propagate as
 * transient. The client libraries already retry their own idempotent calls.
 */
import type {CurrentModel, Decision, ModelRecord} from './model_record.js';

/** Read side of the model record: all classifyImage needs. */
export interface ModelRegistry {
  /** `models/current`, or null when no model was ever recorded. */
  current(): Promise<CurrentModel | null>;
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
}

/** The object does not exist (or not at that generation): permanent. */
export class ObjectNotFoundError extends Error {}
/** The object is larger than the caller accepts: permanent. */
export class ObjectTooLargeError extends Error {}

/** Read access to Cloud Storage objects. */
export interface ObjectStore {
  /** The object's bytes; refuses objects over `maxBytes` before downloading them. */
  read(bucket: string, name: string, options: {generation?: string; maxBytes: number}): Promise<Buffer>;
}
