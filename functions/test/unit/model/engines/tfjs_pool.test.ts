/** The inference pool on real worker threads, the real MobileNet and real photos. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {after, before, describe, it} from 'node:test';
import {
  EngineUnavailableError,
  isPermanent,
  ModelUnusableError,
  UnsupportedLayerError,
} from '../../../../src/core/errors.js';
import type {Classifier} from '../../../../src/core/ports.js';
import {availableCores} from '../../../../src/model/engines/cores.js';
import {InferencePool} from '../../../../src/model/engines/tfjs/pool.js';
import {poolSize} from '../../../../src/model/engines/tfjs/runner.js';
import {loadClassifier, type LoadOptions} from '../../../../src/model/loader.js';
import {preprocessImage} from '../../../../src/model/preprocess.js';
import {MOBILENET, fixtureBytes} from '../../../helpers/fixtures.js';
import {backend, kerasLabels, loadMobileNet, tfIdfModel} from '../../../helpers/models.js';

describe('poolSize', () => {
  const table: Array<[number | 'auto', string, number, number]> = [
    ['auto', 'wasm', 2, 2],
    ['auto', 'cpu', 8, 8],
    ['auto', 'tensorflow', 8, 0], // tfjs-node is multithreaded itself
    ['auto', 'wasm', 1, 0], // one core: the request thread is enough
    [3, 'tensorflow', 8, 3],
    [0, 'wasm', 8, 0],
  ];
  for (const [setting, name, cores, want] of table)
    it(`${setting} on ${name} with ${cores} cores → ${want}`, () => assert.equal(poolSize(setting, name, cores), want));
});

describe('availableCores', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cpu-quota-'));
  after(() => fs.rmSync(dir, {recursive: true, force: true}));
  const quota = (text: string) => {
    const file = path.join(dir, `cpu.max-${Math.random()}`);
    fs.writeFileSync(file, text);
    return file;
  };
  it('is bounded by a cgroup v2 quota (a 1-vCPU container on a bigger host)', () =>
    assert.equal(availableCores(quota('100000 100000\n')), 1));
  it('rounds a fractional quota up', () =>
    assert.equal(availableCores(quota('150000 100000')), Math.min(2, os.availableParallelism())));
  it('is the CPU count without a quota', () => {
    assert.equal(availableCores(quota('max 100000')), os.availableParallelism());
    assert.equal(availableCores('/nonexistent/cpu.max'), os.availableParallelism());
  });
});

describe('InferencePool (2 workers)', () => {
  let pool: InferencePool;
  let poolBackend: 'cpu' | 'wasm';
  let model: Classifier;
  const poolLoad = (bytes: Uint8Array, options: LoadOptions) =>
    loadClassifier(bytes, {...options, engine: 'tfjs', tfjs: (graph, contract) => pool.load(graph, contract)});
  const photos = ['daisy.jpg', 'tiger.jpeg', 'coffee_mug.jpg', 'cat_tabby.jpg'];
  let inputs: Float32Array[];

  before(async () => {
    const name = await backend();
    poolBackend = name === 'tensorflow' ? 'cpu' : (name as 'wasm');
    pool = await InferencePool.start({size: 2, backend: poolBackend, maxBatch: 8});
    model = await poolLoad(fixtureBytes(MOBILENET), {name: 'mobilenet_v1', scale: '-1,1', labels: kerasLabels()});
    inputs = await Promise.all(photos.map(async p => await preprocessImage(fixtureBytes(`images/${p}`), model.input)));
  });
  after(() => pool.close());

  it('gives the same classes and scores as the model in this thread', async () => {
    const here = await loadMobileNet({engine: 'tfjs'});
    try {
      const [pooled, local] = await Promise.all([model.classifyPixels(inputs, 3), here.classifyPixels(inputs, 3)]);
      assert.deepEqual(
        pooled.map(r => r.label),
        ['daisy', 'tiger', 'coffee_mug', 'tabby']
      );
      pooled.forEach((r, i) => assert.ok(Math.abs(r.score - local[i]!.score) < 1e-5, photos[i]));
      assert.equal(model.outputWidth, 1000);
      assert.deepEqual(model.input, here.input);
    } finally {
      here.dispose();
    }
  });

  it('batches concurrent requests for the same model on free workers', async () => {
    const before = {...pool.stats};
    const results = await Promise.all(Array.from({length: 32}, (_, i) => model.classifyPixels([inputs[i % 4]!], 1)));
    assert.deepEqual(
      results.slice(0, 4).map(r => r[0]!.label),
      ['daisy', 'tiger', 'coffee_mug', 'tabby']
    );
    const batches = pool.stats.batches - before.batches;
    assert.equal(pool.stats.requests - before.requests, 32);
    assert.ok(batches < 32 && batches >= 4, `${batches} predicts for 32 requests`);
  });

  it('loads a new model into one worker first, while the other keeps serving, then into both', async () => {
    const answering = Promise.all(Array.from({length: 6}, () => model.classifyPixels([inputs[0]!], 1)));
    // Counted the moment the pool calls it ready: the loader's warm-up prediction that follows
    // gives the other worker time to finish its own load (a local run saw 2 here once it did).
    let workersAtReady: number | undefined;
    const second = await loadClassifier(fixtureBytes(MOBILENET), {
      scale: '-1,1',
      labels: kerasLabels(),
      engine: 'tfjs',
      tfjs: async (graph, contract) => {
        const loaded = await pool.load(graph, contract);
        workersAtReady = pool.workerCounts().at(-1);
        return loaded;
      },
    });
    assert.equal(workersAtReady, 1, 'ready as soon as one worker has it');
    assert.equal((await second.classifyPixels([inputs[1]!], 5))[0]!.label, 'tiger');
    assert.ok((await answering).every(r => r[0]!.label === 'daisy'));
    const deadline = Date.now() + 10_000;
    while (pool.workerCounts().at(-1)! < 2 && Date.now() < deadline) await new Promise(r => setTimeout(r, 10));
    assert.deepEqual(pool.workerCounts(), [2, 2]);
    second.dispose();
    assert.deepEqual(pool.workerCounts(), [2]);
  });

  it('rejects an unusable model with its kind, and keeps serving the loaded one', async () => {
    await assert.rejects(
      poolLoad(fixtureBytes('models/unsupported-layers/model_lambda.h5'), {}),
      (e: Error) => e instanceof ModelUnusableError && e.kind === 'unsupported_layer' && /Lambda/.test(e.message)
    );
    assert.equal((await model.classifyPixels([inputs[0]!], 5))[0]!.label, 'daisy');
  });

  it('refuses for good a model the workers build but cannot run (CategoryEncoding tf_idf), and keeps serving', async () => {
    await assert.rejects(poolLoad(await tfIdfModel(), {}), (e: unknown) => {
      assert.ok(e instanceof UnsupportedLayerError, String(e));
      assert.match((e as Error).message, /^tfjs \(\w+\) cannot run this model: .*weights must be provided/);
      return true;
    });
    assert.equal((await model.classifyPixels([inputs[0]!], 5))[0]!.label, 'daisy');
  });

  it(
    'a warm-up the pool cannot run (closed meanwhile) is transient: the engine failed, not the model',
    {timeout: 60_000},
    async () => {
      const other = await InferencePool.start({size: 1, backend: poolBackend, maxBatch: 1});
      const load = loadClassifier(fixtureBytes(MOBILENET), {
        scale: '-1,1',
        engine: 'tfjs',
        tfjs: async (graph, contract) => {
          const loaded = await other.load(graph, contract);
          await other.close();
          return loaded;
        },
      });
      await assert.rejects(load, (e: unknown) => {
        assert.ok(e instanceof EngineUnavailableError, String(e));
        assert.ok(!isPermanent(e));
        assert.match((e as Error).message, /inference pool closed/);
        return true;
      });
    }
  );

  it('frees a disposed model in every worker (no tensors left)', async () => {
    const baseline = await pool.memory();
    const second = await poolLoad(fixtureBytes(MOBILENET), {scale: '-1,1'});
    await second.classifyPixels([inputs[1]!], 5);
    second.dispose();
    await assert.rejects(second.classifyPixels([inputs[1]!], 5), /disposed/);
    assert.deepEqual(
      (await pool.memory()).map(m => m.numTensors),
      baseline.map(m => m.numTensors)
    );
  });

  it('replaces a worker that dies, with the live models loaded again', async () => {
    const victim = (pool as unknown as {handles: Array<{thread: {terminate(): Promise<number>}}>}).handles[0]!;
    await victim.thread.terminate();
    const results = await Promise.all(Array.from({length: 8}, () => model.classifyPixels([inputs[2]!], 1)));
    assert.ok(results.every(r => r[0]!.label === 'coffee_mug'));
    assert.equal(pool.stats.restarts, 1);
    assert.equal(pool.size, 2);
  });
});
