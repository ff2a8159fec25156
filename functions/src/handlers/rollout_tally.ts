/**
 * classifyImage's side of a rollout: which arm answers a message, this instance's counts
 * per arm, and the flush that hands them to the judge (core/rollout.ts) every few seconds.
 *
 * The flush runs at the end of an invocation that finds the interval past, awaited there:
 * Cloud Run gives an instance CPU only while it serves a request, so a timer might never
 * fire. Each instance writes its own totals (idempotent: a repeated flush counts nothing
 * twice); with n instances reporting, each flush judges with chance 1/n, and a judgement
 * merges everyone's totals in one transaction: about one judgement per interval in all. A
 * failed flush is logged and retried at the next one; it never fails a message.
 */
import type {Logger} from '../core/log.js';
import type {CurrentModel} from '../core/model_record.js';
import {isPermanent, ModelUnavailableError} from '../core/errors.js';
import type {Classification, Lease, ModelProvider, ModelRegistry} from '../core/ports.js';
import {inCandidateShare, judge, type Rollout, type RolloutThresholds} from '../core/rollout.js';
import {count, emptyCounts, figuresOf, type RolloutCounts} from '../core/rollout_counts.js';

/** Which arm answers a message, and whether the candidate runs in its shadow. */
export interface Route {
  readonly rollout: Rollout | null;
  readonly arm: 'stable' | 'candidate';
  readonly shadow: boolean;
}

/** The route of a message under the record's rollout (none: stable, no shadow). */
export function routeOf(record: CurrentModel, messageId: string): Route {
  const rollout = record.rollout?.state === 'baking' ? record.rollout : null;
  if (!rollout) return {rollout: null, arm: 'stable', shadow: false};
  const hit = inCandidateShare(messageId, rollout.percent);
  return {
    rollout,
    arm: rollout.mode === 'canary' && hit ? 'candidate' : 'stable',
    shadow: rollout.mode === 'shadow' && hit,
  };
}

/** The candidate as a record the model cache can serve (same revision as the record read). */
function candidateRecord(record: CurrentModel, rollout: Rollout): CurrentModel {
  return {
    ...rollout.candidate,
    pinned: null,
    changed_by: record.changed_by,
    changed_at: record.changed_at,
    ...(record.revision ? {revision: record.revision} : {}),
  };
}

/** Options of {@link RolloutTally}. */
export interface TallyOptions {
  /** This instance's id (random per process). */
  readonly instance: string;
  readonly intervalMs: number;
  readonly thresholds: RolloutThresholds;
  readonly registry: (key: string) => ModelRegistry;
  readonly logger: Logger;
  readonly now: () => Date;
  /** Uniform in [0, 1) (default Math.random): which flushes judge. */
  readonly random?: () => number;
}

interface Entry {
  readonly key: string;
  readonly candidateId: string;
  readonly counts: RolloutCounts;
  dirty: boolean;
}

/** This instance's rollout counts, per model key and candidate. */
export class RolloutTally {
  private readonly entries = new Map<string, Entry>();
  private last = 0;
  private flushing: Promise<void> | null = null;

  constructor(private readonly options: TallyOptions) {}

  /** The counts to add to for a candidate (marked for the next flush). */
  counts(key: string, candidateId: string): RolloutCounts {
    const id = `${key}|${candidateId}`;
    let entry = this.entries.get(id);
    if (!entry) this.entries.set(id, (entry = {key, candidateId, counts: emptyCounts(), dirty: true}));
    entry.dirty = true;
    return entry.counts;
  }

  /** Flushes when the interval has passed since the last flush (shared if one is running). */
  maybeFlush(): Promise<void> {
    const now = this.options.now().getTime();
    if (this.flushing) return this.flushing;
    if (now - this.last < this.options.intervalMs || ![...this.entries.values()].some(e => e.dirty))
      return Promise.resolve();
    this.last = now;
    this.flushing = this.flush().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  /** Flushes every changed entry now. */
  async flush(): Promise<void> {
    const {thresholds, logger, now} = this.options;
    for (const [id, entry] of this.entries) {
      if (!entry.dirty) continue;
      entry.dirty = false;
      try {
        const verdict = await this.options.registry(entry.key).reportRollout(
          this.options.instance,
          entry.candidateId,
          entry.counts,
          (rollout, merged) => judge(rollout, merged, thresholds, now()),
          now(),
          // Every instance stores its totals each interval; one in n (n instances reporting)
          // judges, so about one judgement an interval reads everyone's totals.
          instances => (this.options.random ?? Math.random)() * instances < 1
        );
        if (verdict === null)
          this.entries.delete(id); // decided, or another candidate now
        else if (verdict.decision !== 'wait')
          logger.log(
            verdict.decision === 'promote' ? 'INFO' : 'WARNING',
            `classifyImage: rollout of ${entry.candidateId} ${verdict.decision === 'promote' ? 'promoted' : 'rolled back'}: ${verdict.reason}`,
            {
              outcome: verdict.decision === 'promote' ? 'rollout_promoted' : 'rollout_rolled_back',
              model_id: entry.candidateId,
              model_key: entry.key,
              figures: verdict.figures,
            }
          );
      } catch (e) {
        entry.dirty = true; // try again at the next flush
        logger.log('WARNING', `classifyImage: rollout counts not flushed (will retry): ${(e as Error).message}`, {
          model_id: entry.candidateId,
          figures: figuresOf(entry.counts),
        });
      }
    }
  }
}

/**
 * Leases a rollout's candidate: in its own cache slot beside its key's stable model (so both
 * stay cached), and only the candidate itself, waiting for its load rather than answering
 * with whatever the slot held before.
 */
export function acquireCandidate(
  models: ModelProvider,
  record: CurrentModel,
  rollout: Rollout,
  key: string
): Promise<Lease> {
  return models.acquire(candidateRecord(record, rollout), `${key}#candidate`, {consistent: true});
}

/**
 * Shadow mode: runs the candidate on the image already answered by stable, counts it and
 * its agreement, and returns what to store beside the served answer. Never throws: the
 * served answer stands whatever the candidate does.
 */
export async function shadowRun(
  run: {
    models: ModelProvider;
    record: CurrentModel;
    rollout: Rollout;
    key: string;
    bytes: Uint8Array;
    topK: number;
    served: Classification;
  },
  counts: RolloutCounts
): Promise<Record<string, unknown>> {
  let lease: Lease | null = null;
  try {
    lease = await acquireCandidate(run.models, run.record, run.rollout, run.key);
    const r = await lease.classifier.classify(run.bytes, run.topK);
    count(counts.candidate, {latencyMs: r.inference_ms + r.preprocess_ms});
    const agrees = r.label === run.served.label;
    counts.compared++;
    if (agrees) counts.agreed++;
    counts.score_diff_sum += Math.abs(r.score - run.served.score);
    return {model_id: lease.record.model_id, label: r.label, score: r.score, agrees};
  } catch (e) {
    // A candidate that cannot load (or answer) fails this comparison; anything else transient
    // (Storage unavailable for the image cannot be: stable just read it) is not its fault.
    const kind = isPermanent(e) ? e.kind : e instanceof ModelUnavailableError ? 'model_unavailable' : null;
    const model_id = run.rollout.candidate.model_id;
    if (!kind) return {model_id, skipped: (e as Error).message.split('\n')[0]};
    count(counts.candidate, {failure: kind});
    return {model_id, error: {kind, message: (e as Error).message.split('\n')[0]}};
  } finally {
    lease?.release();
  }
}
