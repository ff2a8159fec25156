/**
 * Crashed instances on the whole local stack. The stack starts a function process again on
 * the same port when it dies (`restartDead`, as Cloud Run replaces a crashed instance behind
 * its URL); the tests kill them with SIGKILL, as the OOM killer would, at the worst moments:
 * recordModel inside its gate, classifyImage inside its first model load, and classifyImage in
 * the middle of a stream of single and batch messages. A storage proxy that stalls downloads
 * holds each process inside the step it is killed in. Nothing may be lost or doubled.
 */
import assert from 'node:assert/strict';
import {after, before, describe, it} from 'node:test';
import {startStack, type FunctionProcess, type Stack} from '../../../scripts/lib/stack.js';
import {CONTRACT, MOBILENET, PHOTOS, sleep, stackClients, type StackClients} from '../helpers/local_stack.js';

interface Line {
  fn: string;
  pid: number | undefined;
  line: string;
}

describe('crashed instances on the local stack', {timeout: 600_000}, () => {
  let stack: Stack;
  let c: StackClients;
  let v1 = '';
  const lines: Line[] = [];

  before(async () => {
    stack = await startStack({
      faults: true,
      restartDead: true,
      onFunctionLine: (fn, line) => {
        const current = fn === 'recordModel' ? stack?.functions.recordModel : stack?.functions.classifyImage;
        lines.push({fn, pid: current?.child.pid, line});
      },
    });
    c = await stackClients(stack);
  });
  after(async () => {
    await c?.close();
    await stack?.stop();
  });

  const until = async (what: string, ok: () => boolean | Promise<boolean>, ms = 60_000) => {
    const deadline = Date.now() + ms;
    while (!(await ok())) {
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
      await sleep(50);
    }
  };
  /** SIGKILLs a process and waits until the stack has started it again. */
  const kill = async (fn: () => FunctionProcess) => {
    const dead = fn();
    const restarts = stack.restarts.length;
    dead.child.kill('SIGKILL');
    assert.equal(await dead.exited, 'SIGKILL');
    await until(`${dead.name} to be started again`, () => stack.restarts.length > restarts);
    assert.notEqual(fn().child.pid, dead.child.pid);
  };

  it('recordModel killed inside its gate: the event is delivered again and the version is recorded exactly once', async () => {
    const storageProxy = stack.faults!.storage;
    storageProxy.stall(); // the gate's download of the model hangs
    try {
      v1 = await c.uploadModel('crash/mobilenet_v1.h5', MOBILENET, CONTRACT);
      await until('the gate to start downloading the model', () => storageProxy.stalled > 0);
      assert.equal((await c.db.doc('models/current').get()).exists, false, 'nothing recorded before the kill');
      await kill(() => stack.functions.recordModel);
    } finally {
      storageProxy.resume();
    }
    await c.waitCurrent('current', v1);
    const history = await c.db.collection('models/current/history').get();
    assert.deepEqual(
      history.docs.map(d => d.get('model_id')),
      [v1]
    );
    assert.equal(history.docs[0]!.get('status'), 'accepted');
    const promoted = lines.filter(l => l.fn === 'recordModel' && l.line.includes('"outcome":"promote"'));
    assert.equal(promoted.length, 1, 'one promotion');
    assert.equal(promoted[0]!.pid, stack.functions.recordModel.child.pid, 'by the restarted process');
  });

  it('classifyImage killed inside its first model load: the next process loads the model and serves it', async () => {
    const storageProxy = stack.faults!.storage;
    storageProxy.stall(); // the model download hangs
    let ids: string[];
    try {
      ids = await c.publishPhotos(1, {offset: PHOTOS.indexOf('daisy.jpg')});
      await until('classifyImage to start downloading the model', () => storageProxy.stalled > 0);
      await kill(() => stack.functions.classifyImage);
    } finally {
      storageProxy.resume();
    }
    const [doc] = await c.results<{label: string; model_id: string}>(ids);
    assert.equal(doc!.label, 'daisy');
    assert.equal(doc!.model_id, v1);
    const serving = lines.filter(l => l.fn === 'classifyImage' && l.line.includes('now serving'));
    assert.ok(serving.length >= 1);
    assert.ok(
      serving.every(l => l.pid === stack.functions.classifyImage.child.pid),
      'only the new process loaded it'
    );
  });

  it('classifyImage killed mid-stream (single and folder messages): every message ends with exactly one document per image', async () => {
    const pushed = () => stack.balancer!.counts.reduce((a, b) => a + b, 0);
    const pushesBefore = pushed();
    const singles = await c.publishPhotos(60);
    const folder = await c.topic.publishMessage({data: Buffer.from(`gs://${stack.info.imagesBucket}/photos/`)});
    const more = await c.publishPhotos(20, {offset: 3});
    const ids = [...singles, ...more];
    // Kill once some results are in and more are in flight.
    await until('a quarter of the results', async () => {
      const got = await c.db.collection('predictions').where('message_id', 'in', ids.slice(0, 30)).count().get();
      return got.data().count >= 15;
    });
    await kill(() => stack.functions.classifyImage);
    const docs = await c.results<{label?: string; model_id: string}>(ids, 180_000);
    // The kill dropped requests in flight: Pub/Sub pushed them again.
    assert.ok(
      pushed() - pushesBefore > ids.length + 1,
      `${pushed() - pushesBefore} pushes for ${ids.length + 1} messages`
    );
    assert.ok(
      docs.every(d => d.label && d.model_id === v1),
      'every single-image message answered by v1'
    );
    await until(
      'every photo of the folder message',
      async () => (await c.db.collection('predictions').where('message_id', '==', folder).get()).size >= PHOTOS.length
    );
    // Exactly one document per message (and per image of the folder), whatever was redelivered.
    const all = await c.db.collection('predictions').get();
    const perMessage = new Map<string, number>();
    for (const d of all.docs) {
      const id = d.get('message_id') as string;
      perMessage.set(id, (perMessage.get(id) ?? 0) + 1);
    }
    for (const id of ids) assert.equal(perMessage.get(id), 1, id);
    assert.equal(perMessage.get(folder), PHOTOS.length);
    const folderDocs = all.docs.filter(d => d.get('message_id') === folder);
    assert.deepEqual(
      folderDocs.map(d => d.get('batch_index') as number).sort((a, b) => a - b),
      [...PHOTOS.keys()]
    );
    assert.ok(folderDocs.every(d => d.get('label')));
  });
});
