/**
 * CUTOVER=consistent on the local stack, with two classifyImage processes behind the push
 * endpoint (a round-robin balancer, as Cloud Run's URL): while messages stream, a new
 * version is promoted; no message published after the promotion's commit (the record's
 * update time) is answered by the old model. Each instance waits for the new model (or lets
 * Pub/Sub redeliver) instead of answering with the one it replaces.
 */
import assert from 'node:assert/strict';
import {after, before, describe, it} from 'node:test';
import {startStack, type Stack} from '../../../scripts/lib/stack.js';
import {mobileNetV2H5} from '../../../scripts/lib/mobilenet_v2.js';
import {CONTRACT, MOBILENET, sleep, stackClients, type StackClients} from '../helpers/local_stack.js';

// FIXTURES_DIR: the shared MobileNet and photos (helpers/local_stack.ts).
describe('CUTOVER=consistent with two classifyImage instances', {timeout: 300_000}, () => {
  let stack: Stack;
  let c: StackClients;
  const publish = (i: number) => c.publishPhotos(1, {offset: i}).then(ids => ids[0]!);
  const committed = (modelId: string) => c.waitCurrent('current', modelId);

  let BIG: Buffer;
  before(
    async () => {
      BIG = Buffer.from(await mobileNetV2H5());
      stack = await startStack({classifyInstances: 2, functionEnv: {CUTOVER: 'consistent'}});
      c = await stackClients(stack);
    },
    {timeout: 120_000}
  );

  after(async () => {
    await c?.close();
    await stack?.stop();
  });

  it('answers no message published after the promotion commit with the old model', async () => {
    const v1 = await c.uploadModel('models/mobilenet_v1.h5', MOBILENET, CONTRACT);
    await committed(v1);
    await c.results(await c.publishPhotos(20)); // both instances warm
    assert.ok(stack.balancer!.counts.every(n => n > 0) && stack.balancer!.counts.length === 2, 'both instances served');

    const sent: Array<{id: Promise<string>; at: number}> = [];
    let streaming = true;
    const stream = (async () => {
      for (let i = 0; streaming; i++) {
        sent.push({id: publish(i), at: Date.now()});
        await sleep(100); // well under what two instances answer: no backlog, so messages arrive during the load
      }
    })();
    await sleep(1500);
    // A bigger model (MobileNetV2 1.0, 14 MB, random weights): its load takes long enough that
    // messages arrive while it loads, which CUTOVER=available would answer with v1.
    const v2 = await c.uploadModel('models/mobilenet_v2.h5', BIG, {scale: '-1,1'});
    const commit = await committed(v2);
    await sleep(4000);
    streaming = false;
    await stream;
    const ids = await Promise.all(sent.map(s => s.id));
    const docs = await c.results<{model_id: string; label?: string}>(ids);
    const after = docs.filter((_, i) => sent[i]!.at > commit);
    const before = docs.filter((_, i) => sent[i]!.at < commit - 2000);
    assert.ok(after.length >= 20, `${after.length} messages published after the commit`);
    assert.deepEqual(
      after.filter(d => d.model_id !== v2).map(d => d.model_id),
      [],
      'a message published after the commit was answered by the old model'
    );
    assert.ok(before.length > 0 && before.some(d => d.model_id === v1));
    assert.ok(docs.every(d => d.label !== undefined));
  });
});
