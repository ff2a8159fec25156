/**
 * {@link PredictionSink} on Firestore: `predictions/{hash}-{messageId}` (core/prediction_id.ts:
 * no write hotspot from monotonic message ids), one idempotent write.
 */
import type {Firestore} from '@google-cloud/firestore';
import type {PredictionSink} from '../core/ports.js';
import {predictionId} from '../core/prediction_id.js';

/** Writes each result with `set`, so a redelivered message overwrites its own result. */
export function firestorePredictionSink(db: Firestore, collection: string): PredictionSink {
  const col = db.collection(collection);
  return {
    async write(messageId, doc) {
      await col.doc(predictionId(messageId)).set(doc);
    },
  };
}
