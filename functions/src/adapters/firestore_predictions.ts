/**
 * {@link PredictionSink} on Firestore: `predictions/{hash}-{messageId}` (core/prediction_id.ts:
 * no write hotspot from monotonic message ids), one idempotent write; a batch's results
 * `predictions/{hash}-{messageId}-{index}` in one batched commit.
 */
import type {Firestore} from '@google-cloud/firestore';
import type {PredictionSink} from '../core/ports.js';
import {predictionId} from '../core/prediction_id.js';

/** Most writes in one Firestore commit. */
const FIRESTORE_BATCH_WRITES = 500;

/** Writes each result with `set`, so a redelivered message overwrites its own result. */
export function firestorePredictionSink(db: Firestore, collection: string): PredictionSink {
  const col = db.collection(collection);
  return {
    async write(messageId, doc) {
      await col.doc(predictionId(messageId)).set(doc);
    },
    async writeBatch(messageId, docs) {
      // One commit holds at most 500 writes (Firestore's limit); MAX_BATCH_IMAGES is 500 by
      // default, so a batch is usually one commit. Each commit is idempotent on its own.
      for (let start = 0; start < docs.length; start += FIRESTORE_BATCH_WRITES) {
        const batch = db.batch();
        docs
          .slice(start, start + FIRESTORE_BATCH_WRITES)
          .forEach((doc, i) => batch.set(col.doc(predictionId(messageId, start + i)), doc));
        await batch.commit();
      }
    },
  };
}
