/**
 * `npm run demo`: the whole story, non-interactively, on the local stack, then exit.
 *
 * Its model and photos, in this order: `--model x.h5 --images dir/` (with `--labels` and
 * `--scale`); else `FIXTURES_DIR` (the shared test fixtures; the tests set it); else a
 * real ImageNet MobileNet, its labels and four photos downloaded once into .local/cache
 * with pinned SHA-256s (scripts/lib/assets.ts). Offline and without arguments it says
 * exactly what to pass.
 *
 * 1. Upload the model as v1 (its scale and labels as object metadata).
 * 2. Publish the photos; wait for one result per message.
 * 3. Upload the same weights under a new name as v2; wait until recordModel records it.
 * 4. Publish the photos again; wait; print the table of predictions showing the switch.
 *
 * The last line is one JSON object: {published, predicted, failed, models_seen,
 * switch_observed, stale_after_switch, seconds}. Exit 0 only when every published message
 * has exactly one result document and the switch was observed. `stale_after_switch`
 * counts old-model predictions that started after the first new-model prediction: the
 * old model keeps serving while the new one loads, so the first message after the roll
 * may name v1 (its document says `stale_model: true`). Function logs go to
 * .local/demo-functions.log.
 */
import fs from 'node:fs';
import path from 'node:path';
import {parseArgs} from 'node:util';
import {Firestore} from '@google-cloud/firestore';
import {PubSub} from '@google-cloud/pubsub';
import {Storage} from '@google-cloud/storage';
import {DEMO_LABELS, DEMO_MODEL, DEMO_PHOTOS, DownloadError, fetchAsset} from './lib/assets.js';
import {MissingEmulatorError} from './lib/emulators.js';
import {ROOT, startStack, type Stack} from './lib/stack.js';
import {glueValues, runMain} from './lib/cli.js';
import {predictionId} from '../functions/src/core/prediction_id.js';

const USAGE = `usage: npm run demo [-- --model x.h5 --images DIR [--labels FILE] [--scale -1,1]] [-- --timeout SECONDS]
Starts the local stack, rolls model v1 → v2 while classifying photos, prints a table, stops.
Without --model: FIXTURES_DIR if set, else a MobileNet and four photos downloaded once into .local/cache.`;

/** What the demo runs on. */
interface DemoInputs {
  readonly model: string;
  readonly labels: string | null;
  readonly scale: string;
  readonly images: string[];
  readonly source: string;
}

const IMAGE_FILE = /\.(jpe?g|png|webp|gif|tiff?|avif)$/i;

function imagesIn(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter(f => IMAGE_FILE.test(f))
    .sort()
    .map(f => path.join(dir, f));
}

/** Arguments, else FIXTURES_DIR, else the pinned downloads (see the module comment). */
async function inputs(values: {model?: string; images?: string; labels?: string; scale: string}): Promise<DemoInputs> {
  if (values.model || values.images) {
    if (!values.model || !values.images) throw new Error('--model and --images go together');
    for (const f of [values.model, values.images, ...(values.labels ? [values.labels] : [])])
      if (!fs.existsSync(f)) throw new Error(`${f} not found`);
    const images = fs.statSync(values.images).isDirectory() ? imagesIn(values.images) : [values.images];
    if (images.length === 0) throw new Error(`no images (.jpg, .png, …) in ${values.images}`);
    return {model: values.model, labels: values.labels ?? null, scale: values.scale, images, source: 'your files'};
  }
  const fixtures = process.env['FIXTURES_DIR'];
  if (fixtures) {
    return {
      model: path.join(fixtures, 'models/keras2/mobilenet_v1_0.25_224_imagenet.h5'),
      labels: path.join(fixtures, 'labels/ImageNetLabels.txt'),
      scale: '-1,1',
      images: imagesIn(path.join(fixtures, 'images')),
      source: `FIXTURES_DIR (${fixtures})`,
    };
  }
  const cacheDir = process.env['DEMO_CACHE_DIR'] || path.join(ROOT, '.local/cache');
  const mirror = process.env['DEMO_ASSET_MIRROR'];
  console.log(
    `demo: no --model and no FIXTURES_DIR: fetching a MobileNet and ${DEMO_PHOTOS.length} photos into ${cacheDir}`
  );
  return {
    model: await fetchAsset(DEMO_MODEL, {cacheDir, ...(mirror ? {mirror} : {})}),
    labels: await fetchAsset(DEMO_LABELS, {cacheDir, ...(mirror ? {mirror} : {})}),
    scale: '-1,1',
    images: await Promise.all(
      DEMO_PHOTOS.map(p => fetchAsset(p, {cacheDir, progress: () => {}, ...(mirror ? {mirror} : {})}))
    ),
    source: `downloads cached in ${cacheDir}`,
  };
}

const WHAT_TO_PASS = `Run the demo with a Keras .h5 and photos of your own:
  npm run demo -- --model my_model.h5 --images photos/ [--labels labels.txt] [--scale -1,1]
(--scale: 0,1 for x/255, -1,1 for x/127.5-1 as Keras MobileNet wants, 0,255 for raw pixels)`;

interface Prediction {
  image: string | null;
  label?: string;
  score?: number;
  model_id: string;
  model_name: string;
  created: string;
  stale_model?: boolean;
  error?: {kind: string; message: string};
}

interface Phase {
  readonly name: string;
  readonly expectedModel: string;
  readonly ids: Map<string, string>; // messageId → image
  results: Map<string, Prediction>;
}

async function until<T>(what: string, deadline: number, probe: () => Promise<T | null>): Promise<T> {
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== null) return value;
    await new Promise(r => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function main(): Promise<number> {
  const {values} = parseArgs({
    // `--scale -1,1` would read as an option: glue string options to their values.
    args: glueValues(process.argv.slice(2), ['--timeout', '--model', '--images', '--labels', '--scale']),
    options: {
      timeout: {type: 'string', default: '300'},
      model: {type: 'string'},
      images: {type: 'string'},
      labels: {type: 'string'},
      scale: {type: 'string', default: '-1,1'},
      help: {type: 'boolean', short: 'h', default: false},
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  let input: DemoInputs;
  try {
    input = await inputs(values);
  } catch (e) {
    const why = e instanceof DownloadError ? `cannot download the demo's files: ${e.message}` : (e as Error).message;
    console.error(`\ndemo: ${why}\n${WHAT_TO_PASS}`);
    return 2;
  }
  console.log(`demo: model ${input.model}, ${input.images.length} photos (${input.source})`);
  const started = Date.now();
  const deadline = started + Number(values.timeout) * 1000;
  fs.mkdirSync(path.join(ROOT, '.local'), {recursive: true});
  const log = fs.createWriteStream(path.join(ROOT, '.local/demo-functions.log'));
  console.log('demo: starting the local stack...');
  let stack: Stack;
  try {
    stack = await startStack({onFunctionLine: (fn, line) => log.write(`[${fn}] ${line}\n`)});
  } catch (e) {
    if (e instanceof MissingEmulatorError) {
      console.error(`demo: cannot start the local stack: ${e.message}`);
      return 2;
    }
    throw e;
  }
  const {info} = stack;
  const storage = new Storage({projectId: info.projectId});
  const firestore = new Firestore({projectId: info.projectId});
  const pubsub = new PubSub({projectId: info.projectId});
  const current = firestore.collection('models').doc('current');
  const models = storage.bucket(info.modelsBucket);
  const topic = pubsub.topic(info.topic);
  try {
    const metadata: Record<string, string> = {scale: input.scale};
    if (input.labels) {
      const name = `labels/${path.basename(input.labels)}`;
      await models.upload(input.labels, {destination: name, resumable: false});
      metadata['labels'] = `gs://${info.modelsBucket}/${name}`;
    }
    const photos = input.images.map(f => path.basename(f));
    for (const file of input.images) {
      await storage
        .bucket(info.imagesBucket)
        .upload(file, {destination: `photos/${path.basename(file)}`, resumable: false});
    }

    const uploadModel = async (name: string): Promise<string> => {
      const [file] = await models.upload(input.model, {destination: name, resumable: false, metadata: {metadata}});
      const modelId = `gs://${info.modelsBucket}/${name}#${file.metadata.generation}`;
      console.log(`demo: uploaded ${modelId}; waiting for recordModel to record it`);
      await until(`models/current to become ${modelId}`, deadline, async () => {
        const snap = await current.get();
        return snap.get('model_id') === modelId ? true : null;
      });
      return modelId;
    };
    const runPhase = async (name: string, expectedModel: string): Promise<Phase> => {
      const phase: Phase = {name, expectedModel, ids: new Map(), results: new Map()};
      for (const photo of photos) {
        const image = `gs://${info.imagesBucket}/photos/${photo}`;
        phase.ids.set(await topic.publishMessage({data: Buffer.from(image)}), image);
      }
      console.log(`demo: ${name}: published ${phase.ids.size} image paths; waiting for results`);
      const refs = [...phase.ids.keys()].map(id => firestore.collection('predictions').doc(predictionId(id)));
      await until(`${name} results`, deadline, async () => {
        const snaps = await firestore.getAll(...refs);
        phase.results = new Map(
          snaps.filter(s => s.exists).map(s => [String(s.get('message_id')), s.data() as Prediction])
        );
        return phase.results.size === phase.ids.size ? true : null;
      });
      return phase;
    };

    const stem = path.basename(input.model).replace(/\.(h5|hdf5|keras)$/i, '');
    const v1 = await uploadModel(`models/${stem}.h5`);
    const before = await runPhase('before the roll', v1);
    const v2 = await uploadModel(`models/${stem}_rolled.h5`);
    const after = await runPhase('after the roll', v2);

    console.log(`\n${'image'.padEnd(22)} ${'label'.padEnd(24)} ${'score'.padStart(6)}  model`);
    for (const phase of [before, after]) {
      console.log(`-- ${phase.name} (${phase.expectedModel})`);
      for (const [id, image] of phase.ids) {
        const p = phase.results.get(id)!;
        const what = p.error ? `failed: ${p.error.kind}`.padEnd(24) : (p.label ?? '').padEnd(24);
        const score = p.score === undefined ? '' : p.score.toFixed(3);
        const note = p.stale_model ? '  (the new model was still loading)' : '';
        console.log(`${path.basename(image).padEnd(22)} ${what} ${score.padStart(6)}  ${p.model_name}${note}`);
      }
    }
    const all = [...before.results.values(), ...after.results.values()];
    const switchedAt = all
      .filter(p => p.model_id === v2)
      .map(p => p.created)
      .reduce((a, b) => (a < b ? a : b), '~');
    const [stored] = await firestore
      .collection('predictions')
      .count()
      .get()
      .then(s => [s.data().count]);
    const published = before.ids.size + after.ids.size;
    const summary = {
      published,
      predicted: all.filter(p => !p.error).length,
      failed: all.filter(p => p.error).length,
      models_seen: new Set(all.map(p => p.model_id)).size,
      switch_observed:
        [...before.results.values()].every(p => p.model_id === v1) &&
        [...after.results.values()].some(p => p.model_id === v2),
      // The old model serves while the new one loads (no one waits for a load); once the
      // first prediction with the new model started, none may use the old one.
      stale_after_switch: [...after.results.values()].filter(p => p.model_id !== v2 && p.created > switchedAt).length,
      seconds: Math.round((Date.now() - started) / 100) / 10,
    };
    const exactlyOne = all.length === published && stored === published;
    console.log(
      `\n${summary.switch_observed ? 'switch observed' : 'NO SWITCH OBSERVED'}; ${
        exactlyOne ? 'one result per message' : `results: ${all.length}, stored: ${stored}, published: ${published}`
      }`
    );
    console.log(JSON.stringify(summary));
    return exactlyOne && summary.switch_observed ? 0 : 1;
  } finally {
    await Promise.allSettled([pubsub.close(), firestore.terminate()]);
    await stack.stop();
    log.end();
  }
}

runMain(main, 'demo');
