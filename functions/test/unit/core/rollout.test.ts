import assert from 'node:assert/strict';
import {describe, it} from 'node:test';
import {
  DEFAULT_THRESHOLDS,
  inCandidateShare,
  judge,
  parseRolloutPlan,
  type Rollout,
} from '../../../src/core/rollout.js';
import {
  count,
  emptyCounts,
  figuresOf,
  mergeCounts,
  percentile,
  type RolloutCounts,
} from '../../../src/core/rollout_counts.js';
import {decide, startRollout, type CurrentModel, type ModelRecord} from '../../../src/core/model_record.js';

const record = (id: string, second: number, plan: Rollout | null = null): ModelRecord =>
  ({
    model_id: id,
    generation: String(Math.round(second * 1000)),
    updated: new Date(Date.UTC(2026, 0, 1) + second * 1000).toISOString(),
    status: 'accepted',
    rollout_plan: plan ? {mode: plan.mode, percent: plan.percent, bake_samples: 1, bake_seconds: 0} : null,
  }) as ModelRecord;

function rolloutOf(mode: 'canary' | 'shadow', bake = {samples: 10, seconds: 0}): Rollout {
  return startRollout(
    record('cand', 2),
    {mode, percent: 50, bake_samples: bake.samples, bake_seconds: bake.seconds},
    new Date('2026-01-01T00:00:00Z')
  );
}

function counts(stable: [number, number, number], candidate: [number, number, number], agreed = 0, compared = 0) {
  const c = emptyCounts();
  const fill = (arm: RolloutCounts['stable'], [answers, failures, ms]: [number, number, number]) => {
    for (let i = 0; i < answers; i++) count(arm, {latencyMs: ms});
    for (let i = 0; i < failures; i++) count(arm, {failure: 'decode'});
  };
  fill(c.stable, stable);
  fill(c.candidate, candidate);
  c.agreed = agreed;
  c.compared = compared;
  return c;
}

const later = new Date('2026-01-01T01:00:00Z');

describe('rollout plans and routing', () => {
  it('parses canary/shadow declarations with bake numbers, and refuses bad ones', () => {
    assert.deepEqual(parseRolloutPlan('canary:30'), {
      mode: 'canary',
      percent: 30,
      bake_samples: 200,
      bake_seconds: 300,
    });
    assert.deepEqual(parseRolloutPlan('Shadow: 50%', '40', '10'), {
      mode: 'shadow',
      percent: 50,
      bake_samples: 40,
      bake_seconds: 10,
    });
    assert.equal(parseRolloutPlan(undefined), null);
    for (const bad of ['canary', 'canary:0', 'canary:101', 'blue:10'])
      assert.throws(() => parseRolloutPlan(bad), /rollout/);
    assert.throws(() => parseRolloutPlan('canary:5', '-1'), /bake_samples/);
  });

  it('sends a stable share of message ids to the candidate, the same one every time', () => {
    const ids = Array.from({length: 10_000}, (_, i) => String(10_000_000_000 + i * 7)); // Pub/Sub-like ids
    const hits = ids.filter(id => inCandidateShare(id, 30)).length;
    assert.ok(hits > 2700 && hits < 3300, `${hits} of 10000 at 30%`);
    for (const id of ids.slice(0, 100)) assert.equal(inCandidateShare(id, 30), inCandidateShare(id, 30));
  });

  it('starts a rollout instead of promoting a version that declares one; the stable model stays current', () => {
    const stable = {...record('v1', 1), pinned: null} as CurrentModel;
    const candidate = record('v2', 2, rolloutOf('canary'));
    assert.equal(decide(candidate, stable), 'start_rollout');
    assert.equal(decide(candidate, null), 'promote'); // nothing to compare with
    const baking = {...stable, rollout: rolloutOf('canary')} as CurrentModel;
    assert.equal(decide(record('cand', 2), baking), 'duplicate'); // the baking candidate again
    assert.equal(decide(record('older', 1.5), baking), 'stale');
    assert.equal(decide({...record('v3', 3), status: 'rolled_back'}, stable), 'rejected');
  });
});

describe('judge', () => {
  it('rolls back at once on failure rate, after the minimum sample', () => {
    const r = rolloutOf('canary', {samples: 1000, seconds: 3600});
    assert.equal(judge(r, counts([50, 0, 5], [0, 10, 5]), DEFAULT_THRESHOLDS, later).decision, 'wait'); // 10 < 20 samples
    const j = judge(r, counts([50, 0, 5], [0, 20, 5]), DEFAULT_THRESHOLDS, later);
    assert.equal(j.decision, 'roll_back');
    assert.match((j as {reason: string}).reason, /failure rate 100\.0% against stable's 0\.0%/);
  });

  it('rolls back a shadow candidate that disagrees, and promotes one that agrees after the bake', () => {
    const r = rolloutOf('shadow');
    const bad = judge(r, counts([40, 0, 5], [20, 0, 5], 1, 20), DEFAULT_THRESHOLDS, later);
    assert.equal(bad.decision, 'roll_back');
    assert.match((bad as {reason: string}).reason, /agreement 5\.0%/);
    const good = judge(r, counts([40, 0, 5], [20, 0, 5], 20, 20), DEFAULT_THRESHOLDS, later);
    assert.equal(good.decision, 'promote');
  });

  it('waits for the bake (samples and seconds), and for a p99 within the factor', () => {
    const r = rolloutOf('canary', {samples: 10, seconds: 600});
    const soon = new Date(Date.parse(r.started_at) + 60_000);
    assert.equal(judge(r, counts([30, 0, 5], [30, 0, 5]), DEFAULT_THRESHOLDS, soon).decision, 'wait');
    assert.equal(judge(r, counts([30, 0, 5], [5, 0, 5]), DEFAULT_THRESHOLDS, later).decision, 'wait');
    assert.equal(judge(r, counts([30, 0, 5], [30, 0, 50]), DEFAULT_THRESHOLDS, later).decision, 'wait'); // p99 10×
    const ok = judge(r, counts([30, 0, 5], [30, 0, 6]), DEFAULT_THRESHOLDS, later);
    assert.equal(ok.decision, 'promote');
    assert.equal((ok as {figures: {candidate: {answers: number}}}).figures.candidate.answers, 30);
  });

  it('merges instances and reads percentiles from the histogram', () => {
    const a = counts([10, 1, 4], [0, 0, 0]);
    const b = counts([10, 0, 100], [0, 0, 0]);
    const m = figuresOf(mergeCounts([a, b]));
    assert.equal(m.stable.answers, 20);
    assert.equal(m.stable.failures_by_kind['decode'], 1);
    assert.ok(m.stable.p50_ms! >= 4 && m.stable.p50_ms! < 6);
    assert.ok(m.stable.p99_ms! >= 100);
    assert.equal(percentile(emptyCounts().stable.latency, 0.5), null);
  });
});
