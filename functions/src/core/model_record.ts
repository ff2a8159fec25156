/**
 * The model record (the "side input"): building it from a Cloud Storage object, the
 * ignore rules, "newer than", and the promotion decision. Pure: no SDK, no clock.
 */
import {parseScaleOrNull, SCALE_HELP, type Scale} from './scale.js';
import {parseRolloutPlan, type Rollout, type RolloutPlan} from './rollout.js';

/** The `data` of a `google.cloud.storage.object.v1.finalized` CloudEvent (StorageObjectData, JSON form). */
export interface StorageObjectData {
  bucket: string;
  name: string;
  generation: string | number;
  metageneration?: string | number;
  updated?: string;
  timeCreated?: string;
  size?: string | number;
  md5Hash?: string;
  contentType?: string;
  metadata?: Record<string, string> | null;
}

/** Whether the promotion gate accepted the model; `rolled_back`: a rollout judged it worse. */
export type ModelStatus = 'accepted' | 'rejected' | 'rolled_back';

/** A model version: `models/current` and each history entry. */
export interface ModelRecord {
  /** `gs://bucket/name#generation`: a re-upload under the same name is a new model. */
  model_id: string;
  /** File stem, e.g. `mobilenet_v2`: the prefix of every metric. */
  model_name: string;
  bucket: string;
  name: string;
  generation: string;
  metageneration: string;
  /** RFC 3339. */
  updated: string;
  size: number;
  md5Hash: string | null;
  content_type: string | null;
  event_id: string;
  /** Declared input range (`scale` object metadata, else the configured default). */
  input_scale: Scale;
  /** Label file URI (`labels` object metadata, else the configured default), or null. */
  labels: string | null;
  /** Filled in by the gate: [h, w, c] and the number of classes. */
  input_shape: number[] | null;
  output_width: number | null;
  status: ModelStatus;
  /** Why the gate rejected it (`kind: message`). */
  reason: string | null;
  /** A rollout the upload declared (object metadata `rollout`, `bake_samples`, `bake_seconds`), or null. */
  rollout_plan?: RolloutPlan | null;
}

/** `models/current`: the record plus who changed it and the pin. */
export interface CurrentModel extends ModelRecord {
  /** When set, automatic promotion stops; holds the pinned model_id. */
  pinned: string | null;
  changed_by: string;
  /** RFC 3339. */
  changed_at: string;
  /** The rollout of a candidate, while it bakes and after it is decided (absent: none). */
  rollout?: Rollout | null;
  /**
   * Not stored: the document's server-assigned update time as read (`seconds.nanos`,
   * zero-padded so that strings compare in time order). It grows with every change,
   * rollbacks included, whatever the writers' clocks say.
   */
  revision?: string;
}

/** Why an object event is ignored, or null to handle it. */
export function ignoreReason(
  object: StorageObjectData,
  matches: (bucket: string, name: string) => boolean
): string | null {
  if (!object?.bucket || !object?.name || object.generation === undefined)
    return 'event data is not a Cloud Storage object';
  if (!matches(object.bucket, object.name)) return 'object does not match MODEL_FILE_PATTERN';
  if (Number(object.metageneration ?? 1) > 1) return 'metadata-only update (metageneration > 1)';
  return null;
}

/** The model name: the file stem (`prod/mobilenet_v2.h5` → `mobilenet_v2`), metric-safe. */
export function modelName(objectName: string): string {
  const base = objectName.split('/').pop() ?? objectName;
  const stem = base.replace(/\.(h5|hdf5|keras)$/i, '');
  return stem.replace(/[^A-Za-z0-9_]/g, '_') || 'model';
}

/** `gs://bucket/name#generation`. */
export function modelId(bucket: string, name: string, generation: string | number): string {
  return `gs://${bucket}/${name}#${generation}`;
}

/** Builds the record for an object (status accepted until the gate says otherwise). */
export function buildRecord(
  object: StorageObjectData,
  eventId: string,
  defaults: {scale: Scale; labels: string | null}
): ModelRecord {
  const metadata = object.metadata ?? {};
  const declared = metadata['scale'] ?? metadata['input_scale'];
  // A declared but unreadable scale is refused, not replaced by the default: the model would
  // classify wrongly without an error.
  const parsed = parseScaleOrNull(declared);
  const badScale = declared !== undefined && declared.trim() !== '' && parsed === null;
  let plan: RolloutPlan | null = null;
  let badPlan: string | null = null;
  try {
    plan = parseRolloutPlan(metadata['rollout'], metadata['bake_samples'], metadata['bake_seconds']);
  } catch (e) {
    badPlan = (e as Error).message;
  }
  const scale = parsed ?? defaults.scale;
  const labels = metadata['labels'] ? resolveLabels(metadata['labels'], object.bucket) : defaults.labels;
  const generation = String(object.generation);
  return {
    model_id: modelId(object.bucket, object.name, generation),
    model_name: modelName(object.name),
    bucket: object.bucket,
    name: object.name,
    generation,
    metageneration: String(object.metageneration ?? '1'),
    updated: object.updated ?? object.timeCreated ?? new Date(0).toISOString(),
    size: Number(object.size ?? 0),
    md5Hash: object.md5Hash ?? null,
    content_type: object.contentType ?? null,
    event_id: eventId,
    input_scale: scale,
    labels,
    input_shape: null,
    output_width: null,
    status: badScale || badPlan ? 'rejected' : 'accepted',
    reason: badScale
      ? `invalid_scale: metadata scale '${declared}' is not one of ${SCALE_HELP}`
      : badPlan
        ? `invalid_rollout: ${badPlan}`
        : null,
    rollout_plan: plan,
  };
}

/** A `labels` metadata value: a gs:// URI, or an object name in the model's bucket. */
function resolveLabels(value: string, bucket: string): string {
  return /^gs:\/\//.test(value) ? value : `gs://${bucket}/${value.replace(/^\/+/, '')}`;
}

/**
 * "Newer" (architecture contract): greater `updated`; on a tie, greater generation.
 * Generations are compared as integers (they exceed 2^53 in real GCS).
 */
export function isNewer(
  candidate: Pick<ModelRecord, 'updated' | 'generation'>,
  current: Pick<ModelRecord, 'updated' | 'generation'>
): boolean {
  const a = Date.parse(candidate.updated);
  const b = Date.parse(current.updated);
  if (a !== b) return a > b;
  return BigInt(candidate.generation) > BigInt(current.generation);
}

/** What recording a version does to `current`. */
export type Decision = 'promote' | 'start_rollout' | 'stale' | 'duplicate' | 'pinned' | 'rejected';

/**
 * Decides, inside the transaction, what a version does to `current`. With a rollout baking,
 * "newer" is against the candidate too, and a version that declares a rollout starts one
 * (replacing the baking one) instead of being promoted; with no stable model yet there is
 * nothing to compare with, so it is promoted at once.
 */
export function decide(candidate: ModelRecord, current: CurrentModel | null): Decision {
  if (candidate.status !== 'accepted') return 'rejected';
  if (current && current.model_id === candidate.model_id) return 'duplicate';
  const baking = current?.rollout?.state === 'baking' ? current.rollout.candidate : null;
  if (baking?.model_id === candidate.model_id) return 'duplicate';
  if (current?.pinned) return 'pinned';
  if (current && !isNewer(candidate, current)) return 'stale';
  if (baking && !isNewer(candidate, baking)) return 'stale';
  if (current && candidate.rollout_plan) return 'start_rollout';
  return 'promote';
}

/** The rollout a version starts (state baking). */
export function startRollout(candidate: ModelRecord, plan: RolloutPlan, now: Date): Rollout {
  return {
    ...plan,
    candidate,
    state: 'baking',
    started_at: now.toISOString(),
    decided_at: null,
    reason: null,
    figures: null,
  };
}

/** Firestore document id of a history entry: generation first, so ids sort by age. */
export function historyId(record: Pick<ModelRecord, 'generation' | 'name'>): string {
  return `${record.generation}__${encodeURIComponent(record.name)}`;
}

/**
 * The record once a baking rollout ends. Promoted: the candidate becomes current (not
 * pinned). Rolled back or aborted: stable stays. Either way the ended rollout stays beside it,
 * with its state, reason and figures. (The caller also marks the candidate's history entry.)
 */
export function concludeRollout(
  current: CurrentModel,
  end: {state: 'promoted' | 'rolled_back' | 'aborted'; reason: string; figures: Rollout['figures']},
  changedBy: string,
  now: Date
): CurrentModel {
  const rollout: Rollout = {...current.rollout!, ...end, decided_at: now.toISOString()};
  const base = end.state === 'promoted' ? {...rollout.candidate, pinned: null} : current;
  const {revision: _, ...next} = {
    ...base,
    changed_by: changedBy,
    changed_at: now.toISOString(),
    rollout,
  } as CurrentModel;
  return next;
}
