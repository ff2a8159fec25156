/**
 * `npm run upload-model -- <file.h5|file.keras> [--name models/x.h5] [--scale=-1,1] [--labels FILE|gs://...]`
 *
 * Uploads a Keras .h5 to the models bucket: the finalize event makes recordModel record it
 * as the newest model, and classifyImage switches to it on its next message. A local
 * labels file is uploaded beside it (labels/<file>) and named in the object's metadata,
 * as is the input scale; both are part of the model's input contract.
 */
import fs from 'node:fs';
import path from 'node:path';
import {parseArgs} from 'node:util';
import {Storage} from '@google-cloud/storage';
import {parseScale} from '../functions/src/core/scale.js';
import {MODEL_KEY} from '../functions/src/core/glob.js';
import {parseRolloutPlan} from '../functions/src/core/rollout.js';
import {resolveTarget} from './lib/target.js';
import {runMain} from './lib/cli.js';

const USAGE = `usage: npm run upload-model -- <file.h5> [options]
  --name NAME       object name (default models/<file name>, or <key>/<file name> with --key)
  --key K           a model key: uploads to <K>/<file name>, as MODEL_FILE_PATTERN gs://bucket/{key}/*.h5 wants
  --bucket B        models bucket (default: the local stack's, or $MODELS_BUCKET)
  --scale MODE      preprocessing recorded in metadata: 0,1 | -1,1 (tf) | 0,255 (raw) | caffe | torch |
                    'mean=a,b,c;std=d,e,f' (default: DEFAULT_INPUT_SCALE); README has one row per keras.applications family
  --labels L        labels: a local file (uploaded to labels/<name>) or a gs:// URI
  --rollout R       canary:<percent> or shadow:<percent>: bake beside the current model before promotion
  --bake-samples N  candidate samples before promotion (default 200)
  --bake-seconds S  seconds before promotion (default 300)
  --project P       a real project (default: the local stack when npm start runs)
  --json            print the uploaded object as JSON`;

async function main(): Promise<number> {
  const {values, positionals} = parseArgs({
    allowPositionals: true,
    options: {
      name: {type: 'string'},
      key: {type: 'string'},
      bucket: {type: 'string'},
      scale: {type: 'string'},
      labels: {type: 'string'},
      rollout: {type: 'string'},
      'bake-samples': {type: 'string'},
      'bake-seconds': {type: 'string'},
      project: {type: 'string'},
      json: {type: 'boolean', default: false},
      help: {type: 'boolean', short: 'h', default: false},
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const [file] = positionals;
  if (!file || positionals.length > 1) {
    console.error(USAGE);
    return 64;
  }
  if (!fs.existsSync(file)) {
    console.error(`upload-model: ${file}: no such file`);
    return 64;
  }
  if (values.scale) parseScale(values.scale); // fail before uploading
  parseRolloutPlan(values.rollout, values['bake-samples'], values['bake-seconds']);
  const target = resolveTarget(values);
  const bucketName = values.bucket ?? target.modelsBucket;
  if (!bucketName) {
    console.error('upload-model: no models bucket: pass --bucket or set MODELS_BUCKET (or run npm start)');
    return 64;
  }
  const storage = new Storage(target.projectId ? {projectId: target.projectId} : {});
  const bucket = storage.bucket(bucketName);
  // The storage emulator cannot take multi-chunk resumable uploads; real GCS decides itself.
  const resumable = target.kind === 'local' ? false : undefined;
  const metadata: Record<string, string> = {};
  if (values.scale) metadata['scale'] = values.scale;
  if (values.rollout) metadata['rollout'] = values.rollout;
  if (values['bake-samples']) metadata['bake_samples'] = values['bake-samples'];
  if (values['bake-seconds']) metadata['bake_seconds'] = values['bake-seconds'];
  if (values.labels) {
    if (values.labels.startsWith('gs://')) metadata['labels'] = values.labels;
    else {
      const labelsName = `labels/${path.basename(values.labels)}`;
      await bucket.upload(values.labels, {destination: labelsName, resumable, contentType: 'text/plain'});
      metadata['labels'] = `gs://${bucketName}/${labelsName}`;
    }
  }
  if (values.key !== undefined && !MODEL_KEY.test(values.key)) {
    console.error(`upload-model: --key '${values.key}' is not a model key ([A-Za-z0-9_-], 1 to 100 characters)`);
    return 64;
  }
  const name = values.name ?? `${values.key ?? 'models'}/${path.basename(file)}`;
  const [uploaded] = await bucket.upload(file, {
    destination: name,
    resumable,
    contentType: file.endsWith('.keras') ? 'application/zip' : 'application/x-hdf5',
    metadata: {metadata},
  });
  const md = uploaded.metadata;
  const result = {
    model_id: `gs://${bucketName}/${name}#${md.generation}`,
    size: Number(md.size),
    metadata,
    target: target.description,
  };
  if (values.json) console.log(JSON.stringify(result));
  else
    console.log(
      `uploaded ${result.model_id} (${result.size} bytes) to ${target.description}; recordModel records it if it matches MODEL_FILE_PATTERN`
    );
  return 0;
}

runMain(main, 'upload-model');
