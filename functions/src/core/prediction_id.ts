/**
 * The document id of a prediction. Pub/Sub message ids grow monotonically, and Firestore
 * warns that sequential document ids concentrate writes on one tablet (a hotspot past about
 * 500 writes a second). A hash prefix spreads neighbouring messages over the key range; the
 * message id stays in the id (so a redelivery overwrites its own document) and in the
 * document's `message_id` field.
 */
import {stableHash} from './rollout.js';

/**
 * `predictions/{id}` of a message: `<8 hex digits of stableHash(messageId)>-<messageId>`; of
 * the image at `index` of a batch message, `<hash of messageId/index>-<messageId>-<index>`, so
 * the images of one batch spread over the key range too.
 */
export function predictionId(messageId: string, index?: number): string {
  const key = index === undefined ? messageId : `${messageId}/${index}`;
  const suffix = index === undefined ? messageId : `${messageId}-${index}`;
  return `${stableHash(key).toString(16).padStart(8, '0')}-${suffix}`;
}
