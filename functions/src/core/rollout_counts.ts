/**
 * A rollout's counts and figures: what each instance counts per arm (answers, failures by
 * kind, a latency histogram, and in shadow mode the agreement with the served answer), how
 * the instances' counts merge, and the figures that `judge` (rollout.ts) reads and `npm run status`
 * shows. Pure: no SDK, no clock.
 */
/** Latency histogram upper bounds in ms (log-spaced, as Cloud Monitoring's exponential buckets). */
export const LATENCY_BOUNDS_MS: readonly number[] = Array.from(
  {length: 24},
  (_, i) => Math.round(2 ** (i / 2) * 10) / 10
);

/** One arm's counts on one instance (or merged over all). */
export interface ArmCounts {
  answers: number;
  failures: Record<string, number>;
  /** Counts per LATENCY_BOUNDS_MS bucket, plus one overflow bucket. */
  latency: number[];
}

/** Both arms' counts, and (shadow) the agreement of the candidate with the served answer. */
export interface RolloutCounts {
  stable: ArmCounts;
  candidate: ArmCounts;
  /** Shadow comparisons: both answered. */
  compared: number;
  /** Same top-1 label. */
  agreed: number;
  /** Sum of |score difference| of the top-1 labels. */
  score_diff_sum: number;
}

/** Empty counts. */
export function emptyCounts(): RolloutCounts {
  const arm = (): ArmCounts => ({
    answers: 0,
    failures: {},
    latency: new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0),
  });
  return {stable: arm(), candidate: arm(), compared: 0, agreed: 0, score_diff_sum: 0};
}

/** Adds one answer (with its latency) or one failure (by kind) to an arm. */
export function count(arm: ArmCounts, outcome: {latencyMs: number} | {failure: string}): void {
  if ('failure' in outcome) {
    arm.failures[outcome.failure] = (arm.failures[outcome.failure] ?? 0) + 1;
    return;
  }
  arm.answers++;
  const i = LATENCY_BOUNDS_MS.findIndex(b => outcome.latencyMs <= b);
  arm.latency[i === -1 ? LATENCY_BOUNDS_MS.length : i]!++;
}

/** Sums several instances' counts. */
export function mergeCounts(all: readonly RolloutCounts[]): RolloutCounts {
  const out = emptyCounts();
  for (const c of all) {
    for (const arm of ['stable', 'candidate'] as const) {
      out[arm].answers += c[arm].answers;
      for (const [k, n] of Object.entries(c[arm].failures)) out[arm].failures[k] = (out[arm].failures[k] ?? 0) + n;
      c[arm].latency.forEach((n, i) => (out[arm].latency[i] = (out[arm].latency[i] ?? 0) + n));
    }
    out.compared += c.compared;
    out.agreed += c.agreed;
    out.score_diff_sum += c.score_diff_sum;
  }
  return out;
}

/** The upper bound of the bucket holding quantile `q` (null without samples). */
export function percentile(latency: readonly number[], q: number): number | null {
  const total = latency.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  let seen = 0;
  for (let i = 0; i < latency.length; i++) {
    seen += latency[i]!;
    if (seen >= q * total) return LATENCY_BOUNDS_MS[i] ?? Infinity;
  }
  return Infinity;
}

/** One arm's figures, as stored with a decision and shown by `npm run status`. */
export interface ArmFigures {
  answers: number;
  failures: number;
  failures_by_kind: Record<string, number>;
  failure_rate: number;
  p50_ms: number | null;
  p99_ms: number | null;
}

/** Both arms' figures and, in shadow mode, agreement. */
export interface RolloutFigures {
  stable: ArmFigures;
  candidate: ArmFigures;
  compared: number;
  /** Share of compared answers with the same top-1 label (null before any comparison). */
  agreement: number | null;
  /** Mean |difference| of the top-1 scores. */
  mean_score_diff: number | null;
}

function armFigures(arm: ArmCounts): ArmFigures {
  const failures = Object.values(arm.failures).reduce((a, b) => a + b, 0);
  const n = arm.answers + failures;
  return {
    answers: arm.answers,
    failures,
    failures_by_kind: {...arm.failures},
    failure_rate: n === 0 ? 0 : failures / n,
    p50_ms: percentile(arm.latency, 0.5),
    p99_ms: percentile(arm.latency, 0.99),
  };
}

/** The figures of merged counts. */
export function figuresOf(c: RolloutCounts): RolloutFigures {
  return {
    stable: armFigures(c.stable),
    candidate: armFigures(c.candidate),
    compared: c.compared,
    agreement: c.compared === 0 ? null : c.agreed / c.compared,
    mean_score_diff: c.compared === 0 ? null : c.score_diff_sum / c.compared,
  };
}
