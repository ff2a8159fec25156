/**
 * `npm run deploy -- --project P --models-bucket M --images-bucket I`: deploy both functions
 * to Cloud Functions (2nd gen, nodejs22) with gcloud, idempotently:
 *
 * 1. enable the APIs; create the topic and the three service accounts when missing:
 *    one runtime account per function and one for the triggers;
 * 2. grant only what each needs: objectViewer on exactly the buckets it reads, Firestore
 *    user, Eventarc event receiver for the trigger account, Pub/Sub publisher for the Cloud
 *    Storage service agent (it publishes the finalize events);
 * 3. deploy recordModel (GCS finalize trigger on the models bucket) and classifyImage
 *    (Pub/Sub trigger on the topic), both with retry on failure, internal ingress, no
 *    unauthenticated access, and the environment of config.ts;
 * 4. let the trigger account, and only it, invoke them.
 *
 * `--dry-run` prints the commands instead. The Terraform in infra/ is the declarative
 * equivalent (with a dead-letter topic, which the Eventarc Pub/Sub trigger cannot have).
 */
import {execFileSync} from 'node:child_process';
import {parseArgs} from 'node:util';
import {ROOT} from './lib/stack.js';
import {runMain} from './lib/cli.js';

const USAGE = `usage: npm run deploy -- --project P --models-bucket M --images-bucket I [options]
  --region R              (default us-central1)
  --topic T               topic classifyImage listens to (default classify-images)
  --model-pattern GLOB    MODEL_FILE_PATTERN (default gs://M/models/**/*.h5)
  --classify-memory 2Gi   --classify-cpu 2   --classify-concurrency 8   --max-instances 20
  --min-instances N       classifyImage instances kept warm (default 0)
  --env K=V               extra environment for both functions (repeatable), e.g. TOP_K=3
  --skip-setup            only deploy the functions (APIs, accounts and roles already done)
  --dry-run               print the gcloud commands instead of running them`;

const APIS = [
  'cloudfunctions.googleapis.com',
  'run.googleapis.com',
  'eventarc.googleapis.com',
  'cloudbuild.googleapis.com',
  'artifactregistry.googleapis.com',
  'pubsub.googleapis.com',
  'firestore.googleapis.com',
  'storage.googleapis.com',
  'logging.googleapis.com',
];

interface Options {
  project: string;
  region: string;
  modelsBucket: string;
  imagesBucket: string;
  topic: string;
  pattern: string;
  memory: string;
  cpu: string;
  concurrency: string;
  maxInstances: string;
  minInstances: string;
  env: string[];
  skipSetup: boolean;
  dryRun: boolean;
}

function parse(argv: string[]): Options | null {
  const {values} = parseArgs({
    args: argv,
    options: {
      project: {type: 'string', default: process.env['GOOGLE_CLOUD_PROJECT']},
      region: {type: 'string', default: 'us-central1'},
      'models-bucket': {type: 'string'},
      'images-bucket': {type: 'string'},
      topic: {type: 'string', default: 'classify-images'},
      'model-pattern': {type: 'string'},
      'classify-memory': {type: 'string', default: '2Gi'},
      'classify-cpu': {type: 'string', default: '2'},
      'classify-concurrency': {type: 'string', default: '8'},
      'max-instances': {type: 'string', default: '20'},
      'min-instances': {type: 'string', default: '0'},
      env: {type: 'string', multiple: true, default: []},
      'skip-setup': {type: 'boolean', default: false},
      'dry-run': {type: 'boolean', default: false},
      help: {type: 'boolean', short: 'h', default: false},
    },
  });
  if (values.help) return null;
  const missing = ['project', 'models-bucket', 'images-bucket'].filter(k => !values[k as keyof typeof values]);
  if (missing.length) throw new Error(`missing ${missing.map(m => `--${m}`).join(', ')}`);
  for (const e of values.env) if (!/^[A-Z_][A-Z0-9_]*=/.test(e)) throw new Error(`--env wants K=V, not '${e}'`);
  const modelsBucket = values['models-bucket']!;
  return {
    project: values.project!,
    region: values.region,
    modelsBucket,
    imagesBucket: values['images-bucket']!,
    topic: values.topic,
    pattern: values['model-pattern'] ?? `gs://${modelsBucket}/models/**/*.h5`,
    memory: values['classify-memory'],
    cpu: values['classify-cpu'],
    concurrency: values['classify-concurrency'],
    maxInstances: values['max-instances'],
    minInstances: values['min-instances'],
    env: values.env,
    skipSetup: values['skip-setup'],
    dryRun: values['dry-run'],
  };
}

async function main(): Promise<number> {
  let o: Options | null;
  try {
    o = parse(process.argv.slice(2));
  } catch (e) {
    console.error(`deploy: ${(e as Error).message}\n${USAGE}`);
    return 64;
  }
  if (!o) {
    console.log(USAGE);
    return 0;
  }
  const opts = o;
  const run = (args: string[], capture = false): string => {
    const all = [...args, `--project=${opts.project}`];
    console.log(`$ gcloud ${all.join(' ')}`);
    if (opts.dryRun) return '';
    return execFileSync('gcloud', all, {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', capture ? 'pipe' : 'inherit', 'inherit'],
    });
  };
  const exists = (args: string[]): boolean => {
    if (opts.dryRun) return false;
    try {
      execFileSync('gcloud', [...args, `--project=${opts.project}`], {stdio: 'ignore'});
      return true;
    } catch {
      return false;
    }
  };
  const sa = (name: string): string => `${name}@${opts.project}.iam.gserviceaccount.com`;
  const accounts = {
    record: sa('record-model-fn'),
    classify: sa('classify-image-fn'),
    trigger: sa('classifier-trigger'),
  };
  const member = (email: string): string => `--member=serviceAccount:${email}`;

  if (!opts.skipSetup) {
    run(['services', 'enable', ...APIS]);
    if (!exists(['pubsub', 'topics', 'describe', opts.topic])) run(['pubsub', 'topics', 'create', opts.topic]);
    const names: Record<string, string> = {
      'record-model-fn': 'recordModel runtime',
      'classify-image-fn': 'classifyImage runtime',
      'classifier-trigger': 'Eventarc triggers of the classifier',
    };
    for (const [name, display] of Object.entries(names)) {
      if (!exists(['iam', 'service-accounts', 'describe', sa(name)]))
        run(['iam', 'service-accounts', 'create', name, `--display-name=${display}`]);
    }
    // Bucket-scoped reads: recordModel reads models (and their labels); classifyImage reads
    // models and images. Nobody can write to a bucket.
    const reads: Array<[string, string]> = [
      [opts.modelsBucket, accounts.record],
      [opts.modelsBucket, accounts.classify],
      [opts.imagesBucket, accounts.classify],
    ];
    for (const [bucket, email] of reads) {
      run([
        'storage',
        'buckets',
        'add-iam-policy-binding',
        `gs://${bucket}`,
        member(email),
        '--role=roles/storage.objectViewer',
      ]);
    }
    for (const email of [accounts.record, accounts.classify]) {
      run([
        'projects',
        'add-iam-policy-binding',
        opts.project,
        member(email),
        '--role=roles/datastore.user',
        '--condition=None',
      ]);
    }
    run([
      'projects',
      'add-iam-policy-binding',
      opts.project,
      member(accounts.trigger),
      '--role=roles/eventarc.eventReceiver',
      '--condition=None',
    ]);
    // Cloud Storage publishes the finalize events to Eventarc's topic with its service agent.
    const agent =
      run(['storage', 'service-agent'], true).trim() ||
      `service-PROJECT_NUMBER@gs-project-accounts.iam.gserviceaccount.com`;
    run([
      'projects',
      'add-iam-policy-binding',
      opts.project,
      member(agent),
      '--role=roles/pubsub.publisher',
      '--condition=None',
    ]);
  }

  const env = [`MODEL_FILE_PATTERN=${opts.pattern}`, `IMAGE_BUCKETS=${opts.imagesBucket}`, ...opts.env];
  // `^|^` makes | the separator, so values may contain commas (IMAGE_BUCKETS=a,b).
  const envFlag = `--set-env-vars=^|^${env.join('|')}`;
  const common = [
    '--gen2',
    '--runtime=nodejs22',
    `--region=${opts.region}`,
    `--source=.`,
    '--retry',
    '--ingress-settings=internal-only',
    '--no-allow-unauthenticated',
    `--trigger-service-account=${accounts.trigger}`,
    envFlag,
  ];
  run([
    'functions',
    'deploy',
    'record-model',
    ...common,
    '--entry-point=recordModel',
    '--trigger-event-filters=type=google.cloud.storage.object.v1.finalized',
    `--trigger-event-filters=bucket=${opts.modelsBucket}`,
    `--service-account=${accounts.record}`,
    // The promotion gate loads the model: one event at a time keeps memory bounded.
    '--memory=1Gi',
    '--cpu=1',
    '--concurrency=1',
    '--timeout=300s',
    '--max-instances=5',
  ]);
  run([
    'functions',
    'deploy',
    'classify-image',
    ...common,
    '--entry-point=classifyImage',
    `--trigger-topic=${opts.topic}`,
    `--service-account=${accounts.classify}`,
    // Two models are resident during a swap; the pool and tfjs-node use every vCPU.
    `--memory=${opts.memory}`,
    `--cpu=${opts.cpu}`,
    `--concurrency=${opts.concurrency}`,
    '--timeout=120s',
    `--min-instances=${opts.minInstances}`,
    `--max-instances=${opts.maxInstances}`,
  ]);
  for (const fn of ['record-model', 'classify-image']) {
    run(['functions', 'add-invoker-policy-binding', fn, `--region=${opts.region}`, member(accounts.trigger)]);
  }
  console.log(
    opts.dryRun
      ? 'dry run: nothing was changed'
      : `deployed. Upload a model: npm run upload-model -- model.h5 --project=${opts.project} --bucket=${opts.modelsBucket}`
  );
  return 0;
}

runMain(main, 'deploy');
