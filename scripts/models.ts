/**
 * Roll, pin and inspect the model record, against the local emulators or a real project.
 *
 *   npm run pin -- <model_id>   make that accepted version current and stop automatic promotion
 *   npm run unpin               resume automatic promotion (promotes the newest accepted version)
 *   npm run rollback            make the previous accepted version current, pinned
 *   npm run status              current model, recent history, last predictions, the rollout
 *   npm run rollout -- start <model_id> --mode canary|shadow --percent N [--bake-samples N] [--bake-seconds S]
 *   npm run rollout -- promote | abort   end the baking rollout by hand
 *
 * Uses MODELS_COLLECTION / CURRENT_MODEL_DOC / PREDICTIONS_COLLECTION (defaults models /
 * current / predictions) and the target of scripts/lib/target.ts: the local stack when
 * `npm start` runs, otherwise --project or GOOGLE_CLOUD_PROJECT.
 * Every change records who made it (`--by`, default $USER) and when.
 */
import os from 'node:os';
import {parseArgs} from 'node:util';
import {Firestore} from '@google-cloud/firestore';
import {firestoreRegistry, RegistryError} from '../functions/src/adapters/firestore_registry.js';
import {resolveTarget} from './lib/target.js';
import {parseRolloutPlan, RolloutPlanError, type Rollout} from '../functions/src/core/rollout.js';
import {figuresOf} from '../functions/src/core/rollout_counts.js';
import type {ModelStore} from '../functions/src/core/ports.js';
import {runMain} from './lib/cli.js';

const USAGE = `usage: npm run <pin|unpin|rollback|status|rollout> -- [args] [--key K] [--project P] [--collection models] [--by NAME] [--json]
  --key K          the model key, with {key} in MODEL_FILE_PATTERN (its record is models/K;
                   default: CURRENT_MODEL_DOC, i.e. models/current, the one record without {key})
  pin <model_id>   pin current to an accepted version (gs://bucket/name.h5#generation)
  unpin            clear the pin; the newest accepted version becomes current
  rollback         make the previous accepted version current (and pin it)
  status           print the current model, recent history, the last predictions and the rollout
  rollout start <model_id> --mode canary|shadow --percent N [--bake-samples 200] [--bake-seconds 300]
                   roll an accepted version out beside current (as object metadata rollout=canary:N does)
  rollout promote  make the baking candidate current now
  rollout abort    roll the baking candidate back now (it never becomes current by itself again)`;

async function main(): Promise<number> {
  const {values, positionals} = parseArgs({
    allowPositionals: true,
    options: {
      project: {type: 'string'},
      collection: {type: 'string', default: process.env['MODELS_COLLECTION'] ?? 'models'},
      key: {type: 'string', default: process.env['CURRENT_MODEL_DOC'] ?? 'current'},
      doc: {type: 'string'}, // the older name of --key
      predictions: {type: 'string', default: process.env['PREDICTIONS_COLLECTION'] ?? 'predictions'},
      by: {type: 'string', default: `${os.userInfo().username} (scripts/models)`},
      json: {type: 'boolean', default: false},
      mode: {type: 'string'},
      percent: {type: 'string'},
      'bake-samples': {type: 'string'},
      'bake-seconds': {type: 'string'},
      help: {type: 'boolean', short: 'h', default: false},
    },
  });
  const [command, arg, arg2] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    return values.help ? 0 : 64;
  }
  const {projectId} = resolveTarget(values);
  const db = new Firestore({...(projectId ? {projectId} : {}), ignoreUndefinedProperties: true});
  const key = values.doc ?? values.key;
  const store = firestoreRegistry(db, {modelsCollection: values.collection, currentDocument: key});
  const now = new Date();
  try {
    let result: unknown;
    switch (command) {
      case 'pin':
        if (!arg) throw new RegistryError('pin needs a model_id (see npm run status)');
        result = await store.pin(arg, values.by, now);
        break;
      case 'unpin':
        result = await store.unpin(values.by, now);
        break;
      case 'rollback':
        result = await store.rollback(values.by, now);
        break;
      case 'rollout':
        result = await rollout(store, arg, arg2, values, now);
        break;
      case 'status': {
        const current = await store.current();
        const baking = current?.rollout;
        result = {
          rollout: baking
            ? {...baking, figures: baking.figures ?? figuresOf(await store.rolloutCounts(baking.candidate.model_id))}
            : null,
          current,
          history: await store.listHistory(20),
          key,
          // Keyed predictions name their key; the last 200 are filtered here, so that no
          // composite index is needed.
          predictions: (await db.collection(values.predictions).orderBy('created', 'desc').limit(200).get()).docs
            .map(d => d.data())
            .filter(p => p['model_key'] === undefined || p['model_key'] === key || key === 'current')
            .slice(0, 10),
        };
        break;
      }
      default:
        console.error(USAGE);
        return 64;
    }
    if (values.json) console.log(JSON.stringify(result));
    else printHuman(command, result);
    return 0;
  } catch (e) {
    if (e instanceof RegistryError || e instanceof RolloutPlanError) {
      console.error(`${command}: ${e.message}`);
      return 2;
    }
    throw e;
  } finally {
    await db.terminate();
  }
}

/** `rollout start <model_id> …`, `rollout promote`, `rollout abort`. */
async function rollout(
  store: ModelStore,
  action: string | undefined,
  modelId: string | undefined,
  values: {by: string; mode?: string; percent?: string; 'bake-samples'?: string; 'bake-seconds'?: string},
  now: Date
) {
  if (action === 'promote' || action === 'abort') return store.endRollout(action, values.by, now);
  if (action !== 'start') throw new RegistryError('rollout needs start, promote or abort');
  if (!modelId) throw new RegistryError('rollout start needs a model_id (see npm run status)');
  const plan = parseRolloutPlan(
    `${values.mode ?? ''}:${values.percent ?? ''}`,
    values['bake-samples'],
    values['bake-seconds']
  )!;
  return store.startRollout(modelId, plan, values.by, now);
}

/** The rollout lines of `status`. */
function printRollout(r: Rollout): void {
  const f = r.figures;
  console.log(
    `rollout: ${r.mode} ${r.percent}% of ${r.candidate.model_id}, ${r.state}${r.reason ? ` (${r.reason})` : ''}, since ${r.started_at}`
  );
  if (!f) return;
  for (const arm of ['stable', 'candidate'] as const) {
    const a = f[arm];
    const kinds = Object.entries(a.failures_by_kind)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ');
    console.log(
      `  ${arm.padEnd(9)} ${a.answers} answers, ${a.failures} failures${kinds ? ` (${kinds})` : ''}, p50 ${a.p50_ms ?? '-'} ms, p99 ${a.p99_ms ?? '-'} ms`
    );
  }
  if (r.mode === 'shadow')
    console.log(
      `  agreement ${f.agreement === null ? '-' : `${(100 * f.agreement).toFixed(1)}%`} of ${f.compared} compared, mean top-1 score difference ${f.mean_score_diff?.toFixed(3) ?? '-'}`
    );
}

function printHuman(command: string, result: unknown): void {
  if (command === 'rollout') {
    const c = result as {model_id: string; rollout?: Rollout | null};
    console.log(
      `rollout: current is ${c.model_id}; rollout ${c.rollout ? `${c.rollout.state}: ${c.rollout.candidate.model_id}` : 'none'}`
    );
    return;
  }
  if (command !== 'status') {
    const c = result as {model_id: string; pinned: string | null};
    console.log(`${command}: current is ${c.model_id}${c.pinned ? ' (pinned)' : ''}`);
    return;
  }
  const {
    key,
    current,
    history,
    predictions,
    rollout: baking,
  } = result as {
    key: string;
    rollout: Rollout | null;
    current: {model_id: string; pinned: string | null; changed_by: string; changed_at: string} | null;
    history: Array<{model_id: string; status: string; reason: string | null; updated: string}>;
    predictions: Array<{
      created: string;
      image: string | null;
      label?: string;
      score?: number;
      model_name: string;
      error?: {kind: string; message: string};
      message_data?: string;
      arm?: string;
    }>;
  };
  console.log(
    current
      ? `current: ${current.model_id}${current.pinned ? ' (pinned)' : ''}, by ${current.changed_by} at ${current.changed_at}`
      : `current: none recorded yet${key === 'current' ? '' : ` for key '${key}'`}`
  );
  if (baking) printRollout(baking);
  for (const h of history)
    console.log(`  ${h.status.padEnd(8)} ${h.updated}  ${h.model_id}${h.reason ? `  (${h.reason})` : ''}`);
  console.log(predictions.length ? 'last predictions:' : 'no predictions yet');
  for (const p of predictions) {
    const what = p.error ? `failed: ${p.error.kind}: ${p.error.message}` : `${p.label} (${p.score?.toFixed(3)})`;
    const input = p.image ?? (p.message_data !== undefined ? `message "${p.message_data}"` : '(empty message)');
    console.log(`  ${p.created}  ${input}  ${what}  by ${p.model_name}${p.arm ? ` (${p.arm})` : ''}`);
  }
}

runMain(main, 'models');
