/**
 * Rollouts: a new model version proves itself on part of the traffic before it replaces
 * the stable one. Pure: the plan, routing and the judgement (the per-arm counts and figures
 * are in rollout_counts.ts). No SDK, no clock.
 *
 * - `canary:<percent>`: a message whose messageId hashes under `percent` is answered by the
 *   candidate. The hash is stable, so a redelivered message gets the same arm.
 * - `shadow:<percent>`: every message is answered by the stable model; on `percent` of them
 *   the candidate runs too and its answer is stored beside, never served. Agreement (same
 *   top-1 label, and the mean absolute difference of the top-1 score) is counted.
 *
 * Each instance counts per arm and flushes its totals every few seconds; a transaction then
 * merges every instance's totals and judges (see {@link judge}).
 */
import type {ModelRecord} from './model_record.js';
import {figuresOf, type RolloutCounts, type RolloutFigures} from './rollout_counts.js';

/** How a candidate gets traffic. */
export type RolloutMode = 'canary' | 'shadow';

/** Where a rollout stands. */
export type RolloutState = 'baking' | 'promoted' | 'rolled_back' | 'aborted' | 'superseded';

/** What an upload (object metadata `rollout`, `bake_samples`, `bake_seconds`) or `npm run rollout` asks for. */
export interface RolloutPlan {
  readonly mode: RolloutMode;
  /** 0 < percent ≤ 100. */
  readonly percent: number;
  /** Candidate samples before promotion (default 200). */
  readonly bake_samples: number;
  /** Seconds before promotion (default 300). */
  readonly bake_seconds: number;
}

/** The rollout in the record (`models/{key}.rollout`). */
export interface Rollout extends RolloutPlan {
  readonly candidate: ModelRecord;
  readonly state: RolloutState;
  /** RFC 3339. */
  readonly started_at: string;
  readonly decided_at: string | null;
  /** Why it was decided, with its figures (null while baking). */
  readonly reason: string | null;
  readonly figures: RolloutFigures | null;
}

/** Default bake, as the issue states it: 200 samples and 5 minutes. */
export const DEFAULT_BAKE = {samples: 200, seconds: 300} as const;

/** Thrown for a malformed `rollout` declaration. */
export class RolloutPlanError extends Error {}

/** Parses `canary:30` / `shadow:50` (+ optional bake numbers); null when nothing is declared. */
export function parseRolloutPlan(
  declared: string | undefined,
  bakeSamples?: string,
  bakeSeconds?: string
): RolloutPlan | null {
  if (declared === undefined || declared.trim() === '') return null;
  const m = /^\s*(canary|shadow)\s*:\s*(\d+(?:\.\d+)?)\s*%?\s*$/i.exec(declared);
  const percent = m ? Number(m[2]) : NaN;
  if (!m || !(percent > 0 && percent <= 100))
    throw new RolloutPlanError(
      `rollout '${declared}' is not canary:<percent> or shadow:<percent> with 0 < percent ≤ 100`
    );
  const whole = (v: string | undefined, fallback: number, what: string) => {
    if (v === undefined || v.trim() === '') return fallback;
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 0) throw new RolloutPlanError(`${what} '${v}' is not a whole number ≥ 0`);
    return n;
  };
  return {
    mode: m[1]!.toLowerCase() as RolloutMode,
    percent,
    bake_samples: whole(bakeSamples, DEFAULT_BAKE.samples, 'bake_samples'),
    bake_seconds: whole(bakeSeconds, DEFAULT_BAKE.seconds, 'bake_seconds'),
  };
}

/**
 * FNV-1a, 32 bits, then MurmurHash3's finaliser: a stable hash of a message id (same id → same
 * arm, same document). The finaliser spreads ids that differ only in their last digits, which
 * FNV-1a alone leaves clustered in the high bits.
 */
export function stableHash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Whether a message falls in the candidate's `percent` (to 1/100 of a percent). */
export function inCandidateShare(messageId: string, percent: number): boolean {
  return stableHash(messageId) % 10_000 < Math.round(percent * 100);
}

/** The thresholds of {@link judge} (configuration: ROLLOUT_*). */
export interface RolloutThresholds {
  /** Roll back when the candidate's failure rate exceeds stable's by more than this (default 0.05). */
  readonly maxFailureRateIncrease: number;
  /** Shadow: roll back below this agreement, promote only at or above it (default 0.9). */
  readonly minAgreement: number;
  /** Samples the candidate needs before a rollback on failure rate or agreement (default 20). */
  readonly minSamples: number;
  /** Promote only when the candidate's p99 is within this factor of stable's (default 2). */
  readonly maxP99Factor: number;
}

/** Documented defaults of {@link RolloutThresholds}. */
export const DEFAULT_THRESHOLDS: RolloutThresholds = {
  maxFailureRateIncrease: 0.05,
  minAgreement: 0.9,
  minSamples: 20,
  maxP99Factor: 2,
};

/** What to do with a baking rollout now. */
export type Judgement =
  | {readonly decision: 'wait'}
  | {readonly decision: 'promote' | 'roll_back'; readonly reason: string; readonly figures: RolloutFigures};

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/**
 * Judges a baking rollout on everyone's merged counts:
 * - rolled back at once when the candidate (with at least `minSamples`) fails more often than
 *   stable by more than `maxFailureRateIncrease`, or (shadow) agrees less than `minAgreement`;
 * - promoted once the bake is over (`bake_samples` candidate samples and `bake_seconds`),
 *   when its failure rate is not worse, its p99 is within `maxP99Factor` of stable's, and
 *   (shadow) its agreement is at least `minAgreement`;
 * - otherwise, wait.
 */
export function judge(rollout: Rollout, counts: RolloutCounts, t: RolloutThresholds, now: Date): Judgement {
  const f = figuresOf(counts);
  const samples = f.candidate.answers + f.candidate.failures;
  const worse = f.candidate.failure_rate - f.stable.failure_rate;
  if (samples >= t.minSamples && worse > t.maxFailureRateIncrease)
    return {
      decision: 'roll_back',
      reason: `failure rate ${pct(f.candidate.failure_rate)} against stable's ${pct(f.stable.failure_rate)} (more than ${pct(t.maxFailureRateIncrease)} worse) after ${samples} samples`,
      figures: f,
    };
  const shadow = rollout.mode === 'shadow';
  if (shadow && f.compared >= t.minSamples && f.agreement !== null && f.agreement < t.minAgreement)
    return {
      decision: 'roll_back',
      reason: `agreement ${pct(f.agreement)} with stable (floor ${pct(t.minAgreement)}) after ${f.compared} comparisons`,
      figures: f,
    };
  const elapsed = (now.getTime() - Date.parse(rollout.started_at)) / 1000;
  const baked = (shadow ? f.compared : samples) >= rollout.bake_samples && elapsed >= rollout.bake_seconds;
  if (!baked) return {decision: 'wait'};
  const p99ok =
    f.candidate.p99_ms === null || f.stable.p99_ms === null || f.candidate.p99_ms <= t.maxP99Factor * f.stable.p99_ms;
  // "Not worse": within maxFailureRateIncrease of stable (worse than that rolls back, above).
  if (worse > t.maxFailureRateIncrease || !p99ok) return {decision: 'wait'};
  if (shadow && (f.agreement === null || f.agreement < t.minAgreement)) return {decision: 'wait'};
  return {
    decision: 'promote',
    reason: `baked ${samples} samples in ${Math.round(elapsed)} s: failure rate ${pct(f.candidate.failure_rate)} (stable ${pct(f.stable.failure_rate)}), p99 ${f.candidate.p99_ms} ms (stable ${f.stable.p99_ms} ms)${shadow ? `, agreement ${pct(f.agreement!)}` : ''}`,
    figures: f,
  };
}
