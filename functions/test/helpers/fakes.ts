/** In-memory implementations of the ports, for unit and integration tests. */
import {
  concludeRollout,
  decide,
  historyId,
  startRollout,
  type CurrentModel,
  type ModelRecord,
} from '../../src/core/model_record.js';
import {type Judgement, type Rollout} from '../../src/core/rollout.js';
import {mergeCounts, type RolloutCounts} from '../../src/core/rollout_counts.js';
import {ObjectNotFoundError, ObjectTooLargeError} from '../../src/core/errors.js';
import type {ModelStore, ObjectStore} from '../../src/core/ports.js';

/**
 * A ModelStore in memory, with the semantics the callers rely on: transactions (JS runs
 * each call atomically), copies on read, and a `revision` that increases with every write
 * of `current`, as Firestore's update time does (the model cache orders snapshots by it).
 */
export class MemoryModelStore implements ModelStore {
  currentDoc: CurrentModel | null = null;
  private writes = 0;
  readonly history = new Map<string, ModelRecord>();
  reads = 0;
  /** Set to make every call fail like an unavailable Firestore. */
  failWith: Error | null = null;

  private check(): void {
    if (this.failWith) throw this.failWith;
  }
  async current() {
    this.reads++;
    this.check();
    return this.currentDoc ? structuredClone(this.currentDoc) : null;
  }
  async historyEntry(r: Pick<ModelRecord, 'generation' | 'name'>) {
    this.check();
    return this.history.get(historyId(r)) ?? null;
  }
  async recordVersion(record: ModelRecord, changedBy: string, now: Date) {
    this.check();
    const newVersion = !this.history.has(historyId(record));
    if (newVersion) this.history.set(historyId(record), structuredClone(record));
    const decision = decide(record, this.currentDoc);
    if (decision === 'promote') {
      this.currentDoc = {
        ...record,
        pinned: null,
        changed_by: changedBy,
        changed_at: now.toISOString(),
        revision: this.revision(),
      };
    }
    if (decision === 'start_rollout' && this.currentDoc && record.rollout_plan) {
      this.currentDoc = {
        ...this.currentDoc,
        rollout: startRollout(record, record.rollout_plan, now),
        revision: this.revision(),
      };
    }
    return {decision, newVersion, current: this.currentDoc};
  }
  private revision(): string {
    return `${String(++this.writes).padStart(12, '0')}.000000000`;
  }
  /** Each instance's totals per candidate, as the Firestore store keeps them. */
  readonly rolloutStats = new Map<string, {candidate: string; counts: RolloutCounts}>();
  async reportRollout(
    instance: string,
    candidateId: string,
    counts: RolloutCounts,
    judge: (rollout: Rollout, merged: RolloutCounts) => Judgement,
    now: Date,
    share?: (instances: number) => boolean
  ): Promise<Judgement | null> {
    this.check();
    this.rolloutStats.set(`${instance}|${candidateId}`, {candidate: candidateId, counts: structuredClone(counts)});
    const instances = [...this.rolloutStats.values()].filter(s => s.candidate === candidateId).length;
    if (share && !share(instances)) return {decision: 'wait'};
    const rollout = this.currentDoc?.rollout;
    if (!this.currentDoc || rollout?.state !== 'baking' || rollout.candidate.model_id !== candidateId) return null;
    const verdict = judge(rollout, await this.rolloutCounts(candidateId));
    if (verdict.decision === 'wait') return verdict;
    const end = {
      state: verdict.decision === 'promote' ? ('promoted' as const) : ('rolled_back' as const),
      reason: verdict.reason,
      figures: verdict.figures,
    };
    this.currentDoc = {...concludeRollout(this.currentDoc, end, 'judge', now), revision: this.revision()};
    return verdict;
  }
  async rolloutCounts(candidateId: string): Promise<RolloutCounts> {
    return mergeCounts([...this.rolloutStats.values()].filter(s => s.candidate === candidateId).map(s => s.counts));
  }
  async startRollout(): Promise<CurrentModel> {
    throw new Error('not used in unit tests');
  }
  async endRollout(): Promise<CurrentModel> {
    throw new Error('not used in unit tests');
  }
  async listHistory(limit: number) {
    return [...this.history.entries()]
      .sort(([a], [b]) => (a < b ? 1 : -1))
      .slice(0, limit)
      .map(([, r]) => r);
  }
  async pin(): Promise<CurrentModel> {
    throw new Error('not used in unit tests');
  }
  async unpin(): Promise<CurrentModel> {
    throw new Error('not used in unit tests');
  }
  async rollback(): Promise<CurrentModel> {
    throw new Error('not used in unit tests');
  }
}

/**
 * An ObjectStore over a map of `bucket/name` → bytes; a generation, where given, must match.
 * Each read returns a copy, as Cloud Storage does (the bench's handler figures rely on it: the
 * classifier shares a decode between reads of the same buffer object).
 */
export class MemoryObjectStore implements ObjectStore {
  readonly objects = new Map<string, Buffer>();
  readonly generations = new Map<string, string>();
  reads: string[] = [];
  failWith: Error | null = null;
  put(bucket: string, name: string, bytes: Buffer, generation?: string): void {
    this.objects.set(`${bucket}/${name}`, bytes);
    if (generation) this.generations.set(`${bucket}/${name}`, generation);
  }
  async read(
    bucket: string,
    name: string,
    {maxBytes, generation}: {generation?: string; maxBytes: number}
  ): Promise<Buffer> {
    this.reads.push(`${bucket}/${name}`);
    if (this.failWith) throw this.failWith;
    const bytes = this.objects.get(`${bucket}/${name}`);
    const stored = this.generations.get(`${bucket}/${name}`);
    if (!bytes || (generation && stored && stored !== generation))
      throw new ObjectNotFoundError(`gs://${bucket}/${name}${generation ? `#${generation}` : ''} does not exist`);
    if (bytes.length > maxBytes) throw new ObjectTooLargeError(`gs://${bucket}/${name} is too large`);
    // A new buffer each read, as a download gives: nothing may rely on getting the same object.
    return Buffer.from(bytes);
  }
  async list(bucket: string, prefix: string, {limit}: {limit: number}): Promise<string[]> {
    if (this.failWith) throw this.failWith;
    const names = [...this.objects.keys()]
      .filter(k => k.startsWith(`${bucket}/${prefix}`))
      .map(k => k.slice(bucket.length + 1))
      .filter(name => !name.slice(prefix.length).includes('/'));
    return names.sort().slice(0, limit);
  }
}

/** A finalize event's data for an object. */
export function storageObject(
  name: string,
  generation: number,
  extra: Record<string, unknown> = {}
): {bucket: string; name: string; generation: string; metageneration: string; updated: string; size: string} & Record<
  string,
  unknown
> {
  return {
    bucket: 'models-bucket',
    name,
    generation: String(generation),
    metageneration: '1',
    updated: new Date(Date.UTC(2026, 0, 1) + generation * 1000).toISOString(),
    size: '1000',
    md5Hash: 'abc==',
    contentType: 'application/x-hdf5',
    ...extra,
  };
}
