/**
 * `npm run cloudbuild-local [-- --substitutions _DEPLOY=none,...] [-- --keep]`: runs the
 * steps of cloudbuild.yaml on this machine, in order, as Cloud Build would run them on a
 * checkout of this repository alone (cloud-build-local no longer exists).
 *
 * The tracked files are copied into a fresh temporary folder with nothing beside it (no
 * shared fixtures, as in Cloud Build); each step's entrypoint and args run there with the
 * file's substitutions (`_DEPLOY` defaults to `none` here: nothing is deployed unless asked)
 * and the step's `env`. The container images are not used: the local node, npm, bash and
 * terraform are. A step that fails only because it needs the network this machine may not
 * have (terraform init downloading providers) is reported as such, not hidden.
 */
import {spawn, execFileSync} from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {parseArgs} from 'node:util';
import {parse} from 'yaml';
import {ROOT} from './lib/stack.js';
import {runMain} from './lib/cli.js';

interface Step {
  id: string;
  name: string;
  entrypoint?: string;
  args?: string[];
  env?: string[];
}

/** Cloud Build's `${_X}`/`${PROJECT_ID}` substitution (`$$` is a literal `$`). */
export function substitute(text: string, values: Record<string, string>): string {
  return text.replace(/\$\$|\$\{([A-Z_][A-Z0-9_]*)\}/g, (m, key: string | undefined) => {
    if (m === '$$') return '$';
    return key !== undefined && key in values ? values[key]! : m;
  });
}

/** Whether a failed step's output says it needed the network (so: not runnable offline). */
function neededNetwork(output: string): boolean {
  return /Failed to query available provider packages|could not connect to registry\.terraform\.io|Could not resolve host|dial tcp: lookup/i.test(
    output
  );
}

function run(
  command: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv
): Promise<{code: number; output: string}> {
  return new Promise(resolve => {
    let output = '';
    const child = spawn(command, args, {cwd, env, stdio: ['ignore', 'pipe', 'pipe']});
    const take = (d: Buffer) => {
      output += d.toString();
      process.stdout.write(d);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('close', code => resolve({code: code ?? 1, output}));
  });
}

async function main(): Promise<number> {
  const {values} = parseArgs({
    options: {
      substitutions: {type: 'string', default: ''},
      keep: {type: 'boolean', default: false},
      help: {type: 'boolean', short: 'h', default: false},
    },
  });
  if (values.help) {
    console.log('usage: npm run cloudbuild-local [-- --substitutions _DEPLOY=none,_REGION=…] [-- --keep]');
    return 0;
  }
  const build = parse(fs.readFileSync(path.join(ROOT, 'cloudbuild.yaml'), 'utf8')) as {
    substitutions?: Record<string, string>;
    steps: Step[];
  };
  const subs: Record<string, string> = {PROJECT_ID: 'local-project', _DEPLOY: 'none'};
  for (const [k, v] of Object.entries(build.substitutions ?? {})) if (k !== '_DEPLOY') subs[k] = v;
  for (const pair of values.substitutions.split(',').filter(Boolean)) {
    const [k, v] = pair.split('=');
    if (k && v !== undefined) subs[k] = v;
  }
  for (const k of Object.keys(subs)) subs[k] = substitute(subs[k]!, subs); // dynamicSubstitutions

  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cloudbuild-local-'));
  const checkout = path.join(work, 'workspace');
  for (const file of execFileSync('git', ['ls-files'], {cwd: ROOT, encoding: 'utf8'}).split('\n').filter(Boolean)) {
    fs.mkdirSync(path.dirname(path.join(checkout, file)), {recursive: true});
    fs.copyFileSync(path.join(ROOT, file), path.join(checkout, file));
  }
  console.log(
    `cloudbuild-local: ${build.steps.length} steps in ${checkout} (the tracked files only; nothing beside it)`
  );
  const env = {...process.env};
  delete env['FIXTURES_DIR'];
  const results: Array<{id: string; outcome: string; seconds: number}> = [];
  let failed = false;
  for (const step of build.steps) {
    const entry = step.entrypoint ?? 'bash';
    const args = (step.args ?? []).map(a => substitute(a, subs));
    const stepEnv = {...env, ...Object.fromEntries((step.env ?? []).map(e => e.split(/=(.*)/s).slice(0, 2)))};
    console.log(`\n== ${step.id} (${step.name}): ${entry} ${args.join(' ').slice(0, 120)}`);
    const t0 = Date.now();
    const {code, output} = await run(entry, args, checkout, stepEnv);
    const seconds = Math.round((Date.now() - t0) / 100) / 10;
    const outcome =
      code === 0 ? 'ok' : neededNetwork(output) ? 'NEEDS NETWORK (not runnable offline)' : `FAILED (exit ${code})`;
    if (code !== 0 && !neededNetwork(output)) failed = true;
    results.push({id: step.id, outcome, seconds});
  }
  console.log('\ncloudbuild-local:');
  for (const r of results) console.log(`  ${r.id.padEnd(10)} ${r.outcome.padEnd(40)} ${r.seconds} s`);
  if (!values.keep) fs.rmSync(work, {recursive: true, force: true});
  return failed ? 1 : 0;
}

runMain(main, 'cloudbuild-local');
