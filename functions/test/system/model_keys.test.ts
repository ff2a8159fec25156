/**
 * A model per key on the whole local stack (`npm start -- --keyed`): MODEL_FILE_PATTERN
 * `gs://<models>/{key}/*.{h5,keras}`, messages name their key in the `model` attribute.
 * Two keys are served side by side and rolled independently; a third key, under a
 * MODEL_CACHE_BYTES that holds two models, evicts the least recently used one while
 * messages for all three keys flow, and no request fails.
 */
import assert from 'node:assert/strict';
import {after, before, describe, it} from 'node:test';
import {startStack, type Stack} from '../../../scripts/lib/stack.js';
import {CONTRACT as contract, MOBILENET, stackClients, type StackClients} from '../helpers/local_stack.js';

// FIXTURES_DIR: the shared MobileNet and photos (helpers/local_stack.ts).
interface Doc {
  label?: string;
  model_id: string | null;
  model_key?: string | null;
  error?: {kind: string; message: string};
}

describe('a model per key on the local stack', {timeout: 600_000}, () => {
  let stack: Stack;
  let c: StackClients;
  const lines: string[] = [];
  const upload = (name: string, bytes: Buffer, metadata: Record<string, string> = {}) =>
    c.uploadModel(name, bytes, metadata);
  const current = async (key: string) => (await c.db.doc(`models/${key}`).get()).get('model_id') as string | undefined;
  const waitCurrent = (key: string, modelId: string) => c.waitCurrent(key, modelId);
  /** Publishes one photo per message for `key` (or with no attribute for null). */
  const publish = (key: string | null, n: number) => c.publishPhotos(n, key === null ? {} : {attributes: {model: key}});
  const results = (ids: string[]) => c.results<Doc>(ids);

  before(
    async () => {
      stack = await startStack({
        keyed: true,
        functionEnv: {
          // Room for two MobileNets, not three: the third key evicts one.
          MODEL_CACHE_BYTES: String(Math.round(MOBILENET.length * 2.5)),
        },
        onFunctionLine: (fn, line) => {
          if (fn === 'classifyImage') lines.push(line);
        },
      });
      c = await stackClients(stack);
    },
    {timeout: 120_000}
  );

  after(async () => {
    await c?.close();
    await stack?.stop();
  });

  it('serves two keys side by side and rolls each independently', async () => {
    const flowers1 = await upload('flowers/mobilenet_flowers.h5', MOBILENET, contract);
    const dogs1 = await upload('dogs/mobilenet_dogs.h5', MOBILENET, contract);
    await waitCurrent('flowers', flowers1);
    await waitCurrent('dogs', dogs1);
    const [f, d] = await Promise.all([publish('flowers', 6), publish('dogs', 6)]);
    for (const doc of await results(f))
      assert.deepEqual([doc.model_key, doc.model_id, !!doc.label], ['flowers', flowers1, true]);
    for (const doc of await results(d))
      assert.deepEqual([doc.model_key, doc.model_id, !!doc.label], ['dogs', dogs1, true]);

    // Roll flowers only: dogs keeps its model.
    const flowers2 = await upload('flowers/mobilenet_flowers_v2.h5', MOBILENET, contract);
    await waitCurrent('flowers', flowers2);
    assert.equal(await current('dogs'), dogs1);
    const [f2, d2] = await Promise.all([publish('flowers', 6), publish('dogs', 6)]);
    // The first messages after a roll may still be answered by the old model (stale_model);
    // the last ones come from the new one.
    const fdocs = await results(f2);
    assert.ok(fdocs.every(doc => doc.label && [flowers1, flowers2].includes(doc.model_id!)));
    const later = await results(await publish('flowers', 2));
    assert.ok(later.every(doc => doc.model_id === flowers2));
    for (const doc of await results(d2)) assert.equal(doc.model_id, dogs1);
  });

  it('evicts the least recently used model for a third key under MODEL_CACHE_BYTES, and no request fails', async () => {
    const cats1 = await upload('cats/mobilenet_cats.h5', MOBILENET, contract);
    await waitCurrent('cats', cats1);
    const from = lines.length;
    // dogs was used last before flowers' final messages, so dogs is the least recent.
    const ids = (await Promise.all([publish('cats', 8), publish('flowers', 8), publish('dogs', 8)])).flat();
    const docs = await results(ids);
    assert.deepEqual(
      docs.filter(doc => !doc.label).map(doc => doc.error),
      [],
      'no failed request'
    );
    const evictions = lines.slice(from).filter(l => l.includes('"outcome":"evicted"'));
    assert.ok(evictions.length >= 1, 'at least one model was evicted');
    assert.match(evictions[0]!, /"model_key":"dogs"/);
  });

  it('answers an unknown key, and a message naming no key, with unknown_model', async () => {
    const [unknown, none] = await Promise.all([publish('nosuchkey', 1), publish(null, 1)]);
    const [u, n] = await results([...unknown, ...none]);
    assert.equal(u!.error?.kind, 'unknown_model');
    assert.match(u!.error!.message, /no model is recorded for key 'nosuchkey'/);
    assert.equal(n!.error?.kind, 'unknown_model');
    assert.match(n!.error!.message, /DEFAULT_MODEL_KEY is not set/);
  });
});
