/**
 * infra/: terraform cannot be installed here, so the HCL is parsed (@cdktf/hcl2json) and
 * its structure asserted: what exists, how it is wired, and who may do what.
 * cloudbuild.yaml runs `terraform fmt -check` and `validate` where terraform is available.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {before, describe, it} from 'node:test';
import {parse} from '@cdktf/hcl2json';
import {ROOT} from '../../../scripts/lib/stack.js';

type Block = Record<string, unknown>;
interface Tf {
  files: string[];
  resource: Record<string, Record<string, Block>>;
  variable: Record<string, Block>;
  output: Record<string, Block>;
  terraform: Block[];
  data: Record<string, Record<string, Block>>;
}

const INFRA = path.join(ROOT, 'infra');

async function load(): Promise<Tf> {
  const tf: Tf = {files: [], resource: {}, variable: {}, output: {}, terraform: [], data: {}};
  for (const file of fs.readdirSync(INFRA).filter(f => f.endsWith('.tf'))) {
    tf.files.push(file);
    const json = (await parse(file, fs.readFileSync(path.join(INFRA, file), 'utf8'))) as Record<string, unknown>;
    for (const [type, byName] of Object.entries((json['resource'] ?? {}) as Record<string, Record<string, Block[]>>))
      for (const [name, [body]] of Object.entries(byName)) (tf.resource[type] ??= {})[name] = body!;
    for (const [type, byName] of Object.entries((json['data'] ?? {}) as Record<string, Record<string, Block[]>>))
      for (const [name, [body]] of Object.entries(byName)) (tf.data[type] ??= {})[name] = body!;
    for (const [name, [body]] of Object.entries((json['variable'] ?? {}) as Record<string, Block[]>))
      tf.variable[name] = body!;
    for (const [name, [body]] of Object.entries((json['output'] ?? {}) as Record<string, Block[]>))
      tf.output[name] = body!;
    tf.terraform.push(...((json['terraform'] ?? []) as Block[]));
  }
  return tf;
}

/** All resources of the given types, flattened with their type and name. */
function all(tf: Tf, ...types: string[]): Array<Block & {_id: string}> {
  return types.flatMap(t => Object.entries(tf.resource[t] ?? {}).map(([n, b]) => ({...b, _id: `${t}.${n}`})));
}

const first = <T>(v: unknown): T => (Array.isArray(v) ? v[0] : v) as T;

describe('infra/ Terraform', () => {
  let tf: Tf;
  before(async () => {
    tf = await load();
  });

  it('has one file per concern', () => {
    for (const f of [
      'apis',
      'buckets',
      'pubsub',
      'firestore',
      'iam',
      'functions',
      'monitoring',
      'dashboard',
      'alerts',
      'spec',
      'variables',
      'outputs',
      'versions',
    ])
      assert.ok(tf.files.includes(`${f}.tf`), `${f}.tf`);
  });

  it('pins terraform and provider versions to ranges', () => {
    const t = tf.terraform[0]!;
    assert.match(String(t['required_version']), />= 1\.\d+\.\d+, < 2\.0\.0/);
    const providers = first<Record<string, {version: string}>>(t['required_providers']);
    for (const p of ['google', 'archive']) assert.match(providers[p]!.version, /^>= [\d.]+, < [\d.]+$/, p);
  });

  it('types, describes and validates its variables; describes its outputs', () => {
    for (const [name, v] of Object.entries(tf.variable)) {
      assert.ok(v['type'], `${name} has a type`);
      assert.ok(v['description'], `${name} has a description`);
    }
    for (const name of [
      'project_id',
      'region',
      'models_bucket_name',
      'images_bucket_name',
      'classify_memory',
      'max_delivery_attempts',
    ])
      assert.ok(tf.variable[name]!['validation'], `${name} is validated`);
    for (const [name, o] of Object.entries(tf.output)) assert.ok(o['description'], `${name} has a description`);
  });

  it('enables the APIs it needs, from the deploy spec', () => {
    const apis = tf.resource['google_project_service']!['apis']!;
    assert.equal(apis['for_each'], '${local.apis}');
    assert.match(fs.readFileSync(path.join(INFRA, 'apis.tf'), 'utf8'), /toset\(local\.spec\.apis\)/);
    const src = fs.readFileSync(path.join(INFRA, 'deploy.json'), 'utf8');
    for (const api of [
      'cloudfunctions',
      'run',
      'eventarc',
      'cloudbuild',
      'artifactregistry',
      'pubsub',
      'firestore',
      'storage',
    ])
      assert.match(src, new RegExp(`"${api}\\.googleapis\\.com"`));
  });

  it('has uniform-access, non-public buckets, with versioning on models', () => {
    for (const b of all(tf, 'google_storage_bucket')) {
      assert.equal(b['uniform_bucket_level_access'], true, b._id);
      assert.equal(b['public_access_prevention'], 'enforced', b._id);
    }
    assert.equal(first<Block>(tf.resource['google_storage_bucket']!['models']!['versioning'])['enabled'], true);
  });

  it('feeds classifyImage from a push subscription with retry backoff and a dead-letter topic', () => {
    const sub = tf.resource['google_pubsub_subscription']!['classify_push']!;
    assert.equal(sub['topic'], '${google_pubsub_topic.images.id}');
    const push = first<Block>(sub['push_config']);
    assert.match(
      String(push['push_endpoint']),
      /google_cloudfunctions2_function\.classify_image\.service_config\[0\]\.uri/
    );
    assert.equal(first<Block>(push['oidc_token'])['service_account_email'], '${google_service_account.trigger.email}');
    assert.ok(first<Block>(sub['retry_policy'])['minimum_backoff']);
    const dl = first<Block>(sub['dead_letter_policy']);
    assert.equal(dl['dead_letter_topic'], '${google_pubsub_topic.dead_letter.id}');
    assert.equal(
      dl['max_delivery_attempts'],
      '${coalesce(var.max_delivery_attempts, local.spec.pubsub.max_delivery_attempts)}'
    );
    assert.equal(sub['ack_deadline_seconds'], '${local.spec.pubsub.ack_deadline_seconds}');
  });

  it('creates the Firestore database', () => {
    const db = tf.resource['google_firestore_database']!['default']!;
    assert.equal(db['name'], '(default)');
    assert.equal(db['type'], 'FIRESTORE_NATIVE');
  });

  it('deploys both functions from a source archive named by its content hash', () => {
    const obj = tf.resource['google_storage_bucket_object']!['source']!;
    assert.match(String(obj['name']), /\$\{data\.archive_file\.source\.output_md5\}/);
    const fns = tf.resource['google_cloudfunctions2_function']!;
    for (const [name, entry] of [
      ['record_model', 'recordModel'],
      ['classify_image', 'classifyImage'],
    ] as const) {
      const build = first<Block>(fns[name]!['build_config']);
      assert.equal(build['runtime'], '${local.spec.runtime}');
      assert.match(String(build['entry_point']), /^\$\{local\.(record|classify)\.entry_point\}$/);
      assert.ok(entry);
      // The build's npm ci skips onnxruntime-node's CUDA download (deploy.json's build_environment).
      assert.equal(build['environment_variables'], '${local.spec.build_environment}');
      const storage = first<Block>(first<Block>(build['source'])['storage_source']);
      assert.equal(storage['object'], '${google_storage_bucket_object.source.name}');
      const service = first<Block>(fns[name]!['service_config']);
      assert.equal(service['environment_variables'], '${local.function_env}');
    }
  });

  it('reads one deploy spec (infra/deploy.json) for runtime, sizes, environment and Pub/Sub', () => {
    const spec = JSON.parse(fs.readFileSync(path.join(INFRA, 'deploy.json'), 'utf8')) as {
      runtime: string;
      functions: Record<string, {entry_point: string}>;
    };
    assert.equal(spec.runtime, 'nodejs24');
    assert.deepEqual(
      Object.values(spec.functions).map(f => f.entry_point),
      ['recordModel', 'classifyImage']
    );
    assert.match(
      fs.readFileSync(path.join(INFRA, 'spec.tf'), 'utf8'),
      /jsondecode\(file\("\$\{path\.module\}\/deploy\.json"\)\)/
    );
    const classify = first<Block>(tf.resource['google_cloudfunctions2_function']!['classify_image']!['service_config']);
    assert.equal(classify['available_memory'], '${coalesce(var.classify_memory, local.classify.memory)}');
    assert.equal(classify['timeout_seconds'], '${local.classify.timeout_seconds}');
    const record = first<Block>(tf.resource['google_cloudfunctions2_function']!['record_model']!['service_config']);
    assert.equal(record['max_instance_request_concurrency'], '${local.record.concurrency}');
  });

  it('triggers recordModel on finalize in the models bucket, with retry, as the trigger account', () => {
    const trigger = first<Block>(tf.resource['google_cloudfunctions2_function']!['record_model']!['event_trigger']);
    assert.equal(trigger['event_type'], 'google.cloud.storage.object.v1.finalized');
    assert.equal(trigger['retry_policy'], 'RETRY_POLICY_RETRY');
    assert.equal(trigger['service_account_email'], '${google_service_account.trigger.email}');
    assert.deepEqual(trigger['event_filters'], [{attribute: 'bucket', value: '${google_storage_bucket.models.name}'}]);
  });

  it('defines log-based metrics for the per-model counters', () => {
    const metrics = tf.resource['google_logging_metric']!;
    for (const m of ['num_inferences', 'failed_inferences', 'inference_latency', 'model_load_latency'])
      assert.equal((metrics[m]!['label_extractors'] as Block)['model_name'], 'EXTRACT(labels.model_name)', m);
    assert.equal(
      (metrics['failed_inferences']!['label_extractors'] as Block)['error_kind'],
      'EXTRACT(jsonPayload.error_kind)'
    );
    assert.equal((metrics['num_inferences']!['label_extractors'] as Block)['arm'], 'EXTRACT(jsonPayload.arm)');
  });

  describe('dashboard', () => {
    /** The template rendered as templatefile() would, with the metric and subscription names of the HCL. */
    const rendered = (): {mosaicLayout: {tiles: Array<{widget: {title: string; xyChart: {dataSets: Block[]}}}>}} => {
      const board = tf.resource['google_monitoring_dashboard']!['classifier']!;
      const call = String(board['dashboard_json']);
      assert.match(call, /templatefile\("\$\{path\.module\}\/dashboards\/classifier\.json\.tftpl"/);
      const metric = (id: string) => String(tf.resource['google_logging_metric']![id]!['name']);
      const vars: Record<string, string> = {
        num_inferences: metric('num_inferences'),
        inference_latency: metric('inference_latency'),
        failed_inferences: metric('failed_inferences'),
        model_load_latency: metric('model_load_latency'),
        dead_letter_subscription: 'images-dead-letter-pull',
      };
      for (const key of Object.keys(vars)) assert.match(call, new RegExp(`${key}\\s*=`), `templatefile passes ${key}`);
      const template = fs.readFileSync(path.join(INFRA, 'dashboards/classifier.json.tftpl'), 'utf8');
      const text = template
        .replace(/(?<!\$)\$\{(\w+)\}/g, (_, k: string) => {
          assert.ok(k in vars, `template variable ${k} is passed`);
          return vars[k]!;
        })
        .replaceAll('$${', '${');
      return JSON.parse(text);
    };
    const filters = (tile: {widget: {xyChart: {dataSets: Block[]}}}) =>
      tile.widget.xyChart.dataSets.map(d => (d['timeSeriesQuery'] as Block)['timeSeriesFilter'] as Block);

    it('shows predictions by model and arm, latency p50/p99 by model, failures by kind, swaps and dead letters', () => {
      const tiles = rendered().mosaicLayout.tiles;
      assert.equal(tiles.length, 5);
      const [predictions, latency, failures, swaps, deadLetters] = tiles as [
        (typeof tiles)[0],
        (typeof tiles)[0],
        (typeof tiles)[0],
        (typeof tiles)[0],
        (typeof tiles)[0],
      ];
      const agg = (f: Block) => f['aggregation'] as Block;
      const [p] = filters(predictions);
      assert.match(String(p!['filter']), /logging\.googleapis\.com\/user\/classifier\/num_inferences/);
      assert.deepEqual(agg(p!)['groupByFields'], ['metric.label.model_name', 'metric.label.arm']);
      const reducers = filters(latency).map(f => agg(f)['crossSeriesReducer']);
      assert.deepEqual(reducers, ['REDUCE_PERCENTILE_50', 'REDUCE_PERCENTILE_99']);
      for (const f of filters(latency)) assert.match(String(f['filter']), /classifier\/inference_latency_ms/);
      assert.deepEqual(agg(filters(failures)[0]!)['groupByFields'], ['metric.label.error_kind']);
      assert.match(String(filters(swaps)[0]!['filter']), /classifier\/load_model_latency_ms/);
      assert.match(
        String(filters(deadLetters)[0]!['filter']),
        /subscription\/num_undelivered_messages.*subscription_id="images-dead-letter-pull"/
      );
      assert.match(JSON.stringify(latency), /"legendTemplate":"p99 \$\{metric\.labels\.model_name\}"/);
    });
  });

  describe('alert policies', () => {
    const policies = () => tf.resource['google_monitoring_alert_policy']!;
    const conditions = (id: string) => policies()[id]!['conditions'] as Block[];

    it('alerts on a non-empty dead-letter subscription', () => {
      const c = first<Block>(conditions('dead_letters')[0]!['condition_threshold']);
      assert.match(String(c['filter']), /num_undelivered_messages/);
      assert.match(String(c['filter']), /google_pubsub_subscription\.dead_letter_pull\.name/);
      assert.deepEqual([c['comparison'], c['threshold_value']], ['COMPARISON_GT', 0]);
    });

    it('alerts on a failure ratio over a configurable threshold', () => {
      const c = first<Block>(conditions('failure_ratio')[0]!['condition_threshold']);
      assert.match(String(c['filter']), /google_logging_metric\.failed_inferences\.name/);
      assert.match(String(c['denominator_filter']), /google_logging_metric\.num_inferences\.name/);
      assert.equal(c['threshold_value'], '${var.failure_ratio_threshold}');
      assert.equal((tf.variable['failure_ratio_threshold'] as Block)['default'], 0.05);
    });

    it('alerts when no predictions are written while images are published (both conditions)', () => {
      assert.equal(policies()['silent']!['combiner'], 'AND');
      const [published, absent] = conditions('silent') as [Block, Block];
      assert.match(
        String(first<Block>(published['condition_threshold'])['filter']),
        /topic\/send_message_operation_count/
      );
      assert.match(String(first<Block>(absent['condition_absent'])['filter']), /num_inferences\.name/);
    });

    it('notifies the configured channels', () => {
      for (const id of ['dead_letters', 'failure_ratio', 'silent'])
        assert.equal(policies()[id]!['notification_channels'], '${var.notification_channels}', id);
    });
  });

  describe('least privilege', () => {
    const grants = (): Array<Block & {_id: string}> =>
      all(
        tf,
        'google_project_iam_member',
        'google_project_iam_binding',
        'google_storage_bucket_iam_member',
        'google_cloud_run_service_iam_member',
        'google_cloudfunctions2_function_iam_member',
        'google_service_account_iam_member',
        'google_pubsub_topic_iam_member',
        'google_pubsub_subscription_iam_member'
      );

    it('gives no one a primitive role, and no project-wide role beyond the four that have no narrower scope', () => {
      for (const g of grants()) assert.doesNotMatch(String(g['role']), /^roles\/(owner|editor|viewer)$/, g._id);
      const projectRoles = all(tf, 'google_project_iam_member', 'google_project_iam_binding').map(g => g['role']);
      assert.deepEqual([...new Set(projectRoles)].sort(), [
        'roles/datastore.user',
        'roles/eventarc.eventReceiver',
        'roles/pubsub.publisher',
      ]);
      const publisher = all(tf, 'google_project_iam_member').find(g => g['role'] === 'roles/pubsub.publisher')!;
      assert.match(String(publisher['member']), /google_storage_project_service_account\.gcs_agent/);
    });

    it('lets each runtime account read only its buckets, read-only', () => {
      const storage = all(tf, 'google_storage_bucket_iam_member').map(
        g => `${g['member']} ${g['role']} ${g['bucket']}`
      );
      assert.deepEqual(storage.sort(), [
        '${google_service_account.classify_image.member} roles/storage.objectViewer ${google_storage_bucket.images.name}',
        '${google_service_account.classify_image.member} roles/storage.objectViewer ${google_storage_bucket.models.name}',
        '${google_service_account.record_model.member} roles/storage.objectViewer ${google_storage_bucket.models.name}',
      ]);
      const fns = tf.resource['google_cloudfunctions2_function']!;
      assert.equal(
        first<Block>(fns['record_model']!['service_config'])['service_account_email'],
        '${google_service_account.record_model.email}'
      );
      assert.equal(
        first<Block>(fns['classify_image']!['service_config'])['service_account_email'],
        '${google_service_account.classify_image.email}'
      );
    });

    it('keeps the functions private: internal ingress, invocable only by the trigger account', () => {
      for (const fn of Object.values(tf.resource['google_cloudfunctions2_function']!))
        assert.equal(first<Block>(fn['service_config'])['ingress_settings'], 'ALLOW_INTERNAL_ONLY');
      const invokers = all(tf, 'google_cloud_run_service_iam_member', 'google_cloudfunctions2_function_iam_member');
      assert.equal(invokers.length, 2);
      for (const g of invokers) {
        assert.equal(g['member'], '${google_service_account.trigger.member}', g._id);
        assert.match(String(g['role']), /^roles\/(run|cloudfunctions)\.invoker$/);
      }
      for (const g of grants()) assert.doesNotMatch(String(g['member']), /allUsers|allAuthenticatedUsers/, g._id);
    });
  });
});

describe('cloudbuild.yaml', () => {
  it('installs, lints, tests, checks terraform, builds and deploys, with substitutions', () => {
    const text = fs.readFileSync(path.join(ROOT, 'cloudbuild.yaml'), 'utf8');
    const ids = [...text.matchAll(/^ {2}- id: (\S+)$/gm)].map(m => m[1]);
    assert.deepEqual(ids, ['install', 'lint', 'test', 'terraform', 'build', 'deploy']);
    for (const s of ['_REGION', '_MODELS_BUCKET', '_IMAGES_BUCKET', '_TOPIC'])
      assert.match(text, new RegExp(`^  ${s}: `, 'm'));
    assert.match(
      text,
      /terraform fmt -check -recursive && terraform init -backend=false -input=false && terraform validate/
    );
    assert.match(text, /args: \[run, lint\]/);
    assert.match(text, /npm test/);
    assert.match(text, /scripts\/deploy\.ts/);
  });
});
