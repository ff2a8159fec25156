/**
 * The ONNX Runtime session options an instance gets: threads and spinning by default and
 * as configured (INFERENCE_THREADS, ORT_SPIN), and what the engine's log line says of them.
 */
import assert from 'node:assert/strict';
import {describe, it} from 'node:test';
import {availableCores, cpuQuota} from '../../../../src/model/engines/cores.js';
import {defaultThreads, sessionOptions, spins} from '../../../../src/model/engines/onnx/session.js';

const spinning = (o: ReturnType<typeof sessionOptions>) =>
  (o.extra as {session: {intra_op: {allow_spinning: string}}}).session.intra_op.allow_spinning;

describe('ONNX Runtime session options', () => {
  it('by default: every core the instance has, without spinning', () => {
    const o = sessionOptions();
    assert.equal(o.intraOpNumThreads, availableCores());
    assert.equal(spinning(o), '0');
    assert.equal(o.graphOptimizationLevel, 'all');
    assert.deepEqual(o.executionProviders, ['cpu']);
  });

  it('INFERENCE_THREADS=auto follows the cgroup quota, rounded up, at least one', () => {
    assert.equal(defaultThreads(1), 1);
    assert.equal(defaultThreads(4), 4);
    assert.equal(sessionOptions({threads: 'auto'}).intraOpNumThreads, availableCores());
    assert.equal(sessionOptions({threads: 3}).intraOpNumThreads, 3);
  });

  it('ORT_SPIN: on and off force it; auto spins except under a fractional vCPU quota', () => {
    assert.equal(spinning(sessionOptions({spin: 'on'})), '1');
    assert.equal(spinning(sessionOptions({spin: 'off'})), '0');
    assert.equal(spinning(sessionOptions({spin: 'auto'})), Number.isInteger(cpuQuota()) ? '1' : '0');
  });

  it('the engine log line’s `spinning` (spins) says what the session is given', () => {
    for (const spin of [undefined, 'on', 'off', 'auto'] as const) {
      assert.equal(spins({spin}), spinning(sessionOptions({spin})) === '1', String(spin));
    }
  });
});
