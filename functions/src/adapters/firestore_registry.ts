/**
 * {@link ModelStore} on Firestore: `{collection}/{current}` is the side input; history
 * entries live in its subcollection `history`, keyed by generation and object name.
 */
import type {DocumentReference, Firestore, Transaction} from '@google-cloud/firestore';
import {decide, historyId, isNewer, type CurrentModel, type ModelRecord} from '../core/model_record.js';
import type {ModelStore, RecordOutcome} from '../core/ports.js';

/** Where the records live. */
export interface RegistryPaths {
  readonly modelsCollection: string;
  readonly currentDocument: string;
}

/** Thrown by pin/unpin/rollback for a request that cannot be carried out. */
export class RegistryError extends Error {}

function asCurrent(record: ModelRecord, pinned: string | null, changedBy: string, now: Date): CurrentModel {
  return {...record, pinned, changed_by: changedBy, changed_at: now.toISOString()};
}

/** A Firestore-backed model registry. */
export function firestoreRegistry(db: Firestore, paths: RegistryPaths): ModelStore {
  const currentRef = db
    .collection(paths.modelsCollection)
    .doc(paths.currentDocument) as DocumentReference<CurrentModel>;
  const history = currentRef.collection('history');
  const historyRef = (r: Pick<ModelRecord, 'generation' | 'name'>) =>
    history.doc(historyId(r)) as DocumentReference<ModelRecord>;

  async function accepted(tx: Transaction): Promise<ModelRecord[]> {
    const snap = await tx.get(history.where('status', '==', 'accepted'));
    return snap.docs.map(d => d.data() as ModelRecord);
  }

  async function requireCurrent(tx: Transaction, action: string): Promise<CurrentModel> {
    const snap = await tx.get(currentRef);
    if (!snap.exists) throw new RegistryError(`no current model to ${action}`);
    return snap.data() as CurrentModel;
  }

  return {
    async current() {
      const snap = await currentRef.get();
      if (!snap.exists) return null;
      const t = snap.updateTime!;
      const revision = `${String(t.seconds).padStart(12, '0')}.${String(t.nanoseconds).padStart(9, '0')}`;
      return {...(snap.data() as CurrentModel), revision};
    },

    async historyEntry(record) {
      const snap = await historyRef(record).get();
      return snap.exists ? (snap.data() as ModelRecord) : null;
    },

    recordVersion(record, changedBy, now): Promise<RecordOutcome> {
      return db.runTransaction(async tx => {
        const [currentSnap, historySnap] = await tx.getAll(currentRef, historyRef(record));
        const current = currentSnap!.exists ? (currentSnap!.data() as CurrentModel) : null;
        const newVersion = !historySnap!.exists;
        if (newVersion) tx.create(historyRef(record), record);
        const decision = decide(record, current);
        if (decision === 'promote') {
          const next = asCurrent(record, null, changedBy, now);
          tx.set(currentRef, next);
          return {decision, newVersion, current: next};
        }
        return {decision, newVersion, current};
      });
    },

    async listHistory(limit) {
      const snap = await history.orderBy('updated', 'desc').limit(limit).get();
      return snap.docs.map(d => d.data() as ModelRecord);
    },

    pin(modelId, changedBy, now) {
      return db.runTransaction(async tx => {
        const candidates = (await accepted(tx)).filter(r => r.model_id === modelId);
        if (candidates.length === 0) throw new RegistryError(`no accepted model ${modelId} in history`);
        const next = asCurrent(candidates[0]!, modelId, changedBy, now);
        tx.set(currentRef, next);
        return next;
      });
    },

    unpin(changedBy, now) {
      return db.runTransaction(async tx => {
        const current = await requireCurrent(tx, 'unpin');
        const newest = newestOf(await accepted(tx));
        const base: ModelRecord = newest && isNewer(newest, current) ? newest : current;
        const next = asCurrent(stripCurrent(base), null, changedBy, now);
        tx.set(currentRef, next);
        return next;
      });
    },

    rollback(changedBy, now) {
      return db.runTransaction(async tx => {
        const current = await requireCurrent(tx, 'roll back from');
        const older = (await accepted(tx)).filter(r => r.model_id !== current.model_id && isNewer(current, r));
        const previous = newestOf(older);
        if (!previous) throw new RegistryError(`no accepted version older than ${current.model_id} to roll back to`);
        const next = asCurrent(previous, previous.model_id, changedBy, now);
        tx.set(currentRef, next);
        return next;
      });
    },
  };
}

/** The newest of some records ("newer" as everywhere: updated, then generation), or null. */
function newestOf(records: ModelRecord[]): ModelRecord | null {
  return records.reduce<ModelRecord | null>((a, r) => (a === null || isNewer(r, a) ? r : a), null);
}

/** The record part of a current document (drops pin and change fields). */
function stripCurrent(record: ModelRecord | CurrentModel): ModelRecord {
  const {pinned: _p, changed_by: _b, changed_at: _a, ...rest} = record as CurrentModel;
  return rest;
}
