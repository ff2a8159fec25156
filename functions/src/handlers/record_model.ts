/**
 * `recordModel`: Cloud Storage "object finalized" → the newest-model record in Firestore.
 *
 * Eventarc delivers at least once and in any order, so: history entries are created
 * once (a redelivery changes nothing), `current` changes only in a transaction that
 * checks the candidate is strictly newer, and only transient failures are thrown (a
 * throw means "deliver again"). A model the gate rejects is a permanent outcome: it is
 * recorded as rejected and the event is acknowledged.
 */
import type {CloudEvent} from '@google-cloud/functions-framework';
import type {Config} from '../config.js';
import type {Logger} from '../core/log.js';
import {buildRecord, ignoreReason, type ModelRecord, type StorageObjectData} from '../core/model_record.js';
import {matchesPattern, modelKeyOf} from '../core/glob.js';
import {isPermanent, ObjectNotFoundError, ObjectTooLargeError} from '../core/errors.js';
import type {ModelStores, Validation} from '../core/ports.js';

/** Dependencies of {@link makeRecordModelHandler}. */
export interface RecordModelDeps {
  readonly config: Pick<
    Config,
    'modelFilePattern' | 'validateModels' | 'defaultScale' | 'defaultLabels' | 'maxModelBytes' | 'currentDocument'
  >;
  /** The record of each model key: `{key}` in the pattern picks it, else CURRENT_MODEL_DOC. */
  readonly store: ModelStores;
  /** Loads and warms up the model (the promotion gate); throws ModelUnusableError for a bad file. */
  readonly validate: (record: ModelRecord) => Promise<Validation>;
  readonly logger: Logger;
  readonly now: () => Date;
}

/** The rejection kind: a missing or oversized object is named for what it is here, a model file. */
function kindOf(e: Error & {kind: string}): string {
  if (e instanceof ObjectNotFoundError) return 'object_not_found';
  if (e instanceof ObjectTooLargeError) return 'model_too_large';
  return e.kind;
}

/** Builds the recordModel CloudEvent handler. */
export function makeRecordModelHandler(deps: RecordModelDeps): (event: CloudEvent<StorageObjectData>) => Promise<void> {
  const {config, logger} = deps;
  const matches = (bucket: string, name: string) => matchesPattern(config.modelFilePattern, bucket, name);
  return async event => {
    const started = performance.now();
    const object = event.data as StorageObjectData;
    const ignored = ignoreReason(object, matches);
    const where = object?.bucket ? `gs://${object.bucket}/${object.name}` : '(no object)';
    if (ignored) {
      logger.log('INFO', `recordModel: ignored ${where}: ${ignored}`, {
        event_id: event.id,
        outcome: 'ignored',
        reason: ignored,
      });
      return;
    }
    const key = modelKeyOf(config.modelFilePattern, object.bucket, object.name, config.currentDocument)!;
    const store = deps.store(key);
    // Only a keyed deployment names the key in its log lines (unkeyed ones stay as they were).
    const keyFields = config.modelFilePattern.keyed ? {model_key: key} : {};
    let record = buildRecord(object, event.id, {scale: config.defaultScale, labels: config.defaultLabels});
    // A redelivered event: the gate already ran for this version; reuse its verdict.
    const known = await store.historyEntry(record);
    if (known) record = known;
    else if (record.status === 'rejected') {
      // Refused from its metadata alone (an invalid scale): nothing to load.
    } else if (record.size === 0) {
      // Recorded, not ignored: an empty .h5 matching the pattern is a failed upload someone should see.
      record = {...record, status: 'rejected', reason: 'empty_object: the object has zero bytes (a failed upload?)'};
    } else if (config.validateModels) {
      if (record.size > config.maxModelBytes) {
        record = {
          ...record,
          status: 'rejected',
          reason: `model_too_large: ${record.size} bytes, over MAX_MODEL_BYTES (${config.maxModelBytes})`,
        };
      } else {
        try {
          const v = await deps.validate(record);
          record = {...record, input_shape: v.input_shape, output_width: v.output_width};
        } catch (e) {
          if (!isPermanent(e)) throw e; // transient: let Eventarc deliver again
          record = {...record, status: 'rejected', reason: `${kindOf(e)}: ${e.message}`};
        }
      }
    }
    const outcome = await store.recordVersion(record, `recordModel (event ${event.id})`, deps.now());
    const messages: Record<string, string> = {
      promote: `promoted ${record.model_id} to current`,
      start_rollout: `started a ${record.rollout_plan?.mode} rollout of ${record.model_id} at ${record.rollout_plan?.percent}% beside ${outcome.current?.model_id}`,
      stale: `kept current ${outcome.current?.model_id}: ${record.model_id} is not newer`,
      duplicate: `${record.model_id} is already current (duplicate event)`,
      pinned: `recorded ${record.model_id}; current is pinned to ${outcome.current?.pinned}`,
      rejected: `${record.status === 'rolled_back' ? 'not promoting rolled-back' : 'rejected'} ${record.model_id}: ${record.reason}`,
    };
    logger.log(outcome.decision === 'rejected' ? 'WARNING' : 'INFO', `recordModel: ${messages[outcome.decision]}`, {
      event_id: event.id,
      outcome: outcome.decision,
      ...keyFields,
      new_version: outcome.newVersion,
      model_id: record.model_id,
      model_name: record.model_name,
      current_model_id: outcome.current?.model_id ?? null,
      elapsed_ms: Math.round(performance.now() - started),
    });
  };
}
