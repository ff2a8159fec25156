/**
 * Roll, pin and inspect the model record, against the local emulators or a real project.
 *
 *   npm run pin -- <model_id>   make that accepted version current and stop automatic promotion
 *   npm run unpin               resume automatic promotion (promotes the newest accepted version)
 *   npm run rollback            make the previous accepted version current, pinned
 *   npm run status              current model, recent history
 *
 * Uses MODELS_COLLECTION / CURRENT_MODEL_DOC (defaults models / current), the project from
 * GOOGLE_CLOUD_PROJECT (or --project) and FIRESTORE_EMULATOR_HOST when set.
 * Every change records who made it (`--by`, default $USER) and when.
 */
import os from 'node:os';
import {parseArgs} from 'node:util';
import {Firestore} from '@google-cloud/firestore';
import {firestoreRegistry, RegistryError} from '../functions/src/adapters/firestore_registry.js';

const USAGE = `usage: npm run <pin|unpin|rollback|status> -- [args] [--project P] [--collection models] [--doc current] [--by NAME] [--json]
  pin <model_id>   pin current to an accepted version (gs://bucket/name.h5#generation)
  unpin            clear the pin; the newest accepted version becomes current
  rollback         make the previous accepted version current (and pin it)
  status           print the current model and recent history`;

async function main(): Promise<number> {
  const {values, positionals} = parseArgs({
    allowPositionals: true,
    options: {
      project: {type: 'string'},
      collection: {type: 'string', default: process.env['MODELS_COLLECTION'] ?? 'models'},
      doc: {type: 'string', default: process.env['CURRENT_MODEL_DOC'] ?? 'current'},
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
  const projectId = values.project ?? process.env['GOOGLE_CLOUD_PROJECT'] ?? process.env['GCLOUD_PROJECT'];
  const db = new Firestore({...(projectId ? {projectId} : {}), ignoreUndefinedProperties: true});
  const store = firestoreRegistry(db, {modelsCollection: values.collection, currentDocument: values.doc});
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
        result = {current: await store.current(), history: await store.listHistory(20)};
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
  const {current, history} = result as {
    current: {model_id: string; pinned: string | null; changed_by: string; changed_at: string} | null;
    history: Array<{model_id: string; status: string; reason: string | null; updated: string}>;
  };
  console.log(
    current
      ? `current: ${current.model_id}${current.pinned ? ' (pinned)' : ''}, by ${current.changed_by} at ${current.changed_at}`
      : 'current: none recorded yet'
  );
  for (const h of history)
    console.log(`  ${h.status.padEnd(8)} ${h.updated}  ${h.model_id}${h.reason ? `  (${h.reason})` : ''}`);
}

main().then(
  code => process.exit(code),
  e => {
    console.error(e);
    process.exit(1);
  }
);
