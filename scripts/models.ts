/**
 * Roll, pin and inspect the model record, against the local emulators or a real project.
 *
 *   npm run pin -- <model_id>   make that accepted version current and stop automatic promotion
 *   npm run unpin               resume automatic promotion (promotes the newest accepted version)
 *   npm run rollback            make the previous accepted version current, pinned
 *   npm run status              current model, recent history, last predictions
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
import {runMain} from './lib/cli.js';

const USAGE = `usage: npm run <pin|unpin|rollback|status> -- [args] [--key K] [--project P] [--collection models] [--by NAME] [--json]
  --key K          the model key, with {key} in MODEL_FILE_PATTERN (its record is models/K;
                   default: CURRENT_MODEL_DOC, i.e. models/current, the one record without {key})
  pin <model_id>   pin current to an accepted version (gs://bucket/name.h5#generation)
  unpin            clear the pin; the newest accepted version becomes current
  rollback         make the previous accepted version current (and pin it)
  status           print the current model, recent history and the last predictions`;

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
      help: {type: 'boolean', short: 'h', default: false},
    },
  });
  const [command, arg] = positionals;
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
      case 'status':
        result = {
          current: await store.current(),
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
      default:
        console.error(USAGE);
        return 64;
    }
    if (values.json) console.log(JSON.stringify(result));
    else printHuman(command, result);
    return 0;
  } catch (e) {
    if (e instanceof RegistryError) {
      console.error(`${command}: ${e.message}`);
      return 2;
    }
    throw e;
  } finally {
    await db.terminate();
  }
}

function printHuman(command: string, result: unknown): void {
  if (command !== 'status') {
    const c = result as {model_id: string; pinned: string | null};
    console.log(`${command}: current is ${c.model_id}${c.pinned ? ' (pinned)' : ''}`);
    return;
  }
  const {key, current, history, predictions} = result as {
    key: string;
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
    }>;
  };
  console.log(
    current
      ? `current: ${current.model_id}${current.pinned ? ' (pinned)' : ''}, by ${current.changed_by} at ${current.changed_at}`
      : `current: none recorded yet${key === 'current' ? '' : ` for key '${key}'`}`
  );
  for (const h of history)
    console.log(`  ${h.status.padEnd(8)} ${h.updated}  ${h.model_id}${h.reason ? `  (${h.reason})` : ''}`);
  console.log(predictions.length ? 'last predictions:' : 'no predictions yet');
  for (const p of predictions) {
    const what = p.error ? `failed: ${p.error.kind}: ${p.error.message}` : `${p.label} (${p.score?.toFixed(3)})`;
    const input = p.image ?? (p.message_data !== undefined ? `message "${p.message_data}"` : '(empty message)');
    console.log(`  ${p.created}  ${input}  ${what}  by ${p.model_name}`);
  }
}

runMain(main, 'models');
