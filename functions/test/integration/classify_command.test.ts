import {describe, it} from 'node:test';
import assert from 'node:assert/strict';
import {spawnSync} from 'node:child_process';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {MOBILENET, fixture} from '../helpers/fixtures.js';

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

  it('exits 64 on bad usage', () => {
    assert.equal(classify('--model', fixture(MOBILENET)).code, 64);
    assert.equal(classify('--model', fixture(MOBILENET), '--scale', '2,3', fixture('images/daisy.jpg')).code, 64);
    assert.equal(classify('--model', fixture(MOBILENET), '--engine', 'gpu', fixture('images/daisy.jpg')).code, 64);
  });
});
