/**
 * `npm run classify -- --model <file.h5 | gs://…> [--labels <file>] [--scale 0,1|-1,1|0,255|caffe|torch|mean=…;std=…]
 *                     [--engine auto|onnx|tfjs] [--top-k 5] [--json] [--save-onnx out.onnx] <image ...>`
 *
 * Tries a Keras .h5 model on images with exactly the code the functions run, and with
 * `--save-onnx` writes the ONNX model that ONNX Runtime runs for it (then the images are
 * optional). Exit codes: 0 the model loaded (even if some images failed), 2 the model cannot
 * be used, or has no ONNX translation to save (reason on stderr), 64 bad usage.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import {parseArgs} from 'node:util';
import {isPermanent, ModelUnusableError, UnsupportedLayerError} from '../functions/src/core/errors.js';
import type {Classifier} from '../functions/src/core/ports.js';
import {loadClassifier, type EngineChoice} from '../functions/src/model/loader.js';
import {NoOnnxTranslation} from '../functions/src/model/engines/onnx/builder.js';
import {exportOnnx} from '../functions/src/model/onnx_export.js';
import {parseLabels} from '../functions/src/model/labels.js';
import {parseScale, type Scale} from '../functions/src/core/scale.js';
import {jsonLogger} from '../functions/src/core/log.js';
import {glueValues, runMain} from './lib/cli.js';

const USAGE = `usage: npm run classify -- --model <file.h5|gs://bucket/x.h5> [--labels <file>] [--scale MODE] [--engine auto|onnx|tfjs] [--top-k 5] [--json] [--save-onnx out.onnx] <image ...>

  --model      Keras .h5 or .keras model (local path or gs:// URI)
  --labels     label file: one per line, TensorFlow's ImageNetLabels.txt, or Keras imagenet_class_index.json
  --scale      preprocessing: 0,1 (x/255, default), -1,1 or tf (x/127.5-1: MobileNet, Inception), 0,255 or
               raw (EfficientNet, ConvNeXt), caffe (BGR minus ImageNet means: ResNet, VGG), torch (DenseNet),
               or 'mean=a,b,c;std=d,e,f' on 0-255 pixels
  --engine     auto (default: ONNX Runtime, tfjs where a model needs it), onnx or tfjs (TFJS_BACKEND picks its backend)
  --top-k      how many classes to show (default 5)
  --json       one JSON object per image per line
  --save-onnx  write the ONNX model ONNX Runtime runs for --model (its input: the images as --scale
               preprocesses them, [N, H, W, C] float32); without images, only that`;

async function readSource(uri: string): Promise<Buffer> {
  const gs = /^gs:\/\/([^/]+)\/(.+)$/.exec(uri);
  if (!gs) return fs.readFile(uri);
  const {Storage} = await import('@google-cloud/storage');
  const [bytes] = await new Storage().bucket(gs[1]!).file(gs[2]!).download();
  return bytes;
}

/** `--save-onnx`: the translation written to `out`, said on stderr; 2 where there is none. */
async function saveOnnx(bytes: Buffer, source: string, out: string, scale: Scale): Promise<number> {
  try {
    const onnx = await exportOnnx(bytes, scale);
    await fs.writeFile(out, onnx.bytes);
    const {height, width, channels} = onnx.contract;
    console.error(
      `classify: wrote ${out} (${onnx.nodeCount} nodes, ${(onnx.bytes.length / 1e6).toFixed(1)} MB): input 'input' [N, ${height}, ${width}, ${channels}] float32, the images resized and scaled as '${scale}' (input_scale in its metadata)`
    );
    return 0;
  } catch (e) {
    const none = e instanceof NoOnnxTranslation || e instanceof UnsupportedLayerError;
    if (!none && !(e instanceof ModelUnusableError)) throw e;
    // Without a translation, classifyImage serves the model on tfjs where tfjs can run it.
    const why = none ? 'no ONNX translation' : `${e.name} (${e.kind})`;
    console.error(`classify: model ${source} cannot be saved as ONNX: ${why}: ${(e as Error).message}`);
    return 2;
  }
}

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({
      // `--scale -1,1` reads as an option to parseArgs: glue string options to their values.
      args: glueValues(process.argv.slice(2), ['--model', '--labels', '--scale', '--top-k', '--engine', '--save-onnx']),
      allowPositionals: true,
      options: {
        model: {type: 'string'},
        labels: {type: 'string'},
        scale: {type: 'string', default: '0,1'},
        engine: {type: 'string', default: process.env['INFERENCE_ENGINE'] ?? 'auto'},
        'top-k': {type: 'string', default: '5'},
        json: {type: 'boolean', default: false},
        'save-onnx': {type: 'string'},
        help: {type: 'boolean', short: 'h', default: false},
      },
    });
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 64;
  }
  const {values, positionals} = args;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const saveTo = values['save-onnx'];
  if (!values.model || (positionals.length === 0 && !saveTo)) {
    console.error(USAGE);
    return 64;
  }
  const topK = Number(values['top-k']);
  let scale;
  try {
    scale = parseScale(values.scale);
    if (!['auto', 'onnx', 'tfjs'].includes(values.engine))
      throw new Error(`--engine must be auto, onnx or tfjs, not '${values.engine}'`);
    if (!Number.isInteger(topK) || topK < 1)
      throw new Error(`--top-k must be a positive integer, not '${values['top-k']}'`);
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 64;
  }
  // Logs (the engine choice) go to stderr so that --json output stays clean.
  const logger = jsonLogger(line => process.stderr.write(line + '\n'));

  let bytes: Buffer;
  try {
    bytes = await readSource(values.model);
  } catch (e) {
    console.error(`classify: model ${values.model} cannot be used: cannot read the model: ${(e as Error).message}`);
    return 2;
  }
  if (saveTo) {
    const saved = await saveOnnx(bytes, values.model, saveTo, scale);
    if (saved !== 0 || positionals.length === 0) return saved;
  }

  let model: Classifier;
  try {
    const labels = values.labels ? parseLabels(await fs.readFile(values.labels, 'utf8'), values.labels) : null;
    model = await loadClassifier(bytes, {
      engine: values.engine as EngineChoice,
      tfjsBackend: process.env['TFJS_BACKEND'] ?? null,
      logger,
      name: path.basename(values.model).replace(/\.(h5|hdf5|keras)$/i, ''),
      labels,
      scale,
      ...(values.labels ? {labelsSource: values.labels} : {}),
    });
  } catch (e) {
    // Not a ModelUnusableError: the labels file could not be read, or the engine did not start.
    const why = e instanceof ModelUnusableError ? `${e.name} (${e.kind})` : 'cannot load it';
    console.error(`classify: model ${values.model} cannot be used: ${why}: ${(e as Error).message}`);
    return 2;
  }

  for (const image of positionals) {
    try {
      const r = await model.classify(await fs.readFile(image), topK);
      if (values.json) {
        const topk = r.top_k.map(t => ({label: t.label, score: t.score}));
        console.log(
          JSON.stringify({
            image,
            label: r.label,
            score: r.score,
            top_k: topk,
            model_name: model.name,
            engine: model.engine,
            backend: model.backend,
          })
        );
      } else {
        const rest = r.top_k
          .slice(1)
          .map(t => `${t.label} ${t.score.toFixed(3)}`)
          .join(', ');
        console.log(`${image}: ${r.label} ${r.score.toFixed(3)}${rest ? `  (${rest})` : ''}`);
      }
    } catch (e) {
      const kind = isPermanent(e) ? e.kind : (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'not_found' : 'error';
      const message = (e as Error).message.split('\n')[0] ?? String(e);
      if (values.json) console.log(JSON.stringify({image, error: {kind, message}}));
      else console.log(`${image}: error (${kind}): ${message}`);
    }
  }
  model.dispose();
  return 0;
}

runMain(main);
