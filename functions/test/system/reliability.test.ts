/**
 * Reliability and security on the whole local stack: messages go through the Pub/Sub
 * emulator's push subscription to the classifyImage process, models through the Storage
 * emulator and the Eventarc stand-in to the recordModel process. Outages are made with
 * fault-injection proxies between the functions and the Firestore and Storage emulators
 * (the emulators keep their data; a restarted in-memory emulator would not).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {after, before, describe, it} from 'node:test';
import {Firestore} from '@google-cloud/firestore';
import {PubSub, type Topic} from '@google-cloud/pubsub';
import {Storage} from '@google-cloud/storage';
import {ROOT, startStack, type Stack} from '../../../scripts/lib/stack.js';
import {upload as uploadObject} from '../helpers/emulators.js';
import {engineUnderTest, tfIdfModel} from '../helpers/models.js';
import {predictionId} from '../../src/core/prediction_id.js';

const FIXTURES = process.env['FIXTURES_DIR']!;
const MOBILENET = fs.readFileSync(path.join(FIXTURES, 'models/keras2/mobilenet_v1_0.25_224_imagenet.h5'));
const PHOTOS = fs.readdirSync(path.join(FIXTURES, 'images')).sort();
const ODD = fs.readdirSync(path.join(FIXTURES, 'bad-images')).sort();
/** The odd images that cannot be classified, and why (the rest are odd but valid). */
const BROKEN: Record<string, string> = {
  '65536-uint32-limit.png': 'too_many_pixels',
  'giant-image.jpg': 'too_many_pixels',
  'check.svg': 'unsupported_format',
  'relax.jp2': 'unsupported_format',
  'corrupt-header.jpg': 'decode',
  'skimage_truncated.jpg': 'decode',
  'truncated.jpg': 'decode',
  'truncated.png': 'decode',
};

interface Doc {
  image: string | null;
  label?: string;
  model_id: string;
  error?: {kind: string; message: string};
}

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

describe('reliability on the local stack', {timeout: 600_000}, () => {
  let stack: Stack;
  let db: Firestore;
  let storage: Storage;
  let pubsub: PubSub;
  let topic: Topic;
  let images: string;
  let models: string;
  let v1: string;
  let early: string;
  /** The `outcome: retry` lines classifyImage wrote for a message (each one a 500 to Pub/Sub). */
  const retries = (messageId?: string) =>
    lines.filter(
      l =>
        l.fn === 'classifyImage' &&
        l.line.includes('"outcome":"retry"') &&
        (!messageId || l.line.includes(`"message_id":"${messageId}"`))
    ).length;
  const lines: Array<{fn: string; line: string}> = [];
  // For post-mortems: what the functions said, and how far the test got.
  fs.mkdirSync(path.join(ROOT, '.local'), {recursive: true});
  const logFile = fs.createWriteStream(path.join(ROOT, '.local/reliability.log'));
  const progress = (what: string) => logFile.write(`${new Date().toISOString()} [test] ${what}\n`);

  const gs = (bucket: string, name: string) => `gs://${bucket}/${name}`;
  /** Uploads through the shared helper; returns the model_id the object would get. */
  const upload = async (bucket: string, name: string, bytes: Buffer, metadata: Record<string, string> = {}) => {
    progress(`upload ${bucket}/${name} (${bytes.length} bytes)`);
    const object = await uploadObject(storage, bucket, name, bytes, metadata);
    progress(`uploaded ${bucket}/${name}#${object.generation}`);
    return `gs://${bucket}/${name}#${object.generation}`;
  };
  /** Pub/Sub refuses a message with neither data nor attributes: an empty one carries an attribute. */
  const publish = (data: string | Buffer) =>
    data.length
      ? topic.publishMessage({data: typeof data === 'string' ? Buffer.from(data) : data})
      : topic.publishMessage({data: Buffer.alloc(0), attributes: {note: 'empty'}});
  /** Polls until every message has its document (or the time is up), then returns them. */
  const results = async (ids: string[], ms = 120_000): Promise<Map<string, Doc>> => {
    const deadline = Date.now() + ms;
    let got = new Map<string, Doc>();
    while (Date.now() < deadline) {
      const snaps = await db.getAll(...ids.map(id => db.collection('predictions').doc(predictionId(id))));
      got = new Map(snaps.filter(s => s.exists).map(s => [String(s.get('message_id')), s.data() as Doc]));
      if (got.size === ids.length) return got;
      await sleep(300);
    }
    assert.fail(`only ${got.size} of ${ids.length} messages have a result after ${ms} ms`);
  };
  const predictionCount = async () => (await db.collection('predictions').count().get()).data().count;
  const current = async () => (await db.doc('models/current').get()).get('model_id') as string | undefined;
  const waitCurrent = async (modelId: string, ms = 60_000) => {
    const deadline = Date.now() + ms;
    while ((await current()) !== modelId) {
      if (Date.now() > deadline) assert.fail(`models/current is ${await current()}, not ${modelId}`);
      await sleep(200);
    }
  };
  /** Publishes `n` good photos, one every `everyMs`, and returns their message ids. */
  const stream = async (n: number, everyMs: number): Promise<string[]> => {
    const ids: Array<Promise<string>> = [];
    for (let i = 0; i < n; i++) {
      ids.push(publish(gs(images, `photos/${PHOTOS[i % PHOTOS.length]}`)));
      await sleep(everyMs);
    }
    return Promise.all(ids);
  };
  const classifyLog = (from: number) =>
    lines
      .slice(from)
      .filter(l => l.fn === 'classifyImage')
      .map(l => l.line);

  before(
    async () => {
      stack = await startStack({
        faults: true,
        functionEnv: {LOCAL_IMAGE_DIR: path.join(FIXTURES, 'images'), MODEL_RELOAD_BACKOFF: '1s'},
        onFunctionLine: (fn, line) => {
          lines.push({fn, line});
          logFile.write(`[${fn}] ${line}\n`);
        },
      });
      progress(`stack started: ${JSON.stringify(stack.info.endpoints)} env ${process.env['STORAGE_EMULATOR_HOST']}`);
      ({imagesBucket: images, modelsBucket: models} = stack.info);
      db = new Firestore({projectId: stack.info.projectId});
      storage = new Storage({projectId: stack.info.projectId});
      pubsub = new PubSub({projectId: stack.info.projectId});
      topic = pubsub.topic(stack.info.topic);
      await upload(
        models,
        'labels/ImageNetLabels.txt',
        fs.readFileSync(path.join(FIXTURES, 'labels/ImageNetLabels.txt'))
      );
      await upload(models, 'labels/ten.txt', Buffer.from('abcdefghij'.split('').join('\n')));
      const contract = {scale: '-1,1', labels: 'labels/ImageNetLabels.txt'};
      for (const p of PHOTOS) await upload(images, `photos/${p}`, fs.readFileSync(path.join(FIXTURES, 'images', p)));
      for (const p of ODD) await upload(images, `odd/${p}`, fs.readFileSync(path.join(FIXTURES, 'bad-images', p)));
      // Published before any model exists: classifyImage answers 500 until one is recorded.
      early = await publish(gs(images, 'photos/daisy.jpg'));
      await sleep(3000);
      v1 = await upload(models, 'models/mobilenet_v1.h5', MOBILENET, contract);
      await waitCurrent(v1);
      progress('v1 recorded');
    },
    {timeout: 120_000}
  );

  after(async () => {
    await Promise.allSettled([pubsub?.close(), db?.terminate()]);
    await stack?.stop();
    progress('stopped');
    logFile.end();
  });

  it('redelivers a message that came before any model (500) until one is recorded, then answers it once', async () => {
    const doc = (await results([early])).get(early)!;
    assert.equal(doc.label, 'daisy');
    assert.equal(doc.model_id, v1);
    assert.ok(retries(early) >= 2, `${retries(early)} deliveries answered 500 first`);
  });

  it('loses nothing: 300 messages, good and bad, each end with exactly one document', {timeout: 180_000}, async () => {
    const inputs: Array<{data: string | Buffer; bad: boolean}> = [
      ...PHOTOS.map(p => ({data: gs(images, `photos/${p}`), bad: false})),
      ...ODD.map(p => ({data: gs(images, `odd/${p}`), bad: p in BROKEN})),
      {data: gs(images, 'photos/missing.jpg'), bad: true},
      {data: gs(models, 'models/mobilenet_v1.h5'), bad: true},
      {data: '', bad: true},
      {data: Buffer.from([0xc3, 0x28]), bad: true},
    ];
    const sent = Array.from({length: 300}, (_, i) => inputs[i % inputs.length]!);
    const before = await predictionCount();
    const ids = await Promise.all(sent.map(s => publish(s.data)));
    assert.equal(new Set(ids).size, 300);
    const docs = await results(ids);
    const failed = ids.filter(id => docs.get(id)!.error);
    assert.equal(failed.length, sent.filter(s => s.bad).length);
    ids.forEach((id, i) => assert.equal(Boolean(docs.get(id)!.error), sent[i]!.bad, String(sent[i]!.data)));
    for (const id of ids) assert.ok(docs.get(id)!.error || docs.get(id)!.label, id);
    await sleep(2000); // a late duplicate would show up as an extra document
    assert.equal(await predictionCount(), before + 300, 'no extra documents');
  });

  it(
    'survives Firestore and Storage outages: retried, exactly one result each, same process, same model',
    {timeout: 180_000},
    async () => {
      await results([await publish(gs(images, 'photos/daisy.jpg'))]); // the model is loaded before the outages
      const mark = lines.length;
      const pid = stack.functions.classifyImage.child.pid;
      const streaming = stream(60, 100);
      await sleep(800);
      await stack.faults!.firestore.down();
      await sleep(3000);
      await stack.faults!.firestore.up();
      await sleep(1500);
      await stack.faults!.storage.down();
      await sleep(3000);
      await stack.faults!.storage.up();
      const ids = await streaming;
      const docs = await results(ids);
      for (const id of ids) {
        assert.ok(docs.get(id)!.label, `${id}: ${JSON.stringify(docs.get(id))}`);
        assert.equal(docs.get(id)!.model_id, v1);
      }
      assert.equal(stack.functions.classifyImage.child.exitCode, null, 'classifyImage still running');
      assert.equal(stack.functions.classifyImage.child.pid, pid);
      assert.equal(stack.functions.recordModel.child.exitCode, null, 'recordModel still running');
      const log = classifyLog(mark);
      assert.equal(log.filter(l => l.includes('now serving')).length, 0, 'the model cache survived (no reload)');
      // A 3 s outage is mostly absorbed by the client libraries' own retries; a delivery
      // that still failed was answered 500 and delivered again.
      progress(`outages: ${log.filter(l => l.includes('"outcome":"retry"')).length} deliveries answered 500`);
    }
  );

  it(
    'keeps serving through broken model uploads, and records each as rejected with its reason',
    {timeout: 180_000},
    async () => {
      const streaming = stream(60, 100);
      await sleep(300);
      const broken: Array<[string, Buffer, Record<string, string>, RegExp]> = [
        ['models/truncated.h5', MOBILENET.subarray(0, MOBILENET.length >> 1), {}, /corrupt|truncat/i],
        [
          'models/qkeras.keras',
          fs.readFileSync(path.join(FIXTURES, 'models/not-hdf5/qkeras-v3_3layer.keras')),
          {},
          /^unsupported_layer: .*QDense 'fc1'/,
        ],
        [
          'models/lambda.h5',
          fs.readFileSync(path.join(FIXTURES, 'models/unsupported-layers/model_lambda.h5')),
          {},
          /Lambda/,
        ],
        ['models/wrong_labels.h5', MOBILENET, {scale: '-1,1', labels: 'labels/ten.txt'}, /label/i],
        ['models/empty.h5', Buffer.alloc(0), {}, /^empty_object/],
        // Built by tfjs, but its first prediction fails (no idf weights): refused, not retried
        // forever. With INFERENCE_ENGINE=onnx, ONNX's refusal is the reason.
        [
          'models/tf_idf.h5',
          await tfIdfModel(),
          {},
          {
            auto: /^unsupported_layer: tfjs \(\w+\) cannot run this model: .*weights must be provided.*\(and no ONNX translation: CategoryEncoding/,
            tfjs: /^unsupported_layer: tfjs \(\w+\) cannot run this model: .*weights must be provided/,
            onnx: /^unsupported_layer: no ONNX translation \(INFERENCE_ENGINE=onnx\): CategoryEncoding .*tf_idf/,
          }[engineUnderTest()],
        ],
      ];
      for (const [name, bytes, metadata] of broken) {
        await upload(models, name, bytes, metadata);
        await sleep(200);
      }
      const history = db.collection('models/current/history');
      const deadline = Date.now() + 60_000;
      for (const [name, , , reason] of broken) {
        let entry: {status: string; reason: string} | undefined;
        while (!entry && Date.now() < deadline) {
          entry = (await history.where('name', '==', name).get()).docs[0]?.data() as
            {status: string; reason: string} | undefined;
          if (!entry) await sleep(200);
        }
        assert.ok(entry, `${name} is in history`);
        assert.equal(entry.status, 'rejected', name);
        assert.match(entry.reason, reason, name);
      }
      assert.equal(await current(), v1, 'current never changed');
      const ids = await streaming;
      const docs = await results(ids);
      for (const id of ids) assert.equal(docs.get(id)!.model_id, v1, JSON.stringify(docs.get(id)));
      for (const id of ids) assert.ok(docs.get(id)!.label);
    }
  );

  it(
    'ends at the newest of 20 versions delivered shuffled and duplicated, and never flaps back',
    {timeout: 180_000},
    async () => {
      stack.bridge.hold(true);
      const versions: string[] = [];
      for (let i = 0; i < 20; i++)
        versions.push(
          await upload(models, 'models/rolling.h5', MOBILENET, {scale: '-1,1', labels: 'labels/ImageNetLabels.txt'})
        );
      stack.bridge.hold(false);
      const held = stack.bridge.held.filter(e => e.name === 'models/rolling.h5');
      assert.equal(held.length, 20);
      const events = held.flatMap(e => Array.from({length: 1 + Math.floor(Math.random() * 3)}, () => e));
      events.sort(() => Math.random() - 0.5);
      const mark = lines.length;
      const streaming = stream(100, 40);
      const delivering = (async () => {
        for (let i = 0; i < events.length; i += 4) {
          await Promise.all(events.slice(i, i + 4).map(e => stack.bridge.deliver(e)));
          await sleep(Math.random() * 100);
        }
      })();
      const [ids] = await Promise.all([streaming, delivering]);
      await waitCurrent(versions.at(-1)!);
      const docs = await results(ids);
      for (const id of ids) assert.ok(docs.get(id)!.label, JSON.stringify(docs.get(id)));

      const generation = (modelId: string) => BigInt(modelId.slice(modelId.lastIndexOf('#') + 1));
      // In the order the instance chose the model for each prediction (its lease order):
      // completion order may legitimately interleave an old-model prediction started earlier.
      const served = classifyLog(mark)
        .filter(l => l.includes('"outcome":"predicted"'))
        .map(l => JSON.parse(l) as {model_id: string; lease_seq: number})
        .sort((a, b) => a.lease_seq - b.lease_seq)
        .map(l => generation(l.model_id));
      assert.ok(served.length >= 100);
      served.forEach((g, i) =>
        assert.ok(i === 0 || g >= served[i - 1]!, `prediction ${i} went back to an older model`)
      );
      const accepted = await db.collection('models/current/history').where('name', '==', 'models/rolling.h5').get();
      assert.equal(accepted.size, 20);
      assert.ok(accepted.docs.every(d => d.get('status') === 'accepted'));
    }
  );

  it(
    'refuses hostile messages and images with a clear reason, in bounded time and memory, reading nothing outside the allow-list',
    {timeout: 180_000},
    async () => {
      const local = path.join(FIXTURES, 'images');
      const messages: Array<[string, string | Buffer, string]> = [
        ['empty', '', 'bad_message'],
        ['1 MB', Buffer.alloc(1024 * 1024, 0x61), 'bad_message'],
        ['invalid UTF-8', Buffer.from([0xff, 0xfe, 0x2f]), 'bad_message'],
        ['a bucket outside IMAGE_BUCKETS', 'gs://someone-elses-bucket/cat.jpg', 'not_allowed'],
        ['the models bucket (an existing object)', gs(models, 'models/mobilenet_v1.h5'), 'not_allowed'],
        ['a bucket smuggled in the name', `gs://${models}@${images}/x.jpg`, 'bad_message'],
        ['../ in an object name', gs(images, `../${models}/models/mobilenet_v1.h5`), 'not_allowed'],
        ['URL-encoded ../', gs(images, `%2e%2e/${models}/models/mobilenet_v1.h5`), 'not_found'],
        ['file:///etc/passwd', 'file:///etc/passwd', 'bad_message'],
        ['/etc/passwd', '/etc/passwd', 'not_allowed'],
        ['../ out of LOCAL_IMAGE_DIR', `${local}/../bad-images/check.svg`, 'not_allowed'],
        ['URL-encoded ../ in a local path', `${local}/%2e%2e/bad-images/check.svg`, 'not_found'],
        ['an http URL', 'https://example.com/cat.jpg', 'bad_message'],
        ['a control character', `gs://${images}/photos/daisy.jpg\u0000.png`, 'bad_message'],
      ];
      const started = Date.now();
      const ids = await Promise.all(messages.map(([, data]) => publish(data)));
      const imageIds = await Promise.all(ODD.map(p => publish(gs(images, `odd/${p}`))));
      const docs = await results([...ids, ...imageIds], 60_000);
      const seconds = (Date.now() - started) / 1000;
      messages.forEach(([name, , kind], i) => {
        const doc = docs.get(ids[i]!)!;
        assert.equal(doc.error?.kind, kind, `${name}: ${JSON.stringify(doc)}`);
        assert.ok(doc.error!.message.length > 10, `${name} has a reason`);
      });
      ODD.forEach((p, i) => {
        const doc = docs.get(imageIds[i]!)!;
        if (BROKEN[p]) assert.equal(doc.error?.kind, BROKEN[p], `${p}: ${JSON.stringify(doc)}`);
        else assert.ok(doc.label, `${p} is odd but valid: ${JSON.stringify(doc)}`);
      });
      // Bounds: a correctness guard against decompression bombs, not a performance target.
      assert.ok(seconds < 60, `took ${seconds} s`);
      const status = fs.readFileSync(`/proc/${stack.functions.classifyImage.child.pid}/status`, 'utf8');
      const peakMb = Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024;
      assert.ok(peakMb < 1536, `classifyImage peak RSS ${peakMb} MB`);
    }
  );
});
