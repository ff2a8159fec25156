/**
 * `npm run bench [-- --quick] [-- --out bench/latest.json]`
 *
 * Model-layer figures for the shared MobileNet v1 0.25 on the backend in use: `.h5` read
 * time (against a plain read of the same bytes), build and first-predict (warm-up) time,
 * median predict latency at batch 1 and 8, and sharp preprocessing time per photo.
 * Prints a table and writes JSON. Targets are reported, never asserted.
 */
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import {parseArgs} from 'node:util';
import {fileURLToPath} from 'node:url';
import * as tf from '@tensorflow/tfjs';
import {initBackend, parseBackendName} from '../functions/src/model/backend.js';
import {readKerasH5} from '../functions/src/model/h5_reader.js';
import {loadKerasModel} from '../functions/src/model/keras_model.js';
import {parseLabels} from '../functions/src/model/labels.js';
import {preprocessImage} from '../functions/src/model/preprocess.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function timeIt(n: number, fn: () => Promise<unknown> | unknown): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    out.push(performance.now() - t);
  }
  return out;
}

async function main(): Promise<void> {
  const {values} = parseArgs({
    options: {
      quick: {type: 'boolean', default: false},
      out: {type: 'string', default: path.join(root, 'bench/latest.json')},
    },
  });
  const reps = values.quick ? 10 : 50;
  const fixtures = process.env['FIXTURES_DIR'] ?? path.resolve(root, '../shared/fixtures');
  const modelPath = path.join(fixtures, 'models/keras2/mobilenet_v1_0.25_224_imagenet.h5');
  const forced = parseBackendName(process.env['TFJS_BACKEND']);
  const backend = await initBackend(forced ? {forced} : {});

  const bytes = fs.readFileSync(modelPath);
  const mb = bytes.length / 1e6;
  const plainRead = median(await timeIt(reps, () => fs.readFileSync(modelPath)));
  const h5Read = median(await timeIt(reps, () => readKerasH5(bytes)));

  const labels = parseLabels(fs.readFileSync(path.join(fixtures, 'labels/imagenet_class_index.json'), 'utf8'));
  const model = await loadKerasModel(bytes, {name: 'mobilenet_v1_0.25', labels, scale: '-1,1'});
  const images = fs
    .readdirSync(path.join(fixtures, 'images'))
    .map(f => fs.readFileSync(path.join(fixtures, 'images', f)));
  const pre: Float32Array[] = [];
  const preTimes: number[] = [];
  for (const img of images) {
    const t = performance.now();
    pre.push((await preprocessImage(img, model.input)).data);
    preTimes.push(performance.now() - t);
  }
  const batch1 = await timeIt(reps, () => model.classifyBatch([pre[0]!]));
  const batch8 = await timeIt(Math.max(3, reps / 5), () => model.classifyBatch(pre.slice(0, 8)));
  const result = {
    date: new Date().toISOString(),
    machine: {cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? 'unknown', node: process.version},
    backend: backend.name,
    quick: values.quick,
    model: {file: path.basename(modelPath), megabytes: mb, params: model.paramCount},
    h5_read: {median_ms: h5Read, plain_read_ms: plainRead, seconds_per_mb: h5Read / 1000 / mb},
    load: {read_ms: model.timings.read_ms, build_ms: model.timings.build_ms, warmup_ms: model.timings.warmup_ms},
    predict: {
      batch1_median_ms: median(batch1),
      batch8_median_ms: median(batch8),
      batch1_images_per_s: 1000 / median(batch1),
      batch8_images_per_s: 8000 / median(batch8),
    },
    preprocess: {median_ms_per_photo: median(preTimes), photos: images.length},
    tensors_after: tf.memory().numTensors,
  };
  const rows: Array<[string, string]> = [
    ['backend', result.backend],
    ['.h5 read (h5wasm) ms', h5Read.toFixed(1)],
    ['plain read of the same bytes ms', plainRead.toFixed(2)],
    ['.h5 read s/MB', result.h5_read.seconds_per_mb.toFixed(4)],
    ['build ms', model.timings.build_ms.toFixed(1)],
    ['first predict (warm-up) ms', model.timings.warmup_ms.toFixed(1)],
    ['predict batch 1 median ms', median(batch1).toFixed(1)],
    ['predict batch 8 median ms', median(batch8).toFixed(1)],
    [
      'images/s batch 1 | batch 8',
      `${result.predict.batch1_images_per_s.toFixed(1)} | ${result.predict.batch8_images_per_s.toFixed(1)}`,
    ],
    ['preprocess median ms/photo', median(preTimes).toFixed(1)],
  ];
  const width = Math.max(...rows.map(r => r[0].length));
  console.log(`\nbench: ${result.model.file} (${mb.toFixed(2)} MB), ${reps} reps${values.quick ? ' (quick)' : ''}`);
  for (const [k, v] of rows) console.log(`  ${k.padEnd(width)}  ${v}`);
  fs.mkdirSync(path.dirname(values.out), {recursive: true});
  fs.writeFileSync(values.out, JSON.stringify(result, null, 2) + '\n');
  console.log(`\nwrote ${path.relative(process.cwd(), values.out)}`);
  model.dispose();
}

main().catch(e => {
  console.error(e);
  process.exit(1);
});
