/**
 * Uploads built to take an instance down are refused with their reason, in bounded memory
 * and time, and nothing is retried forever (each refusal is a permanent ModelUnusableError):
 *
 * - a few KB of gzip-filtered HDF5 whose datasets declare gigabytes (`.h5` and `.keras`):
 *   refused from the declared shapes before a byte is inflated (MAX_MODEL_PARAMS);
 * - a model that loads but is broken: NaN on the gate's probe images, or the same output for
 *   all of them (a constant): refused by the promotion gate;
 * - a config nested 200 000 levels deep: refused from the text before JSON.parse.
 *
 * Peak RSS is measured in a child process per bomb (`process.resourceUsage().maxRSS`, which
 * covers native memory): it stays under 400 MB, the whole engine loaded included.
 */
import assert from 'node:assert/strict';
import {spawnSync} from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {describe, it} from 'node:test';
import {zipSync, strToU8} from 'fflate';
import {buildRecord} from '../../../../src/core/model_record.js';
import {localFiles} from '../../../../src/adapters/local_files.js';
import {validateModel} from '../../../../src/model/loader.js';
import {writeKerasModel} from '../../../../../scripts/lib/keras_writer.js';
import {MemoryObjectStore} from '../../../helpers/fakes.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../..');
/** The stated bound on peak RSS while a bomb is refused (engine and h5wasm loaded). */
const RSS_BOUND_MB = 400;

const DENSE_MODEL = {
  class_name: 'Sequential',
  config: {
    name: 'bomb',
    layers: [
      {class_name: 'InputLayer', config: {name: 'image', batch_shape: [null, 2, 2, 3]}},
      {class_name: 'Flatten', config: {name: 'flat'}},
      {class_name: 'Dense', config: {name: 'dense', units: 3, activation: 'softmax', use_bias: true}},
    ],
  },
};

/** An HDF5 file whose one dataset is 4 values written, then resized to [50000, 50000] (10 GB declared). */
async function inflatingH5(
  dataset: string,
  write: (file: import('h5wasm').File) => import('h5wasm').Group
): Promise<Uint8Array> {
  const h5 = await import('h5wasm');
  await h5.ready;
  const name = `/bomb-${process.pid}-${Math.random()}.h5`;
  const file = new h5.File(name, 'w');
  const group = write(file);
  const ds = group.create_dataset({
    name: dataset,
    data: new Float32Array(4),
    shape: [2, 2],
    maxshape: [null, null],
    chunks: [1000, 1000],
    dtype: '<f',
    compression: 9,
  } as unknown as Parameters<typeof group.create_dataset>[0]);
  (ds as unknown as {resize(shape: number[]): void}).resize([50_000, 50_000]);
  file.close();
  const bytes = h5.FS!.readFile(name) as Uint8Array;
  h5.FS!.unlink(name);
  return bytes;
}

function legacyBomb(): Promise<Uint8Array> {
  return inflatingH5('kernel:0', file => {
    file.create_attribute('model_config', JSON.stringify(DENSE_MODEL));
    file.create_attribute('keras_version', '2.13.1');
    const weights = file.create_group('model_weights');
    weights.create_attribute('layer_names', ['dense']);
    const layer = weights.create_group('dense');
    layer.create_attribute('weight_names', ['dense/kernel:0']);
    return layer.create_group('dense');
  });
}

async function archiveBomb(): Promise<Uint8Array> {
  // Keras 3's layout: the Dense layer's first variable is layers/dense/vars/0.
  const weights = await inflatingH5('0', file =>
    file.create_group('layers').create_group('dense').create_group('vars')
  );
  return zipSync({
    'config.json': strToU8(JSON.stringify(DENSE_MODEL)),
    'metadata.json': strToU8(JSON.stringify({keras_version: '3.9.1'})),
    'model.weights.h5': weights,
  });
}

async function deepConfig(): Promise<Uint8Array> {
  const depth = 200_000;
  const config = `{"class_name": "Sequential", "config": {"name": "deep", "layers": ${'['.repeat(depth)}${']'.repeat(depth)}}}`;
  const h5 = await import('h5wasm');
  await h5.ready;
  const name = `/deep-${process.pid}.h5`;
  const file = new h5.File(name, 'w');
  file.create_attribute('model_config', config);
  file.create_attribute('keras_version', '2.13.1');
  file.create_group('model_weights').create_attribute('layer_names', ['x']);
  file.close();
  const bytes = h5.FS!.readFile(name) as Uint8Array;
  h5.FS!.unlink(name);
  return bytes;
}

/** Loads `bytes` in a fresh process; returns the refusal and the process's peak RSS. */
function refuseInChild(bytes: Uint8Array): {kind: string; message: string; maxRssMb: number; ms: number} {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bomb-'));
  const file = path.join(dir, 'model');
  fs.writeFileSync(file, bytes);
  const script = path.join(dir, 'load.mts');
  fs.writeFileSync(
    script,
    `import fs from 'node:fs';
import {loadClassifier} from ${JSON.stringify(path.join(ROOT, 'functions/src/model/loader.ts'))};
const t = performance.now();
let out;
try { await loadClassifier(fs.readFileSync(${JSON.stringify(file)})); out = {kind: 'loaded', message: ''}; }
catch (e) { out = {kind: e.kind ?? e.constructor.name, message: e.message}; }
console.log(JSON.stringify({...out, ms: performance.now() - t, maxRssMb: process.resourceUsage().maxRSS / 1024}));
process.exit(0);`
  );
  const run = spawnSync(process.execPath, ['--import', 'tsx', script], {cwd: ROOT, encoding: 'utf8', timeout: 120_000});
  fs.rmSync(dir, {recursive: true, force: true});
  const line = run.stdout.trim().split('\n').at(-1) ?? '';
  assert.ok(line.startsWith('{'), `child said: ${run.stdout}\n${run.stderr}`);
  return JSON.parse(line) as {kind: string; message: string; maxRssMb: number; ms: number};
}

describe('model bombs', () => {
  it('a gzip-filtered .h5 declaring 10 GB is refused from its shapes, in bounded memory', async t => {
    const bytes = await legacyBomb();
    assert.ok(bytes.length < 64 * 1024, `${bytes.length} bytes`);
    const r = refuseInChild(bytes);
    assert.equal(r.kind, 'model_too_large', r.message);
    assert.match(r.message, /declares 2500000000 values \(shape \[50000, 50000\]\).*MAX_MODEL_PARAMS \(100000000\)/);
    t.diagnostic(`refused in ${Math.round(r.ms)} ms; peak RSS ${Math.round(r.maxRssMb)} MB (bound ${RSS_BOUND_MB} MB)`);
    assert.ok(r.maxRssMb < RSS_BOUND_MB, `peak RSS ${r.maxRssMb} MB`);
  });

  it('the same inside a .keras archive', async t => {
    const r = refuseInChild(await archiveBomb());
    assert.equal(r.kind, 'model_too_large', r.message);
    t.diagnostic(`refused in ${Math.round(r.ms)} ms; peak RSS ${Math.round(r.maxRssMb)} MB (bound ${RSS_BOUND_MB} MB)`);
    assert.ok(r.maxRssMb < RSS_BOUND_MB, `peak RSS ${r.maxRssMb} MB`);
  });

  it('a config nested 200 000 levels deep is refused from the text, fast and in bounded memory', async t => {
    const r = refuseInChild(await deepConfig());
    assert.equal(r.kind, 'invalid_config', r.message);
    assert.match(r.message, /model_config nests 200002 levels deep, over 100/);
    assert.ok(r.ms < 2000, `${r.ms} ms`);
    t.diagnostic(`refused in ${Math.round(r.ms)} ms; peak RSS ${Math.round(r.maxRssMb)} MB (bound ${RSS_BOUND_MB} MB)`);
    assert.ok(r.maxRssMb < RSS_BOUND_MB, `peak RSS ${r.maxRssMb} MB`);
  });

  const gate = async (
    layers: unknown[],
    weights: Record<string, Array<{name: string; shape: number[]; values: number[]}>>
  ) => {
    const bytes = Buffer.from(
      await writeKerasModel(
        {
          config: {
            class_name: 'Sequential',
            config: {
              name: 'broken',
              layers: [{class_name: 'InputLayer', config: {name: 'image', batch_shape: [null, 2, 2, 3]}}, ...layers],
            },
          },
          weights,
        },
        'h5'
      )
    );
    const objects = new MemoryObjectStore();
    objects.put('m', 'broken.h5', bytes, '1');
    const record = buildRecord({bucket: 'm', name: 'broken.h5', generation: '1', size: bytes.length}, 'e', {
      scale: '0,1',
      labels: null,
    });
    return validateModel(record, {objects, files: localFiles(), maxModelBytes: 1 << 20});
  };
  const dense = {class_name: 'Dense', config: {name: 'dense', units: 3, activation: 'softmax', use_bias: true}};

  it('the gate refuses a model that outputs NaN on its probe images (though its warm-up is finite)', async () => {
    // (x - 0.5) / 1e-7, six times: 0 for the flat 0.5 warm-up, Infinity for anything else.
    const blowUp = Array.from({length: 6}, (_, i) => ({
      class_name: 'Normalization',
      config: {name: `n${i}`, axis: -1, mean: i === 0 ? [0.5, 0.5, 0.5] : [0, 0, 0], variance: [0, 0, 0]},
    }));
    await assert.rejects(
      gate([...blowUp, {class_name: 'Flatten', config: {name: 'flat'}}, dense], {
        dense: [
          {name: 'kernel', shape: [12, 3], values: Array.from({length: 36}, (_, i) => (i % 3) - 1)},
          {name: 'bias', shape: [3], values: [0, 0, 0]},
        ],
      }),
      {kind: 'not_a_classifier', message: /probe image produced NaN or Infinity/}
    );
  });

  it('the gate refuses a constant model (all-zero weights)', async () => {
    await assert.rejects(
      gate([{class_name: 'Flatten', config: {name: 'flat'}}, dense], {
        dense: [
          {name: 'kernel', shape: [12, 3], values: new Array(36).fill(0)},
          {name: 'bias', shape: [3], values: [0.1, 0.2, 0.3]},
        ],
      }),
      {kind: 'not_a_classifier', message: /same output for a flat, a ramp and a noise image/}
    );
  });
});
