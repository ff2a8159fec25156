/**
 * The ONNX Runtime session options an instance gets: threads and spinning by default and
 * as configured (INFERENCE_THREADS, ORT_SPIN), and what the engine's log line says of them;
 * and a graph ONNX Runtime will not load.
 */
import assert from 'node:assert/strict';
import {describe, it} from 'node:test';
import * as tf from '@tensorflow/tfjs';
import {inputContractFromShape} from '../../../../src/model/contract.js';
import {NoOnnxTranslation} from '../../../../src/model/engines/onnx/builder.js';
import {createOnnxModel} from '../../../../src/model/engines/onnx/session.js';
import {readKerasH5} from '../../../../src/model/keras/h5_reader.js';
import {graphOf} from '../../../../src/model/loader.js';
import {writeKerasH5} from '../../../../../scripts/lib/keras_writer.js';
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

describe('createOnnxModel', () => {
  it('a translated graph ONNX Runtime will not load is this translation’s limit (NoOnnxTranslation: tfjs gets the model), naming why', async () => {
    const x = tf.input({shape: [2, 2, 1]});
    const y = tf.layers.dense({units: 3, activation: 'softmax', name: 'head'}).apply(tf.layers.flatten({}).apply(x));
    const model = tf.model({inputs: x, outputs: y as tf.SymbolicTensor});
    const graph = graphOf(await readKerasH5(Buffer.from(await writeKerasH5(model))), () => true);
    model.dispose();
    // A kernel of the right shape holding 15 values where it needs 12: ORT refuses the initializer.
    const head = graph.layers.find(l => l.name === 'head')!;
    const kernel = head.weights[0]!;
    (head.weights as Array<typeof kernel>)[0] = {...kernel, values: new Float32Array(15).fill(0.1)};
    await assert.rejects(
      createOnnxModel(graph, inputContractFromShape([null, 2, 2, 1], '0,1'), {threads: 1}),
      (e: unknown) => {
        assert.ok(e instanceof NoOnnxTranslation, String(e));
        assert.match((e as Error).message, /^ONNX Runtime refused the translated graph: .*head/);
        return true;
      }
    );
  });
});
