/**
 * Load on the whole local stack: messages published to the Pub/Sub emulator, pushed through a
 * round-robin balancer to two classifyImage processes, each reading the record and the photo
 * from the emulators and writing its result to Firestore. Reported as end-to-end messages per
 * second, from the first publish to the last result document, one clock.
 */
import fs from 'node:fs';
import path from 'node:path';
import {Firestore} from '@google-cloud/firestore';
import {PubSub} from '@google-cloud/pubsub';
import {Storage} from '@google-cloud/storage';
import {ROOT, startStack} from './stack.js';
import type {Photo} from './bench_handler.js';

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

/** Publishes `messages` photos through the whole stack with `instances` classifyImage processes. */
export async function stackLoad(model: Buffer, scale: string, photos: Photo[], messages: number, instances = 2) {
  fs.mkdirSync(path.join(ROOT, '.local'), {recursive: true});
  const stack = await startStack({classifyInstances: instances, logDir: path.join(ROOT, '.local/bench-stack')});
  const db = new Firestore({projectId: stack.info.projectId});
  const storage = new Storage({projectId: stack.info.projectId});
  const pubsub = new PubSub({projectId: stack.info.projectId});
  try {
    const put = (bucket: string, name: string, bytes: Buffer, metadata: Record<string, string> = {}) =>
      storage.bucket(bucket).file(name).save(bytes, {resumable: false, metadata: {metadata}});
    for (const p of photos) await put(stack.info.imagesBucket, `photos/${p.name}`, p.bytes);
    await put(stack.info.modelsBucket, 'models/bench.h5', model, {scale});
    for (let i = 0; !(await db.doc('models/current').get()).exists; i++) {
      if (i > 600) throw new Error('the model was never recorded');
      await sleep(100);
    }
    const topic = pubsub.topic(stack.info.topic, {batching: {maxMessages: 100, maxMilliseconds: 5}});
    const count = async () => (await db.collection('predictions').count().get()).data().count;
    const publish = (n: number) =>
      Promise.all(
        Array.from({length: n}, (_, i) =>
          topic.publishMessage({
            data: Buffer.from(`gs://${stack.info.imagesBucket}/photos/${photos[i % photos.length]!.name}`),
          })
        )
      );
    await publish(20); // both instances load the model
    while ((await count()) < 20) await sleep(200);
    const t0 = performance.now();
    await publish(messages);
    const published = performance.now() - t0;
    let done = 0;
    const deadline = Date.now() + 20 * 60_000;
    while ((done = (await count()) - 20) < messages) {
      if (Date.now() > deadline) throw new Error(`only ${done} of ${messages} answered`);
      await sleep(250);
    }
    const seconds = (performance.now() - t0) / 1000;
    const failed = (await db.collection('predictions').where('error', '!=', null).count().get()).data().count;
    return {
      messages,
      instances,
      publish_s: Math.round(published) / 1000,
      seconds: Math.round(seconds * 10) / 10,
      messages_per_s: Math.round((messages / seconds) * 10) / 10,
      failed,
      per_instance_requests: stack.balancer?.counts ?? [],
    };
  } finally {
    await Promise.allSettled([pubsub.close(), db.terminate()]);
    await stack.stop();
  }
}
