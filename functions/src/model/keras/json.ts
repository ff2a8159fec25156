/**
 * Model configs are JSON written by Keras, or by anyone who uploads a file. Everything that
 * walks a config recurses, so a config nested a million levels deep (a few MB) would blow
 * the stack, and a RangeError is not a permanent error: the upload would be retried forever.
 * The depth is checked on the text first, in one linear pass, before JSON.parse.
 */
import {InvalidConfigError} from '../../core/errors.js';

/** Deepest nesting a model config may have. Keras configs nest ~10 levels, ~5 more per nested model. */
export const MAX_CONFIG_DEPTH = 100;

/** The deepest `[`/`{` nesting of a JSON text (strings skipped). */
export function jsonDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) deepest = Math.max(deepest, ++depth);
    else if (c === 0x5d || c === 0x7d) depth--;
  }
  return deepest;
}

/**
 * Parses a model config; InvalidConfigError (permanent) when it nests deeper than
 * MAX_CONFIG_DEPTH. JSON syntax errors propagate as SyntaxError for the caller to name.
 */
export function parseConfigJson(text: string, what: string): unknown {
  const depth = jsonDepth(text);
  if (depth > MAX_CONFIG_DEPTH)
    throw new InvalidConfigError(
      `${what} nests ${depth} levels deep, over ${MAX_CONFIG_DEPTH}: not a Keras model config`
    );
  return JSON.parse(text);
}
