import {describe, it} from 'node:test';
import assert from 'node:assert/strict';
import {spawnSync} from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import {parseScale} from '../../src/core/scale.js';
import {preprocessImage} from '../../src/model/preprocess.js';
import {MOBILENET, fixture, fixtureBytes} from '../helpers/fixtures.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** The command's own default engine is under test: INFERENCE_ENGINE (the suite's engine) is not passed on. */
function classify(...args: string[]): {code: number | null; lines: Array<Record<string, unknown>>; stderr: string} {
  const env = {...process.env};
  delete env['INFERENCE_ENGINE'];
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/classify.ts', ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 120_000,
    env,
  });
  const lines = run.stdout
    .split('\n')
    .filter(l => l.startsWith('{'))
    .map(l => JSON.parse(l) as Record<string, unknown>);
  return {code: run.status, lines, stderr: run.stderr};
}

/** The shared MobileNet with its real contract: Keras labels, inputs in [-1, 1]. */
const MOBILENET_ARGS = () => [
  '--model',
  fixture(MOBILENET),
  '--labels',
  fixture('labels/imagenet_class_index.json'),
  '--scale',
  '-1,1',
];

describe('npm run classify', () => {
  it('prints one JSON line per image, errors included, and exits 0', () => {
    const out = classify(
      ...MOBILENET_ARGS(),
      '--top-k',
      '3',
      '--json',
      fixture('images/daisy.jpg'),
      fixture('images/tiger.jpeg'),
      fixture('bad-images/truncated.jpg')
    );
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.lines.length, 3);
    const [daisy, tiger, broken] = out.lines;
    assert.equal(daisy!['label'], 'daisy');
    assert.equal(tiger!['label'], 'tiger');
    assert.deepEqual(Object.keys(daisy!).sort(), [
      'backend',
      'engine',
      'image',
      'label',
      'model_name',
      'score',
      'top_k',
    ]);
    assert.deepEqual([daisy!['engine'], daisy!['backend']], ['onnx', 'onnxruntime-cpu']);
    assert.equal((daisy!['top_k'] as unknown[]).length, 3);
    assert.equal((broken!['error'] as {kind: string}).kind, 'decode');
    assert.match(out.stderr, /inference engine: onnx/);
  });

  it('--engine tfjs runs the same model on TensorFlow.js, with the same answer', () => {
    const out = classify(...MOBILENET_ARGS(), '--engine', 'tfjs', '--json', fixture('images/daisy.jpg'));
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.lines[0]!['engine'], 'tfjs');
    assert.match(String(out.lines[0]!['backend']), /^(tensorflow|wasm|cpu)$/);
    assert.equal(out.lines[0]!['label'], 'daisy');
    assert.match(out.stderr, /inference engine: tfjs \(TensorFlow\.js backend (tensorflow|wasm|cpu)\)/);
  });

  it('exits 2 with the reason on stderr when the model cannot be used', () => {
    const out = classify('--model', fixture('models/not-hdf5/qkeras-v3_3layer.keras'), fixture('images/daisy.jpg'));
    assert.equal(out.code, 2);
    assert.match(out.stderr, /unsupported layers: QDense 'fc1'.*custom layer from qkeras/);
    assert.equal(out.lines.length, 0);
  });

  it('exits 2 when the labels do not fit the model', () => {
    const out = classify(
      '--model',
      fixture(MOBILENET),
      '--labels',
      fixture('labels/wild/ImageNetLabels.crlf-with-Footer.txt'),
      fixture('images/daisy.jpg')
    );
    assert.equal(out.code, 2);
    assert.match(out.stderr, /1002 labels but the model has 1000 outputs/);
  });

  it('--save-onnx writes the model ONNX Runtime runs: run on its own, it gives the same answer', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'save-onnx-'));
    try {
      const file = path.join(dir, 'mobilenet.onnx');
      const out = classify(...MOBILENET_ARGS(), '--save-onnx', file, '--json', fixture('images/daisy.jpg'));
      assert.equal(out.code, 0, out.stderr);
      assert.match(
        out.stderr,
        /wrote .*mobilenet\.onnx \(\d+ nodes, 1\.9 MB\): input 'input' \[N, 224, 224, 3\] float32/
      );
      const daisy = out.lines[0]!;
      assert.equal(daisy['label'], 'daisy');

      // Outside the project's loader: ONNX Runtime on the file, fed the photo as preprocessing gives it.
      const session = await ort.InferenceSession.create(fs.readFileSync(file));
      try {
        assert.deepEqual(session.inputNames, ['input']);
        const contract = {height: 224, width: 224, channels: 3, layout: 'nhwc' as const, scale: parseScale('-1,1')};
        const pixels = await preprocessImage(fixtureBytes('images/daisy.jpg'), contract);
        const result = await session.run({input: new ort.Tensor('float32', pixels, [1, 224, 224, 3])});
        const probabilities = Array.from(result[session.outputNames[0]!]!.data as Float32Array);
        assert.equal(probabilities.length, 1000);
        const top = probabilities.map((p, i) => [p, i] as const).sort((a, b) => b[0] - a[0]);
        const topK = daisy['top_k'] as Array<{score: number}>;
        topK.forEach((t, k) => assert.ok(Math.abs(t.score - top[k]![0]) < 1e-6, `rank ${k}`));
        assert.equal(top[0]![1], 985); // ImageNet's "daisy"
      } finally {
        await session.release();
      }

      // The file says what its input is, for whoever opens it without this project.
      const proto = onnxProto.onnx.ModelProto.decode(fs.readFileSync(file));
      assert.deepEqual(Object.fromEntries(proto.metadataProps.map(p => [p.key, p.value])), {
        input_layout: 'NHWC',
        input_size: '224x224x3',
        input_scale: '-1,1',
      });
      assert.match(proto.docString, /\[N, 224, 224, 3\] float32, each image decoded to RGB, resized to 224x224/);

      // Without images: the file, and nothing else.
      fs.rmSync(file);
      const only = classify('--model', fixture(MOBILENET), '--scale', '-1,1', '--save-onnx', file);
      assert.equal(only.code, 0, only.stderr);
      assert.equal(only.lines.length, 0);
      assert.ok(fs.statSync(file).size > 1_800_000);
    } finally {
      fs.rmSync(dir, {recursive: true, force: true});
    }
  });

  it('--save-onnx exits 2 for a model it cannot save, with the reason', () => {
    const out = classify('--model', fixture('models/not-hdf5/qkeras-v3_3layer.keras'), '--save-onnx', '/dev/null');
    assert.equal(out.code, 2);
    assert.match(out.stderr, /cannot be saved as ONNX: .*QDense 'fc1'/);
  });

  it('exits 64 on bad usage', () => {
    assert.equal(classify('--model', fixture(MOBILENET)).code, 64);
    assert.equal(classify('--model', fixture(MOBILENET), '--scale', '2,3', fixture('images/daisy.jpg')).code, 64);
    assert.equal(classify('--model', fixture(MOBILENET), '--engine', 'gpu', fixture('images/daisy.jpg')).code, 64);
  });
});
