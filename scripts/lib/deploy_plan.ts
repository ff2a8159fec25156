/**
 * The gcloud calls of `npm run deploy`, planned from infra/deploy.json and the command line
 * (pure: no gcloud is run here), so that tests can hand each call to the real gcloud's
 * argument parser and read what would be created and granted.
 */
import {parseArgs} from 'node:util';
import type {DeploySpec, FunctionSpec} from './deploy_spec.js';

/** What the command line says. */
export interface DeployOptions {
  readonly project: string;
  readonly region: string;
  readonly modelsBucket: string;
  readonly imagesBucket: string;
  readonly topic: string;
  readonly pattern: string;
  readonly classify: FunctionSpec;
  readonly env: readonly string[];
  readonly skipSetup: boolean;
  readonly dryRun: boolean;
}

/** What only the project can tell (read with gcloud before the calls that need them). */
export interface ProjectFacts {
  readonly projectNumber: string;
  readonly storageAgent: string;
  /** classifyImage's URL, once deployed. */
  readonly classifyUrl: string;
  /** Which of the things created here already exist. */
  readonly exists: (kind: 'topic' | 'account' | 'subscription', name: string) => boolean;
}

/** Parses the command line; null for --help. */
export function parseDeployArgs(argv: string[], spec: DeploySpec): DeployOptions | null {
  const c = spec.functions.classify;
  const {values} = parseArgs({
    args: argv,
    options: {
      project: {type: 'string', default: process.env['GOOGLE_CLOUD_PROJECT']},
      region: {type: 'string', default: 'us-central1'},
      'models-bucket': {type: 'string'},
      'images-bucket': {type: 'string'},
      topic: {type: 'string', default: spec.pubsub.topic},
      'model-pattern': {type: 'string'},
      'classify-memory': {type: 'string', default: c.memory},
      'classify-cpu': {type: 'string', default: c.cpu},
      'classify-concurrency': {type: 'string', default: String(c.concurrency)},
      'max-instances': {type: 'string', default: String(c.max_instances)},
      'min-instances': {type: 'string', default: String(c.min_instances)},
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
    pattern: values['model-pattern'] ?? `gs://${modelsBucket}/models/**/*.{h5,keras}`,
    classify: {
      ...c,
      memory: values['classify-memory'],
      cpu: values['classify-cpu'],
      concurrency: Number(values['classify-concurrency']),
      max_instances: Number(values['max-instances']),
      min_instances: Number(values['min-instances']),
    },
    env: values.env,
    skipSetup: values['skip-setup'],
    dryRun: values['dry-run'],
  };
}

const member = (email: string): string => `--member=serviceAccount:${email}`;

/** The gcloud calls that set up the project: APIs, topics, accounts, roles. */
function setupCalls(o: DeployOptions, spec: DeploySpec, facts: ProjectFacts, sa: (id: string) => string): string[][] {
  const calls: string[][] = [['services', 'enable', ...spec.apis]];
  for (const topic of [o.topic, `${o.topic}-dead-letter`])
    if (!facts.exists('topic', topic)) calls.push(['pubsub', 'topics', 'create', topic]);
  for (const a of Object.values(spec.accounts))
    if (!facts.exists('account', sa(a.id)))
      calls.push(['iam', 'service-accounts', 'create', a.id, `--display-name=${a.display_name}`]);
  const [record, classify, trigger] = [
    sa(spec.accounts.record.id),
    sa(spec.accounts.classify.id),
    sa(spec.accounts.trigger.id),
  ];
  // Bucket-scoped reads: recordModel reads models (and their labels); classifyImage reads
  // models and images. Nobody can write to a bucket.
  const reads: Array<[string, string]> = [
    [o.modelsBucket, record],
    [o.modelsBucket, classify],
    [o.imagesBucket, classify],
  ];
  for (const [bucket, email] of reads)
    calls.push([
      'storage',
      'buckets',
      'add-iam-policy-binding',
      `gs://${bucket}`,
      member(email),
      '--role=roles/storage.objectViewer',
    ]);
  const projectRole = (email: string, role: string) => [
    'projects',
    'add-iam-policy-binding',
    o.project,
    member(email),
    `--role=${role}`,
    '--condition=None',
  ];
  calls.push(projectRole(record, 'roles/datastore.user'), projectRole(classify, 'roles/datastore.user'));
  calls.push(projectRole(trigger, 'roles/eventarc.eventReceiver'));
  // Cloud Storage publishes the finalize events to Eventarc's topic with its service agent.
  calls.push(projectRole(facts.storageAgent, 'roles/pubsub.publisher'));
  return calls;
}

function deployCall(o: DeployOptions, spec: DeploySpec, f: FunctionSpec, account: string, extra: string[]): string[] {
  const env = [
    ...Object.entries(spec.environment).map(([k, v]) => `${k}=${v}`),
    `MODEL_FILE_PATTERN=${o.pattern}`,
    `IMAGE_BUCKETS=${o.imagesBucket}`,
    ...o.env,
  ];
  // The build's environment (npm ci in Cloud Build): see build_environment in deploy.json.
  const build = Object.entries(spec.build_environment ?? {}).map(([k, v]) => `${k}=${v}`);
  return [
    'functions',
    'deploy',
    f.name,
    '--gen2',
    `--runtime=${spec.runtime}`,
    `--region=${o.region}`,
    '--source=.',
    `--entry-point=${f.entry_point}`,
    '--ingress-settings=internal-only',
    '--no-allow-unauthenticated',
    `--service-account=${account}`,
    // `^|^` makes | the separator, so values may contain commas (IMAGE_BUCKETS=a,b).
    `--set-env-vars=^|^${env.join('|')}`,
    ...(build.length > 0 ? [`--set-build-env-vars=^|^${build.join('|')}`] : []),
    `--memory=${f.memory}`,
    `--cpu=${f.cpu}`,
    `--concurrency=${f.concurrency}`,
    `--timeout=${f.timeout_seconds}s`,
    `--min-instances=${f.min_instances}`,
    `--max-instances=${f.max_instances}`,
    ...extra,
  ];
}

/** Every gcloud call of a deploy, in order (without `--project`, which `run` adds). */
export function planDeploy(o: DeployOptions, spec: DeploySpec, facts: ProjectFacts): string[][] {
  const sa = (id: string): string => `${id}@${o.project}.iam.gserviceaccount.com`;
  const trigger = sa(spec.accounts.trigger.id);
  const calls = o.skipSetup ? [] : setupCalls(o, spec, facts, sa);
  calls.push(
    deployCall(o, spec, spec.functions.record, sa(spec.accounts.record.id), [
      '--trigger-event-filters=type=google.cloud.storage.object.v1.finalized',
      `--trigger-event-filters=bucket=${o.modelsBucket}`,
      `--trigger-service-account=${trigger}`,
      '--retry',
    ]),
    // No Eventarc trigger: the push subscription below delivers (see the module comment).
    deployCall(o, spec, o.classify, sa(spec.accounts.classify.id), ['--trigger-http'])
  );
  for (const f of [spec.functions.record, o.classify])
    calls.push(['functions', 'add-invoker-policy-binding', f.name, `--region=${o.region}`, member(trigger)]);

  const p = spec.pubsub;
  const deadLetter = `${o.topic}-dead-letter`;
  const push = `${o.topic}-classify-push`;
  // functions-framework reads the topic from the push path when it makes the CloudEvent.
  const wiring = [
    `--push-endpoint=${facts.classifyUrl}/projects/${o.project}/topics/${o.topic}`,
    `--push-auth-service-account=${trigger}`,
    `--push-auth-token-audience=${facts.classifyUrl}`,
    `--ack-deadline=${p.ack_deadline_seconds}`,
    `--min-retry-delay=${p.minimum_backoff}`,
    `--max-retry-delay=${p.maximum_backoff}`,
    `--dead-letter-topic=${deadLetter}`,
    `--max-delivery-attempts=${p.max_delivery_attempts}`,
  ];
  calls.push(
    facts.exists('subscription', push)
      ? ['pubsub', 'subscriptions', 'update', push, ...wiring]
      : ['pubsub', 'subscriptions', 'create', push, `--topic=${o.topic}`, ...wiring, '--expiration-period=never']
  );
  if (!facts.exists('subscription', `${deadLetter}-pull`)) {
    calls.push([
      'pubsub',
      'subscriptions',
      'create',
      `${deadLetter}-pull`,
      `--topic=${deadLetter}`,
      `--message-retention-duration=${p.dead_letter_retention}`,
      '--expiration-period=never',
    ]);
  }
  // Pub/Sub's own agent signs the push as the trigger account and moves dead letters.
  const agent = `service-${facts.projectNumber}@gcp-sa-pubsub.iam.gserviceaccount.com`;
  calls.push(
    [
      'iam',
      'service-accounts',
      'add-iam-policy-binding',
      trigger,
      member(agent),
      '--role=roles/iam.serviceAccountTokenCreator',
    ],
    ['pubsub', 'topics', 'add-iam-policy-binding', deadLetter, member(agent), '--role=roles/pubsub.publisher'],
    ['pubsub', 'subscriptions', 'add-iam-policy-binding', push, member(agent), '--role=roles/pubsub.subscriber']
  );
  return calls;
}
