/**
 * {@link ModelStore} on Firestore: `{collection}/{current}` is the side input; history
 * entries live in its subcollection `history`, keyed by generation and object name.
 */
import type {DocumentReference, Firestore, Transaction} from '@google-cloud/firestore';
import {
  concludeRollout,
  decide,
  historyId,
  isNewer,
  startRollout,
  type CurrentModel,
  type ModelRecord,
} from '../core/model_record.js';
import {stableHash} from '../core/rollout.js';
import {emptyCounts, mergeCounts, type RolloutCounts} from '../core/rollout_counts.js';
import type {ModelStore, RecordOutcome} from '../core/ports.js';

/** Where the records live. */
export interface RegistryPaths {
  readonly modelsCollection: string;
  readonly currentDocument: string;
}

/** Thrown by pin/unpin/rollback for a request that cannot be carried out. */
export class RegistryError extends Error {}

/** An accepted entry a step picked left `accepted` before the step's transaction read it. */
class Moved extends RegistryError {}

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
  // One document per instance and candidate: each instance overwrites its own totals, so
  // no document is hot and a repeated flush counts nothing twice.
  const stats = currentRef.collection('rollout_stats');
  const statsOf = (candidateId: string) => stats.where('candidate_id', '==', candidateId);
  const merged = (docs: Array<{data(): Record<string, unknown>}>) =>
    mergeCounts(docs.map(d => d.data()['counts'] as RolloutCounts));

  /** Ends the baking rollout: the record (core's concludeRollout), and the candidate's history entry. */
  function applyDecision(
    tx: Transaction,
    current: CurrentModel,
    end: Parameters<typeof concludeRollout>[1],
    changedBy: string,
    now: Date
  ): CurrentModel {
    const next = concludeRollout(current, end, changedBy, now);
    tx.set(currentRef, next);
    const {candidate, state, reason, figures, decided_at} = next.rollout!;
    tx.set(
      history.doc(historyId(candidate)),
      {
        rollout: {state, reason, figures, decided_at},
        ...(state === 'promoted' ? {} : {status: 'rolled_back' as const, reason: `rolled_back: ${reason}`}),
      },
      {merge: true}
    );
    return next;
  }

  async function baking(tx: Transaction): Promise<CurrentModel> {
    const current = await requireCurrent(tx, 'end a rollout of');
    if (current.rollout?.state !== 'baking')
      throw new RegistryError(`no rollout is baking (current is ${current.model_id})`);
    return current;
  }

  /**
   * Runs `act` in a transaction on the accepted history entries. The query runs before the
   * transaction, never in it: a query in a transaction locks its whole range against every
   * upload's history write until commit (on the emulator, every `history` collection, with a
   * 10 s lock timeout that then kills the transaction). `act` re-reads the entries it picks
   * with `confirm`; one that left `accepted` meanwhile starts the whole step again.
   */
  async function withAccepted<T>(
    act: (tx: Transaction, accepted: ModelRecord[], confirm: (r: ModelRecord) => Promise<void>) => Promise<T>
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const accepted = (await history.where('status', '==', 'accepted').get()).docs.map(d => d.data() as ModelRecord);
      try {
        return await db.runTransaction(tx =>
          act(tx, accepted, async r => {
            if ((await tx.get(historyRef(r))).data()?.status !== 'accepted')
              throw new Moved(`${r.model_id} changed status while this step ran; try again`);
          })
        );
      } catch (e) {
        if (!(e instanceof Moved) || attempt === 3) throw e;
      }
    }
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
        if (decision === 'start_rollout' && current && record.rollout_plan) {
          // The stable model stays current; the candidate bakes beside it.
          const next: CurrentModel = {...current, rollout: startRollout(record, record.rollout_plan, now)};
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
      return withAccepted(async (tx, accepted, confirm) => {
        const candidate = accepted.find(r => r.model_id === modelId);
        if (!candidate) throw new RegistryError(`no accepted model ${modelId} in history`);
        await confirm(candidate);
        const next = asCurrent(candidate, modelId, changedBy, now);
        tx.set(currentRef, next);
        return next;
      });
    },

    unpin(changedBy, now) {
      return withAccepted(async (tx, accepted, confirm) => {
        const current = await requireCurrent(tx, 'unpin');
        const newest = newestOf(accepted);
        const base: ModelRecord = newest && isNewer(newest, current) ? newest : current;
        if (base === newest) await confirm(newest);
        const next = asCurrent(stripCurrent(base), null, changedBy, now);
        tx.set(currentRef, next);
        return next;
      });
    },

    async reportRollout(instance, candidateId, counts, judgeRollout, now, share) {
      await stats
        .doc(`${instance}__${stableHash(candidateId).toString(36)}`)
        .set({candidate_id: candidateId, instance, counts, updated: now.toISOString()});
      if (share) {
        const instances = (await statsOf(candidateId).count().get()).data().count;
        if (!share(instances)) return {decision: 'wait'};
      }
      // The totals are read outside the transaction: each instance's document only grows, so a
      // verdict on a moment-old sum is one the next flush would give, and a query in the
      // transaction would lock every instance's flush out until it commits.
      const totals = merged((await statsOf(candidateId).get()).docs);
      return db.runTransaction(async tx => {
        const snap = await tx.get(currentRef);
        const current = snap.exists ? (snap.data() as CurrentModel) : null;
        const rollout = current?.rollout;
        if (!current || rollout?.state !== 'baking' || rollout.candidate.model_id !== candidateId) return null;
        const verdict = judgeRollout(rollout, totals);
        if (verdict.decision === 'wait') return verdict;
        const state = verdict.decision === 'promote' ? 'promoted' : 'rolled_back';
        applyDecision(
          tx,
          current,
          {state, reason: verdict.reason, figures: verdict.figures},
          `rollout judge (${instance})`,
          now
        );
        return verdict;
      });
    },

    startRollout(modelId, plan, changedBy, now) {
      return withAccepted(async (tx, accepted, confirm) => {
        const current = await requireCurrent(tx, 'roll out beside');
        const candidate = accepted.find(r => r.model_id === modelId);
        if (!candidate) throw new RegistryError(`no accepted model ${modelId} in history`);
        if (candidate.model_id === current.model_id) throw new RegistryError(`${modelId} is already current`);
        await confirm(candidate);
        const next: CurrentModel = {
          ...current,
          changed_by: changedBy,
          changed_at: now.toISOString(),
          rollout: startRollout(candidate, plan, now),
        };
        delete next.revision;
        tx.set(currentRef, next);
        return next;
      });
    },

    endRollout(action, changedBy, now) {
      return db.runTransaction(async tx => {
        const current = await baking(tx);
        const state = action === 'promote' ? 'promoted' : 'aborted';
        return applyDecision(
          tx,
          current,
          {state, reason: `${state} by hand (${changedBy})`, figures: null},
          changedBy,
          now
        );
      });
    },

    async rolloutCounts(candidateId) {
      const docs = (await statsOf(candidateId).get()).docs;
      return docs.length ? merged(docs) : emptyCounts();
    },

    rollback(changedBy, now) {
      return withAccepted(async (tx, accepted, confirm) => {
        const current = await requireCurrent(tx, 'roll back from');
        const older = accepted.filter(r => r.model_id !== current.model_id && isNewer(current, r));
        const previous = newestOf(older);
        if (!previous) throw new RegistryError(`no accepted version older than ${current.model_id} to roll back to`);
        await confirm(previous);
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
