/**
 * `npm run deploy` against a fake `gcloud` on PATH that records its arguments: the test
 * asserts what would be created and granted in a real project.
 */
import assert from 'node:assert/strict';
import {execFile} from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {promisify} from 'node:util';
import {before, describe, it} from 'node:test';
import {ROOT} from '../../../scripts/lib/stack.js';

const run = promisify(execFile);

/** A gcloud that logs its argv as JSON, says "not found" to describe, and knows its storage agent. */
function fakeGcloud(dir: string, log: string): void {
  const script = `#!/usr/bin/env node
const fs = require('fs');
const args = process.argv.slice(2);
fs.appendFileSync(${JSON.stringify(log)}, JSON.stringify(args) + '\\n');
if (args.includes('describe')) process.exit(1);
if (args[0] === 'storage' && args[1] === 'service-agent') console.log('service-42@gs-project-accounts.iam.gserviceaccount.com');
`;
  fs.writeFileSync(path.join(dir, 'gcloud'), script, {mode: 0o755});
}

describe('scripts/deploy.ts with a fake gcloud', () => {
  let calls: string[][] = [];
  const find = (...words: string[]): string[][] => calls.filter(c => words.every(w => c.includes(w)));
  const flag = (call: string[], name: string): string[] =>
    call.filter(a => a.startsWith(`--${name}=`)).map(a => a.slice(name.length + 3));

  before(async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fake-gcloud-'));
    const log = path.join(dir, 'calls.jsonl');
    fakeGcloud(dir, log);
    const {stdout} = await run(
      process.execPath,
      [
        '--import',
        'tsx',
        'scripts/deploy.ts',
        '--project=acme-ml',
        '--region=europe-west1',
        '--models-bucket=acme-models',
        '--images-bucket=acme-images',
        '--env=TOP_K=3',
      ],
      {cwd: ROOT, env: {...process.env, PATH: `${dir}:${process.env['PATH']}`}}
    );
    assert.match(stdout, /deployed\./);
    calls = fs
      .readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map(l => JSON.parse(l) as string[]);
    fs.rmSync(dir, {recursive: true});
  });

  it('runs every command against the given project', () => {
    assert.ok(calls.length > 10);
    for (const c of calls) assert.ok(c.includes('--project=acme-ml'), c.join(' '));
  });

  it('creates the topic and three service accounts when they are missing', () => {
    assert.equal(find('pubsub', 'topics', 'create', 'classify-images').length, 1);
    const created = find('iam', 'service-accounts', 'create').map(c => c[3]);
    assert.deepEqual(created.sort(), ['classifier-trigger', 'classify-image-fn', 'record-model-fn']);
  });

  it('deploys recordModel as a 2nd gen nodejs22 function on the models bucket finalize, with retry', () => {
    const [deploy] = find('functions', 'deploy', 'record-model');
    assert.ok(deploy);
    for (const f of [
      '--gen2',
      '--runtime=nodejs22',
      '--retry',
      '--no-allow-unauthenticated',
      '--entry-point=recordModel',
    ])
      assert.ok(deploy.includes(f), f);
    assert.deepEqual(flag(deploy, 'trigger-event-filters'), [
      'type=google.cloud.storage.object.v1.finalized',
      'bucket=acme-models',
    ]);
    assert.deepEqual(flag(deploy, 'service-account'), ['record-model-fn@acme-ml.iam.gserviceaccount.com']);
    assert.deepEqual(flag(deploy, 'trigger-service-account'), ['classifier-trigger@acme-ml.iam.gserviceaccount.com']);
    assert.deepEqual(flag(deploy, 'region'), ['europe-west1']);
  });

  it('deploys classifyImage on the topic with retry, sized for the model, and the config environment', () => {
    const [deploy] = find('functions', 'deploy', 'classify-image');
    assert.ok(deploy);
    for (const f of [
      '--gen2',
      '--runtime=nodejs22',
      '--retry',
      '--entry-point=classifyImage',
      '--trigger-topic=classify-images',
    ])
      assert.ok(deploy.includes(f), f);
    assert.deepEqual(flag(deploy, 'service-account'), ['classify-image-fn@acme-ml.iam.gserviceaccount.com']);
    assert.deepEqual(flag(deploy, 'memory'), ['2Gi']);
    assert.deepEqual(flag(deploy, 'cpu'), ['2']);
    assert.deepEqual(flag(deploy, 'concurrency'), ['8']);
    const [env] = flag(deploy, 'set-env-vars');
    assert.equal(env, '^|^MODEL_FILE_PATTERN=gs://acme-models/models/**/*.h5|IMAGE_BUCKETS=acme-images|TOP_K=3');
  });

  it('grants bucket-scoped reads and no primitive role to anyone', () => {
    const bucketGrants = find('storage', 'buckets', 'add-iam-policy-binding').map(c => [
      c[3],
      flag(c, 'member')[0],
      flag(c, 'role')[0],
    ]);
    assert.deepEqual(bucketGrants, [
      [
        'gs://acme-models',
        'serviceAccount:record-model-fn@acme-ml.iam.gserviceaccount.com',
        'roles/storage.objectViewer',
      ],
      [
        'gs://acme-models',
        'serviceAccount:classify-image-fn@acme-ml.iam.gserviceaccount.com',
        'roles/storage.objectViewer',
      ],
      [
        'gs://acme-images',
        'serviceAccount:classify-image-fn@acme-ml.iam.gserviceaccount.com',
        'roles/storage.objectViewer',
      ],
    ]);
    const projectRoles = find('projects', 'add-iam-policy-binding').map(
      c => `${flag(c, 'member')[0]} ${flag(c, 'role')[0]}`
    );
    assert.deepEqual(projectRoles.sort(), [
      'serviceAccount:classifier-trigger@acme-ml.iam.gserviceaccount.com roles/eventarc.eventReceiver',
      'serviceAccount:classify-image-fn@acme-ml.iam.gserviceaccount.com roles/datastore.user',
      'serviceAccount:record-model-fn@acme-ml.iam.gserviceaccount.com roles/datastore.user',
      'serviceAccount:service-42@gs-project-accounts.iam.gserviceaccount.com roles/pubsub.publisher',
    ]);
    for (const c of calls) assert.ok(!c.some(a => /roles\/(editor|owner|viewer)$/.test(a)), c.join(' '));
  });

  it('lets only the trigger account invoke the functions', () => {
    const invokers = find('functions', 'add-invoker-policy-binding').map(c => [c[2], flag(c, 'member')[0]]);
    assert.deepEqual(invokers, [
      ['record-model', 'serviceAccount:classifier-trigger@acme-ml.iam.gserviceaccount.com'],
      ['classify-image', 'serviceAccount:classifier-trigger@acme-ml.iam.gserviceaccount.com'],
    ]);
    for (const c of find('functions', 'deploy')) assert.ok(c.includes('--ingress-settings=internal-only'));
  });

  it('--dry-run prints the commands and runs none; missing flags exit 64', async () => {
    const {stdout} = await run(
      process.execPath,
      ['--import', 'tsx', 'scripts/deploy.ts', '--project=p', '--models-bucket=m', '--images-bucket=i', '--dry-run'],
      {cwd: ROOT, env: {...process.env, PATH: '/nonexistent'}}
    );
    assert.match(stdout, /\$ gcloud functions deploy classify-image .*--trigger-topic=classify-images/);
    assert.match(stdout, /dry run: nothing was changed/);
    await assert.rejects(
      run(process.execPath, ['--import', 'tsx', 'scripts/deploy.ts', '--project=p'], {cwd: ROOT}),
      (e: {code: number; stderr: string}) => e.code === 64 && /missing --models-bucket, --images-bucket/.test(e.stderr)
    );
  });
});
