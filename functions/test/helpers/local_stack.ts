/**
 * What the system tests that run a whole local stack share: the clients, the shared photos
 * and ImageNet labels uploaded, model uploads that return their model_id, publishing photos,
 * and waiting for every message's result document.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {Firestore} from '@google-cloud/firestore';
import {PubSub, type Topic} from '@google-cloud/pubsub';
import {Storage} from '@google-cloud/storage';
import {predictionId} from '../../src/core/prediction_id.js';
import type {Stack} from '../../../scripts/lib/stack.js';
import {FIXTURES} from './fixtures.js';
import {upload} from './emulators.js';

/** The shared MobileNet v1 0.25 and its real contract (labels uploaded by {@link stackClients}). */
export const MOBILENET = fs.readFileSync(path.join(FIXTURES, 'models/keras2/mobilenet_v1_0.25_224_imagenet.h5'));
export const CONTRACT = {scale: '-1,1', labels: 'labels/ImageNetLabels.txt'};
/** The shared photos, by file name, uploaded as `photos/<name>`. */
export const PHOTOS = fs.readdirSync(path.join(FIXTURES, 'images')).sort();

export const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

/** Clients on a running stack, and the helpers built on them. */
export interface StackClients {
  readonly db: Firestore;
  readonly storage: Storage;
  readonly pubsub: PubSub;
  readonly topic: Topic;
  /** Uploads to the models bucket; returns the model_id the object gets. */
  uploadModel(name: string, bytes: Uint8Array, metadata?: Record<string, string>): Promise<string>;
  /** Publishes `n` photos (cycling through PHOTOS from `offset`); returns the message ids. */
  publishPhotos(n: number, options?: {attributes?: Record<string, string>; offset?: number}): Promise<string[]>;
  /** Waits until `models/{key}` names `modelId`; returns the commit time (the document's update time, ms). */
  waitCurrent(key: string, modelId: string, ms?: number): Promise<number>;
  /** Waits (up to `ms`) until every message has its result document; returns them in order. */
  results<T>(ids: string[], ms?: number): Promise<T[]>;
  close(): Promise<void>;
}

/** Clients on `stack`, with the ImageNet labels and the shared photos uploaded. */
export async function stackClients(stack: Stack): Promise<StackClients> {
  const {projectId, modelsBucket, imagesBucket} = stack.info;
  const db = new Firestore({projectId});
  const storage = new Storage({projectId});
  const pubsub = new PubSub({projectId});
  const topic = pubsub.topic(stack.info.topic);
  const uploadModel = async (name: string, bytes: Uint8Array, metadata: Record<string, string> = {}) => {
    const o = await upload(storage, modelsBucket, name, Buffer.from(bytes), metadata);
    return `gs://${o.bucket}/${name}#${o.generation}`;
  };
  await uploadModel('labels/ImageNetLabels.txt', fs.readFileSync(path.join(FIXTURES, 'labels/ImageNetLabels.txt')));
  for (const p of PHOTOS)
    await upload(storage, imagesBucket, `photos/${p}`, fs.readFileSync(path.join(FIXTURES, 'images', p)));
  return {
    db,
    storage,
    pubsub,
    topic,
    uploadModel,
    publishPhotos: (n, {attributes, offset = 0} = {}) =>
      Promise.all(
        Array.from({length: n}, (_, i) =>
          topic.publishMessage({
            data: Buffer.from(`gs://${imagesBucket}/photos/${PHOTOS[(i + offset) % PHOTOS.length]}`),
            ...(attributes ? {attributes} : {}),
          })
        )
      ),
    async waitCurrent(key: string, modelId: string, ms = 60_000): Promise<number> {
      const deadline = Date.now() + ms;
      for (;;) {
        const snap = await db.doc(`models/${key}`).get();
        if (snap.get('model_id') === modelId) return snap.updateTime!.toMillis();
        if (Date.now() > deadline) assert.fail(`models/${key} is ${snap.get('model_id')}, not ${modelId}`);
        await sleep(50);
      }
    },
    async results<T>(ids: string[], ms = 120_000): Promise<T[]> {
      const deadline = Date.now() + ms;
      for (;;) {
        const snaps = await db.getAll(...ids.map(id => db.collection('predictions').doc(predictionId(id))));
        if (snaps.every(s => s.exists)) return snaps.map(s => s.data() as T);
        if (Date.now() > deadline)
          assert.fail(`${snaps.filter(s => s.exists).length} of ${ids.length} messages have a result`);
        await sleep(300);
      }
    },
    async close() {
      await Promise.allSettled([pubsub.close(), db.terminate()]);
    },
  };
}
