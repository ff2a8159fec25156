/**
 * The README's local commands, run as a user runs them: `npm start` (then Ctrl-C) and
 * `npm run demo`. Each starts its own emulators and function processes.
 */
import assert from 'node:assert/strict';
import {spawn, type ChildProcess} from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {describe, it} from 'node:test';
import {Storage} from '@google-cloud/storage';
import {ROOT, STACK_FILE, startStack, type StackInfo} from '../../../scripts/lib/stack.js';

/** Runs an npm script in its own process group, collecting its output. */
function npm(args: string[], env: NodeJS.ProcessEnv = {}): {child: ChildProcess; output: () => string} {
  let out = '';
  const child = spawn('npm', args, {cwd: ROOT, env: {...process.env, ...env}, detached: true});
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  return {child, output: () => out};
}

function exitOf(child: ChildProcess): Promise<number | string> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise(resolve => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
}

async function waitFor(predicate: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise(r => setTimeout(r, 200));
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function listening(hostPort: string): Promise<boolean> {
  const url = new URL(hostPort.includes('://') ? hostPort : `http://${hostPort}`);
  return new Promise(resolve => {
    const socket = net.connect(Number(url.port), url.hostname);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('npm start', {timeout: 300_000}, () => {
  it('serves both functions on the emulators, and Ctrl-C leaves no process or port behind', async t => {
    fs.rmSync(STACK_FILE, {force: true});
    const run = npm(['start', '--', '--quiet']);
    // Whatever fails below, the stack must not outlive the test (it would hold the runner).
    t.after(() => {
      if (run.child.exitCode === null && run.child.signalCode === null) process.kill(-run.child.pid!, 'SIGKILL');
    });
    await waitFor(() => /ready \(pid/.test(run.output()), 120_000, `npm start to be ready:\n${run.output()}`);
    const info = JSON.parse(fs.readFileSync(STACK_FILE, 'utf8')) as StackInfo;
    assert.match(run.output(), /recordModel +http:\/\/127\.0\.0\.1:\d+\//);
    assert.match(run.output(), /npm run upload-model/);
    assert.equal(info.pids.length, 4, 'firestore, pubsub and the two function processes');
    process.env['STORAGE_EMULATOR_HOST'] = info.endpoints.storage;
    const storage = new Storage({projectId: info.projectId});
    const [buckets] = await storage.getBuckets();
    assert.deepEqual(buckets.map(b => b.name).sort(), [info.imagesBucket, info.modelsBucket].sort());
    const endpoints = Object.values(info.endpoints);
    for (const e of endpoints) assert.ok(await listening(e), `${e} listens`);
    // The live page: the HTML, the chart library, and the event stream with the records first
    // (none yet: no model uploaded).
    assert.match(run.output(), /live page +http:\/\/127\.0\.0\.1:\d+\//);
    const page = await fetch(info.endpoints.page!);
    assert.match(await page.text(), /<title>Classifier — live<\/title>/);
    assert.equal((await fetch(new URL('uplot.js', info.endpoints.page!))).status, 200);
    const events = await fetch(new URL('events', info.endpoints.page!));
    assert.equal(events.headers.get('content-type'), 'text/event-stream');
    const reader = events.body!.getReader();
    const first = await reader.read();
    assert.match(Buffer.from(first.value!).toString(), /^data: \{"type":"records","keyed":false,"records":\[\]\}/);
    await reader.cancel();

    process.kill(-run.child.pid!, 'SIGINT'); // what Ctrl-C does: the whole foreground group
    // npm re-raises the signal its script exited on; start.ts itself printed 'stopped' and exited 0.
    assert.ok(['SIGINT', 0].includes(await exitOf(run.child)), run.output());
    assert.match(run.output(), /SIGINT: stopping\.\.\.\n(.*\n)*stopped/);
    for (const pid of info.pids) assert.ok(!alive(pid), `pid ${pid} is gone`);
    for (const e of endpoints) assert.ok(!(await listening(e)), `${e} no longer listens`);
    assert.ok(!fs.existsSync(STACK_FILE), '.local/stack.json removed');
  });

  it('says which jar is missing and how to get it, and exits non-zero', async () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'no-sdk-'));
    const run = npm(['start'], {CLOUDSDK_ROOT: empty});
    assert.equal(await exitOf(run.child), 2, run.output());
    assert.match(run.output(), /emulator jar not found at .*no-sdk-.*apt-get install google-cloud-cli-\w+-emulator/);
    fs.rmSync(empty, {recursive: true});
  });
});

describe('npm run demo', () => {
  it('rolls v1 → v2 while classifying the shared photos, with one result per message', {timeout: 300_000}, async t => {
    const run = npm(['run', 'demo']);
    t.after(() => {
      if (run.child.exitCode === null && run.child.signalCode === null) process.kill(-run.child.pid!, 'SIGKILL');
    });
    const code = await exitOf(run.child);
    assert.equal(code, 0, run.output());
    const lines = run.output().trim().split('\n');
    const summary = JSON.parse(lines.at(-1)!) as Record<string, unknown>;
    assert.deepEqual(Object.keys(summary), [
      'published',
      'predicted',
      'failed',
      'models_seen',
      'switch_observed',
      'stale_after_switch',
      'seconds',
    ]);
    assert.equal(summary['switch_observed'], true);
    assert.equal(summary['failed'], 0);
    assert.equal(summary['stale_after_switch'], 0);
    assert.equal(summary['models_seen'], 2);
    assert.equal(summary['predicted'], summary['published']);
    assert.match(run.output(), /daisy\.jpg +daisy +0\.99\d +mobilenet_v1_0_25_224_imagenet_rolled/);
  });

  const FIXTURES = process.env['FIXTURES_DIR']!;
  it('-- --model x.h5 --images dir/: runs on the files given, without FIXTURES_DIR', {timeout: 300_000}, async t => {
    const run = npm(
      [
        'run',
        'demo',
        '--',
        '--model',
        path.join(FIXTURES, 'models/keras2/mobilenet_v1_0.25_224_imagenet.h5'),
        '--images',
        path.join(FIXTURES, 'images'),
        '--labels',
        path.join(FIXTURES, 'labels/imagenet_class_index.json'),
        '--scale',
        '-1,1',
      ],
      {FIXTURES_DIR: ''}
    );
    t.after(() => {
      if (run.child.exitCode === null && run.child.signalCode === null) process.kill(-run.child.pid!, 'SIGKILL');
    });
    assert.equal(await exitOf(run.child), 0, run.output());
    assert.match(run.output(), /\(your files\)/);
    const summary = JSON.parse(run.output().trim().split('\n').at(-1)!) as Record<string, unknown>;
    assert.equal(summary['switch_observed'], true);
    assert.equal(summary['predicted'], summary['published']);
    assert.match(run.output(), /tiger\.jpeg +tiger +/);
  });

  it('with no arguments, no FIXTURES_DIR and no network, says exactly what to pass and exits 2', async t => {
    const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'demo-cache-'));
    t.after(() => fs.rmSync(cacheDir, {recursive: true, force: true}));
    const closed = await new Promise<number>(resolve => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const {port} = s.address() as net.AddressInfo;
        s.close(() => resolve(port));
      });
    });
    const run = npm(['run', 'demo'], {
      FIXTURES_DIR: '',
      DEMO_ASSET_MIRROR: `http://127.0.0.1:${closed}`,
      DEMO_CACHE_DIR: cacheDir,
    });
    assert.equal(await exitOf(run.child), 2, run.output());
    assert.match(run.output(), /cannot download the demo's files: cannot reach 127\.0\.0\.1/);
    assert.match(
      run.output(),
      /npm run demo -- --model my_model\.h5 --images photos\/ \[--labels labels\.txt\] \[--scale -1,1\]/
    );
  });
});

describe('scripts against a running stack', {timeout: 300_000}, () => {
  it('upload-model, publish-images (files, a gs:// glob, a list file) and status find it through .local/stack.json', async () => {
    const stack = await startStack({writeStackFile: true});
    try {
      const run = async (...args: string[]): Promise<string> => {
        const r = npm(['run', '--silent', ...args]);
        const code = await exitOf(r.child);
        assert.equal(code, 0, r.output());
        return r.output();
      };
      const fixtures = process.env['FIXTURES_DIR']!;
      const uploaded = JSON.parse(
        await run(
          'upload-model',
          '--',
          path.join(fixtures, 'models/keras2/mobilenet_v1_0.25_224_imagenet.h5'),
          '--scale=-1,1',
          `--labels=${path.join(fixtures, 'labels/ImageNetLabels.txt')}`,
          '--json'
        )
      ) as {model_id: string; metadata: Record<string, string>};
      assert.match(uploaded.model_id, /^gs:\/\/demo-local-models\/models\/mobilenet_v1_0\.25_224_imagenet\.h5#\d+$/);
      assert.equal(uploaded.metadata['labels'], 'gs://demo-local-models/labels/ImageNetLabels.txt');

      const list = path.join(os.tmpdir(), `images-${process.pid}.txt`);
      fs.writeFileSync(
        list,
        `# two photos\n${path.join(fixtures, 'images/daisy.jpg')}\n\ngs://demo-local-images/uploads/tiger.jpeg\n`
      );
      const first = JSON.parse(await run('publish-images', '--', path.join(fixtures, 'images/tiger.jpeg'), '--json'));
      const second = JSON.parse(
        await run('publish-images', '--', list, 'gs://demo-local-images/uploads/*.jp*g', '--json')
      );
      fs.rmSync(list);
      assert.equal(first.published, 1);
      // The glob is listed before this run uploads daisy.jpg, so it finds only tiger.jpeg.
      assert.deepEqual((second.messages as Array<{image: string}>).map(m => m.image).sort(), [
        'gs://demo-local-images/uploads/daisy.jpg',
        'gs://demo-local-images/uploads/tiger.jpeg',
        'gs://demo-local-images/uploads/tiger.jpeg',
      ]);
      let status: {current: {model_id: string}; predictions: Array<{image: string; label?: string}>} | null = null;
      const deadline = Date.now() + 60_000;
      while ((status?.predictions.length ?? 0) < 4 && Date.now() < deadline) {
        status = JSON.parse(await run('status', '--', '--json'));
        await new Promise(r => setTimeout(r, 300));
      }
      const s = status!;
      assert.equal(s.current.model_id, uploaded.model_id);
      const labels = new Map(s.predictions.map(p => [p.image, p.label]));
      assert.equal(labels.get('gs://demo-local-images/uploads/daisy.jpg'), 'daisy');
      assert.equal(labels.get('gs://demo-local-images/uploads/tiger.jpeg'), 'tiger');

      // Batch messages: a folder (one message, a result per object) and --batch 2 over three paths.
      const folder = JSON.parse(await run('publish-images', '--', 'gs://demo-local-images/uploads/', '--json'));
      const uploads = ['daisy.jpg', 'tiger.jpeg', 'missing.jpg'].map(f => `gs://demo-local-images/uploads/${f}`);
      const batched = JSON.parse(await run('publish-images', '--', ...uploads, '--batch', '2', '--json'));
      assert.equal(folder.published, 1);
      assert.equal(batched.published, 2);
      const want = 4 + 2 + 3;
      const until = Date.now() + 60_000;
      while ((status?.predictions.length ?? 0) < want && Date.now() < until) {
        status = JSON.parse(await run('status', '--', '--json'));
        await new Promise(r => setTimeout(r, 300));
      }
      const after = status!.predictions as Array<{image: string; label?: string; error?: {kind: string}}>;
      assert.equal(after.length, want);
      const outcome = (p: {label?: string; error?: {kind: string}}) => p.label ?? p.error?.kind;
      assert.deepEqual(after.map(p => `${p.image} ${outcome(p)}`).sort(), [
        ...Array(3).fill('gs://demo-local-images/uploads/daisy.jpg daisy'),
        'gs://demo-local-images/uploads/missing.jpg not_found',
        ...Array(5).fill('gs://demo-local-images/uploads/tiger.jpeg tiger'),
      ]);
    } finally {
      await stack.stop();
    }
  });
});
