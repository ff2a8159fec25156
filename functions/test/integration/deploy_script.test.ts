/**
 * `npm run deploy`:
 * - every call it plans goes through the real gcloud's argument parser (an empty
 *   CLOUDSDK_CONFIG: it parses every flag, then stops at "no credentialed account"; an
 *   unknown flag or value exits 2);
 * - against a recording shim on PATH that answers what a project would (not found, the
 *   function's URL, the project number), the test asserts what would be created and granted.
 */
import assert from 'node:assert/strict';
import {execFile, spawnSync} from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {promisify} from 'node:util';
import {before, describe, it} from 'node:test';
import {ROOT} from '../../../scripts/lib/stack.js';
import {readDeploySpec} from '../../../scripts/lib/deploy_spec.js';
import {parseDeployArgs, planDeploy} from '../../../scripts/lib/deploy_plan.js';

const run = promisify(execFile);

/** A gcloud that logs its argv as JSON, says "not found" to describe, and knows its storage agent. */
function fakeGcloud(dir: string, log: string): void {
  const script = `#!/usr/bin/env node
const fs = require('fs');
const args = process.argv.slice(2);
fs.appendFileSync(${JSON.stringify(log)}, JSON.stringify(args) + '\\n');
if (args[0] === 'functions' && args[1] === 'describe') { console.log('https://classify-image-xyz-ew.a.run.app'); process.exit(0); }
if (args[0] === 'projects' && args[1] === 'describe') { console.log('42'); process.exit(0); }
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

  it('creates the topic, its dead-letter topic and three service accounts when they are missing', () => {
    assert.equal(find('pubsub', 'topics', 'create', 'classify-images').length, 1);
    assert.equal(find('pubsub', 'topics', 'create', 'classify-images-dead-letter').length, 1);
    const created = find('iam', 'service-accounts', 'create').map(c => c[3]);
    assert.deepEqual(created.sort(), ['classifier-trigger', 'classify-image-fn', 'record-model-fn']);
  });

  it('deploys recordModel as a 2nd gen nodejs24 function on the models bucket finalize, with retry', () => {
    const [deploy] = find('functions', 'deploy', 'record-model');
    assert.ok(deploy);
    for (const f of [
      '--gen2',
      '--runtime=nodejs24',
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

  it('deploys classifyImage without an Eventarc trigger, sized from infra/deploy.json, with its environment', () => {
    const [deploy] = find('functions', 'deploy', 'classify-image');
    assert.ok(deploy);
    for (const f of ['--gen2', '--runtime=nodejs24', '--trigger-http', '--entry-point=classifyImage'])
      assert.ok(deploy.includes(f), f);
    assert.ok(!deploy.some(a => a.startsWith('--trigger-topic')), 'no Eventarc Pub/Sub trigger');
    assert.deepEqual(flag(deploy, 'service-account'), ['classify-image-fn@acme-ml.iam.gserviceaccount.com']);
    assert.deepEqual(flag(deploy, 'memory'), ['2Gi']);
    assert.deepEqual(flag(deploy, 'cpu'), ['2']);
    assert.deepEqual(flag(deploy, 'concurrency'), ['8']);
    const [env] = flag(deploy, 'set-env-vars');
    assert.equal(
      env,
      '^|^INFERENCE_ENGINE=auto|MODEL_FILE_PATTERN=gs://acme-models/models/**/*.{h5,keras}|IMAGE_BUCKETS=acme-images|TOP_K=3'
    );
  });

  it("builds both functions with onnxruntime-node's CUDA download skipped, as .npmrc does", () => {
    for (const name of ['record-model', 'classify-image']) {
      const [deploy] = find('functions', 'deploy', name);
      assert.deepEqual(flag(deploy!, 'set-build-env-vars'), ['^|^ONNXRUNTIME_NODE_INSTALL=skip'], name);
    }
  });

  it('feeds classifyImage from a push subscription with backoff and a dead-letter topic, as infra/ does', () => {
    const [sub] = find('pubsub', 'subscriptions', 'create', 'classify-images-classify-push');
    assert.ok(sub);
    const url = 'https://classify-image-xyz-ew.a.run.app';
    assert.deepEqual(flag(sub, 'push-endpoint'), [`${url}/projects/acme-ml/topics/classify-images`]);
    assert.deepEqual(flag(sub, 'push-auth-token-audience'), [url]);
    assert.deepEqual(flag(sub, 'push-auth-service-account'), ['classifier-trigger@acme-ml.iam.gserviceaccount.com']);
    assert.deepEqual(flag(sub, 'dead-letter-topic'), ['classify-images-dead-letter']);
    // The same numbers as the Terraform (both read infra/deploy.json).
    const spec = JSON.parse(fs.readFileSync(path.join(ROOT, 'infra/deploy.json'), 'utf8')) as {
      pubsub: Record<string, string | number>;
    };
    assert.deepEqual(flag(sub, 'max-delivery-attempts'), [String(spec.pubsub['max_delivery_attempts'])]);
    assert.deepEqual(flag(sub, 'min-retry-delay'), [String(spec.pubsub['minimum_backoff'])]);
    assert.deepEqual(flag(sub, 'max-retry-delay'), [String(spec.pubsub['maximum_backoff'])]);
    assert.deepEqual(flag(sub, 'ack-deadline'), [String(spec.pubsub['ack_deadline_seconds'])]);
    assert.equal(find('pubsub', 'subscriptions', 'create', 'classify-images-dead-letter-pull').length, 1);
    const agent = 'serviceAccount:service-42@gcp-sa-pubsub.iam.gserviceaccount.com';
    assert.deepEqual(
      [...find('iam', 'service-accounts', 'add-iam-policy-binding'), ...find('pubsub', 'add-iam-policy-binding')].map(
        c => `${c[3]} ${flag(c, 'member')[0]} ${flag(c, 'role')[0]}`
      ),
      [
        `classifier-trigger@acme-ml.iam.gserviceaccount.com ${agent} roles/iam.serviceAccountTokenCreator`,
        `classify-images-dead-letter ${agent} roles/pubsub.publisher`,
        `classify-images-classify-push ${agent} roles/pubsub.subscriber`,
      ]
    );
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
    assert.match(stdout, /\$ gcloud functions deploy classify-image .*--trigger-http/);
    assert.match(stdout, /\$ gcloud pubsub subscriptions create classify-images-classify-push .*--dead-letter-topic=/);
    assert.match(stdout, /dry run: nothing was changed/);
    await assert.rejects(
      run(process.execPath, ['--import', 'tsx', 'scripts/deploy.ts', '--project=p'], {cwd: ROOT}),
      (e: {code: number; stderr: string}) => e.code === 64 && /missing --models-bucket, --images-bucket/.test(e.stderr)
    );
  });
});

describe('scripts/deploy.ts against the real gcloud CLI', () => {
  const gcloud = spawnSync('gcloud', ['--version'], {encoding: 'utf8'});
  const available = gcloud.status === 0;
  if (!available) console.log('!!! SKIPPED the real-gcloud parse of npm run deploy: gcloud is not installed');

  it(
    'parses every planned call: no unknown flag, no bad value (it stops only for credentials)',
    {skip: !available},
    async () => {
      const spec = readDeploySpec();
      const options = parseDeployArgs(
        [
          '--project=acme-ml',
          '--region=europe-west1',
          '--models-bucket=acme-models',
          '--images-bucket=acme-images',
          '--env=TOP_K=3',
        ],
        spec
      )!;
      const facts = {
        projectNumber: '42',
        storageAgent: 'service-42@gs-project-accounts.iam.gserviceaccount.com',
        classifyUrl: 'https://classify-image-xyz-ew.a.run.app',
        exists: () => false,
      };
      const calls = [
        ...planDeploy(options, spec, facts),
        // The update path, for a second deploy onto an existing subscription.
        ...planDeploy(options, spec, {...facts, exists: () => true}).filter(c => c[2] === 'update'),
      ];
      const config = fs.mkdtempSync(path.join(os.tmpdir(), 'gcloud-config-'));
      const env = {...process.env, CLOUDSDK_CONFIG: config, CLOUDSDK_CORE_DISABLE_PROMPTS: '1'};
      const results = await Promise.all(
        calls.map(async call => {
          const out = await run('gcloud', [...call, '--project=acme-ml'], {env}).catch(
            (e: {code: number; stderr: string}) => e
          );
          return {call, code: (out as {code?: number}).code ?? 0, stderr: String((out as {stderr: string}).stderr)};
        })
      );
      fs.rmSync(config, {recursive: true, force: true});
      for (const r of results) {
        const line = `gcloud ${r.call.join(' ')}`;
        assert.notEqual(r.code, 2, `${line}\n${r.stderr}`);
        assert.doesNotMatch(r.stderr, /unrecognized arguments|Invalid choice|argument --[\w-]+:/, line);
        assert.match(
          r.stderr,
          /credential|auth login|account/i,
          `${line} should stop only for credentials:\n${r.stderr}`
        );
      }
      assert.ok(results.length >= 20, `${results.length} calls`);
    }
  );
});
