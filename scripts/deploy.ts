/**
 * `npm run deploy -- --project P --models-bucket M --images-bucket I`: deploys both
 * functions with gcloud, idempotently, from the same definition as infra/ (the Terraform):
 * `infra/deploy.json` (runtime, APIs, accounts, sizes, environment, Pub/Sub wiring).
 *
 * 1. enable the APIs; create the topic, its dead-letter topic and the three service
 *    accounts when missing: one runtime account per function and one for the triggers;
 * 2. grant only what each needs: objectViewer on exactly the buckets it reads, Firestore
 *    user, Eventarc event receiver for the trigger account, Pub/Sub publisher for the Cloud
 *    Storage service agent (it publishes the finalize events);
 * 3. deploy recordModel (Cloud Storage finalize trigger, retried) and classifyImage
 *    (internal ingress, no unauthenticated access), and let only the trigger account
 *    invoke them;
 * 4. feed classifyImage from a push subscription this script owns, with retry backoff and
 *    a dead-letter topic (plus a pull subscription to inspect dead letters), exactly as
 *    infra/pubsub.tf does: an Eventarc Pub/Sub trigger's subscription cannot carry a
 *    dead-letter policy. The Pub/Sub service agent may sign the push as the trigger account
 *    and move messages to the dead-letter topic.
 *
 * `--dry-run` prints the commands instead of running them.
 */
import {execFileSync} from 'node:child_process';
import {readDeploySpec} from './lib/deploy_spec.js';
import {parseDeployArgs, planDeploy, type DeployOptions, type ProjectFacts} from './lib/deploy_plan.js';
import {ROOT} from './lib/stack.js';
import {runMain} from './lib/cli.js';

const USAGE = `usage: npm run deploy -- --project P --models-bucket M --images-bucket I [options]
  --region R              (default us-central1)
  --topic T               topic classifyImage listens to (default: infra/deploy.json)
  --model-pattern GLOB    MODEL_FILE_PATTERN (default gs://M/models/**/*.{h5,keras})
  --classify-memory 2Gi   --classify-cpu 2   --classify-concurrency 8   --max-instances 20
  --min-instances N       classifyImage instances kept warm
                          (defaults of these five: infra/deploy.json)
  --env K=V               extra environment for both functions (repeatable), e.g. TOP_K=3
  --skip-setup            only deploy the functions and the subscriptions
  --dry-run               print the gcloud commands instead of running them`;

async function main(): Promise<number> {
  const spec = readDeploySpec();
  let o: DeployOptions | null;
  try {
    o = parseDeployArgs(process.argv.slice(2), spec);
  } catch (e) {
    console.error(`deploy: ${(e as Error).message}\n${USAGE}`);
    return 64;
  }
  if (!o) {
    console.log(USAGE);
    return 0;
  }
  const opts = o;
  const gcloud = (args: string[], capture: boolean): string =>
    execFileSync('gcloud', [...args, `--project=${opts.project}`], {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', capture ? 'pipe' : 'inherit', 'inherit'],
    });
  const ask = (args: string[], fallback: string): string => {
    if (opts.dryRun) return fallback;
    try {
      return gcloud(args, true).trim() || fallback;
    } catch {
      return fallback;
    }
  };
  const describe = {
    topic: ['pubsub', 'topics'],
    account: ['iam', 'service-accounts'],
    subscription: ['pubsub', 'subscriptions'],
  };
  // The plan is made twice (before and after classifyImage's URL is known): ask the project
  // each question once.
  const projectNumber = ask(['projects', 'describe', opts.project, '--format=value(projectNumber)'], 'PROJECT_NUMBER');
  const storageAgent = ask(
    ['storage', 'service-agent'],
    `service-${projectNumber}@gs-project-accounts.iam.gserviceaccount.com`
  );
  const known = new Map<string, boolean>();
  const exists: ProjectFacts['exists'] = (kind, name) => {
    const key = `${kind} ${name}`;
    if (!known.has(key))
      known.set(key, !opts.dryRun && ask([...describe[kind], 'describe', name, '--format=value(name)'], '') !== '');
    return known.get(key)!;
  };
  const facts = (classifyUrl: string): ProjectFacts => ({projectNumber, storageAgent, classifyUrl, exists});
  // The subscription needs classifyImage's URL, known once it is deployed: plan, run the
  // calls up to the deploys, ask for the URL, then plan the rest with it.
  const placeholder = 'https://CLASSIFY_IMAGE_URL';
  const first = planDeploy(opts, spec, facts(placeholder));
  const cut = first.findIndex(c => c[0] === 'pubsub' && c[1] === 'subscriptions');
  const run = (call: string[]): void => {
    console.log(`$ gcloud ${[...call, `--project=${opts.project}`].join(' ')}`);
    if (!opts.dryRun) gcloud(call, false);
  };
  first.slice(0, cut).forEach(run);
  const url = ask(
    ['functions', 'describe', o.classify.name, '--gen2', `--region=${o.region}`, '--format=value(serviceConfig.uri)'],
    placeholder
  );
  const rest = planDeploy(opts, spec, facts(url));
  rest.slice(rest.findIndex(c => c[0] === 'pubsub' && c[1] === 'subscriptions')).forEach(run);
  console.log(
    opts.dryRun
      ? 'dry run: nothing was changed'
      : `deployed. Upload a model: npm run upload-model -- model.h5 --project=${opts.project} --bucket=${opts.modelsBucket}`
  );
  return 0;
}

runMain(main, 'deploy');
