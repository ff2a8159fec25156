/**
 * Which model key a Pub/Sub message asks for. With `{key}` in MODEL_FILE_PATTERN, a message
 * names its key in an attribute (MODEL_KEY_ATTRIBUTE, default `model`), else it gets
 * DEFAULT_MODEL_KEY; without `{key}` there is one key and attributes are ignored.
 */
import {UnknownModelError} from './errors.js';
import {MODEL_KEY} from './glob.js';

/** How keys are chosen (from the configuration). */
export interface KeyPolicy {
  readonly keyed: boolean;
  readonly attribute: string;
  readonly defaultKey: string | null;
  /** The only key of an unkeyed deployment (CURRENT_MODEL_DOC). */
  readonly unkeyed: string;
}

/** The message's model key; UnknownModelError (permanent) when it names none or a malformed one. */
export function messageModelKey(attributes: Record<string, string> | undefined, policy: KeyPolicy): string {
  if (!policy.keyed) return policy.unkeyed;
  const named = attributes?.[policy.attribute];
  if (named === undefined || named === '') {
    if (policy.defaultKey) return policy.defaultKey;
    throw new UnknownModelError(
      `the message names no model (attribute '${policy.attribute}') and DEFAULT_MODEL_KEY is not set`
    );
  }
  if (!MODEL_KEY.test(named))
    throw new UnknownModelError(
      `'${JSON.stringify(named.slice(0, 120)).slice(1, -1)}' (attribute '${policy.attribute}') is not a model key: [A-Za-z0-9_-], 1 to 100 characters`
    );
  return named;
}
