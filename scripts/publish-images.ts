/**
 * `npm run publish-images -- <path|glob|list-file ...>`: publish image paths to the topic
 * that feeds classifyImage, one message per image (the data is the UTF-8 path).
 *
 * Each argument is one of:
 * - `gs://bucket/name.jpg`, published as is;
 * - `gs://bucket/prefix/*.jpg`, a glob over the bucket (listed by prefix, matched here);
 * - a local image file (or a quoted local glob): uploaded to the images bucket under
 *   `uploads/`, then its gs:// path is published (`--local-paths` publishes the absolute
 *   path instead, for a classifyImage whose LOCAL_IMAGE_DIR contains it);
 * - a `.txt` or `.list` file: one of the above per line (blank lines and `#` skipped);
 * - `gs://bucket/folder/` (ending in `/`): published as is, one message that classifyImage
 *   answers for every object in the folder.
 *
 * `--batch N` publishes the paths as batch messages, `{"images": [...]}` of up to N each.
 */
import fs from 'node:fs';
import path from 'node:path';
import {parseArgs} from 'node:util';
import {PubSub} from '@google-cloud/pubsub';
import {Storage} from '@google-cloud/storage';
import {parseFilePattern} from '../functions/src/core/glob.js';
import {resolveTarget} from './lib/target.js';
import {runMain} from './lib/cli.js';

const USAGE = `usage: npm run publish-images -- <path|glob|list-file ...> [options]
  --topic T         topic (default: the local stack's, or $TOPIC)
  --bucket B        images bucket for local files (default: the local stack's, or $IMAGES_BUCKET)
  --local-paths     publish local files as absolute paths instead of uploading them
  --repeat N        publish the whole list N times (default 1)
  --batch N         publish {"images": [...]} messages of up to N paths each (classifyImage's
                    MAX_BATCH_IMAGES, default 500, bounds N); gs://bucket/folder/ is one message already
  --key K           the model key to classify with (attribute 'model', or --key-attribute / $MODEL_KEY_ATTRIBUTE);
                    only with {key} in MODEL_FILE_PATTERN
  --project P       a real project (default: the local stack when npm start runs)
  --json            print {published, messages: [{image, message_id}]}`;

const GLOB = /[*?[]/;

/** Local files matching a glob like `dir/*.jpg` (the directory part must be literal). */
function localGlob(pattern: string): string[] {
  const dir = path.dirname(pattern);
  const regex = parseFilePattern(`gs://local/${path.basename(pattern)}`).regex;
  return fs
    .readdirSync(dir)
    .filter(f => regex.test(f))
    .sort()
    .map(f => path.join(dir, f));
}

async function expand(arg: string, storage: Storage, out: Array<{gcs: string} | {local: string}>): Promise<void> {
  if (arg.startsWith('gs://')) {
    if (!GLOB.test(arg)) {
      out.push({gcs: arg});
      return;
    }
    const pattern = parseFilePattern(arg);
    const prefix = pattern.glob.slice(0, pattern.glob.search(GLOB));
    const [files] = await storage.bucket(pattern.bucket).getFiles({prefix});
    for (const f of files) if (pattern.regex.test(f.name)) out.push({gcs: `gs://${pattern.bucket}/${f.name}`});
    return;
  }
  if (GLOB.test(path.basename(arg))) {
    for (const f of localGlob(arg)) out.push({local: path.resolve(f)});
    return;
  }
  if (/\.(txt|list)$/i.test(arg)) {
    for (const line of fs.readFileSync(arg, 'utf8').split('\n')) {
      const entry = line.trim();
      if (entry && !entry.startsWith('#')) await expand(entry, storage, out);
    }
    return;
  }
  if (!fs.existsSync(arg)) throw new Error(`${arg}: no such file`);
  out.push({local: path.resolve(arg)});
}

/** A one-line progress bar on stderr. */
function progress(done: number, total: number): void {
  const width = 30;
  const filled = Math.round((done / total) * width);
  const bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total}`;
  if (process.stderr.isTTY) process.stderr.write(`\r${bar}${done === total ? '\n' : ''}`);
  else if (done === total || done % Math.max(1, Math.floor(total / 10)) === 0) process.stderr.write(`${bar}\n`);
}

async function main(): Promise<number> {
  const {values, positionals} = parseArgs({
    allowPositionals: true,
    options: {
      topic: {type: 'string'},
      bucket: {type: 'string'},
      'local-paths': {type: 'boolean', default: false},
      key: {type: 'string'},
      'key-attribute': {type: 'string', default: process.env['MODEL_KEY_ATTRIBUTE'] ?? 'model'},
      repeat: {type: 'string', default: '1'},
      batch: {type: 'string', default: '0'},
      project: {type: 'string'},
      json: {type: 'boolean', default: false},
      help: {type: 'boolean', short: 'h', default: false},
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const repeat = Number(values.repeat);
  const batch = Number(values.batch);
  if (!positionals.length || !Number.isInteger(repeat) || repeat < 1 || !Number.isInteger(batch) || batch < 0) {
    console.error(USAGE);
    return 64;
  }
  const target = resolveTarget(values);
  const topicName = values.topic ?? target.topic;
  if (!topicName) {
    console.error('publish-images: no topic: pass --topic or set TOPIC (or run npm start)');
    return 64;
  }
  const storage = new Storage(target.projectId ? {projectId: target.projectId} : {});
  const entries: Array<{gcs: string} | {local: string}> = [];
  for (const arg of positionals) await expand(arg, storage, entries);
  if (!entries.length) {
    console.error('publish-images: nothing matched');
    return 2;
  }
  const images: string[] = [];
  const bucketName = values.bucket ?? target.imagesBucket;
  for (const e of entries) {
    if ('gcs' in e) images.push(e.gcs);
    else if (values['local-paths']) images.push(e.local);
    else {
      if (!bucketName) throw new Error('local files need an images bucket: pass --bucket or set IMAGES_BUCKET');
      const name = `uploads/${path.basename(e.local)}`;
      await storage
        .bucket(bucketName)
        .upload(e.local, {destination: name, resumable: target.kind === 'local' ? false : undefined});
      images.push(`gs://${bucketName}/${name}`);
    }
  }
  const paths = Array.from({length: repeat}, () => images).flat();
  // What each message carries: a path, or a batch of paths.
  const all =
    batch > 0
      ? Array.from({length: Math.ceil(paths.length / batch)}, (_, i) =>
          JSON.stringify({images: paths.slice(i * batch, (i + 1) * batch)})
        )
      : paths;
  const pubsub = new PubSub(target.projectId ? {projectId: target.projectId} : {});
  const topic = pubsub.topic(topicName);
  const messages: Array<{image: string; message_id: string}> = [];
  const show = all.length > 5 && !values.json;
  try {
    await Promise.all(
      all.map(async image => {
        const attributes = values.key ? {[values['key-attribute']]: values.key} : undefined;
        const id = await topic.publishMessage({data: Buffer.from(image, 'utf8'), ...(attributes ? {attributes} : {})});
        messages.push({image, message_id: id});
        if (show) progress(messages.length, all.length);
      })
    );
  } finally {
    await pubsub.close();
  }
  if (values.json) console.log(JSON.stringify({published: messages.length, messages}));
  else {
    if (!show) for (const m of messages) console.log(`${m.message_id}  ${m.image}`);
    console.log(`published ${messages.length} message(s) to ${topicName} on ${target.description}`);
  }
  return 0;
}

runMain(main, 'publish-images');
