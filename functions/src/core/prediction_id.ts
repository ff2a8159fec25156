/**
 * The document id of a prediction. Pub/Sub message ids grow monotonically, and Firestore
 * warns that sequential document ids concentrate writes on one tablet (a hotspot past about
 * 500 writes a second). A hash prefix spreads neighbouring messages over the key range; the
 * message id stays in the id (so a redelivery overwrites its own document) and in the
 * document's `message_id` field.
 */
import {stableHash} from './rollout.js';

/** `predictions/{id}` of a message: `<8 hex digits of FNV-1a(messageId)>-<messageId>`. */
export function predictionId(messageId: string): string {
  return `${stableHash(messageId).toString(16).padStart(8, '0')}-${messageId}`;
}
