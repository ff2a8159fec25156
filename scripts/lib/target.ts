/**
 * Which system a script talks to: a real project, or the local stack.
 *
 * - `--project P` (or GOOGLE_CLOUD_PROJECT with no *_EMULATOR_HOST set): the real project,
 *   with Application Default Credentials; buckets and topic come from flags or env
 *   (MODELS_BUCKET, IMAGES_BUCKET, TOPIC).
 * - otherwise, if `npm start` is running, its emulators (read from .local/stack.json).
 * - otherwise, whatever the *_EMULATOR_HOST variables say.
 *
 * Call {@link resolveTarget} before constructing any client: it sets the emulator variables.
 */
import {runningStack} from './stack.js';

/** The resolved target. */
export interface Target {
  readonly kind: 'local' | 'project';
  readonly projectId: string | undefined;
  readonly modelsBucket: string | undefined;
  readonly imagesBucket: string | undefined;
  readonly topic: string | undefined;
  /** For messages: "the local stack" or "project P". */
  readonly description: string;
}

/** Resolves the target from flags and the environment (see the module comment). */
export function resolveTarget(flags: {project?: string | undefined}, env: NodeJS.ProcessEnv = process.env): Target {
  if (!flags.project) {
    const stack = runningStack();
    if (stack) {
      Object.assign(env, stack.env);
      return {
        kind: 'local',
        projectId: stack.projectId,
        modelsBucket: env['MODELS_BUCKET'] ?? stack.modelsBucket,
        imagesBucket: env['IMAGES_BUCKET'] ?? stack.imagesBucket,
        topic: env['TOPIC'] ?? stack.topic,
        description: `the local stack (npm start, pid ${stack.pid})`,
      };
    }
  }
  const projectId = flags.project ?? env['GOOGLE_CLOUD_PROJECT'] ?? env['GCLOUD_PROJECT'];
  const emulated = Boolean(
    env['FIRESTORE_EMULATOR_HOST'] || env['STORAGE_EMULATOR_HOST'] || env['PUBSUB_EMULATOR_HOST']
  );
  return {
    kind: emulated ? 'local' : 'project',
    projectId,
    modelsBucket: env['MODELS_BUCKET'],
    imagesBucket: env['IMAGES_BUCKET'],
    topic: env['TOPIC'],
    description: emulated ? 'the emulators in *_EMULATOR_HOST' : `project ${projectId ?? '(from gcloud/ADC)'}`,
  };
}
