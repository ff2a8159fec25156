/**
 * Label files, and matching them to a model's output width.
 *
 * Accepted formats:
 * - Keras `imagenet_class_index.json`: `{"0": ["n01440764", "tench"], …}`;
 * - a JSON array of strings;
 * - text, one label per line (TensorFlow's `ImageNetLabels.txt` among them), LF or CRLF.
 */
import {LabelMismatchError} from '../core/errors.js';

/** Parses a label file's text into labels in output order. */
export function parseLabels(text: string, source = 'labels'): string[] {
  const trimmed = text.replace(/^\uFEFF/, '').trim();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch (e) {
      throw new LabelMismatchError(`label file ${source} is not valid JSON: ${(e as Error).message}`);
    }
    if (Array.isArray(parsed)) return parsed.map(String);
    const entries = Object.entries(parsed as Record<string, unknown>);
    const labels: string[] = [];
    for (const [key, value] of entries) {
      const index = Number(key);
      if (!Number.isInteger(index) || index < 0) {
        throw new LabelMismatchError(`label file ${source}: key '${key}' is not a class index`);
      }
      // Keras class index: [wordnet_id, name]; a plain {"0": "name"} map also works.
      labels[index] = Array.isArray(value) ? String(value[value.length - 1]) : String(value);
    }
    const hole = labels.findIndex(l => l === undefined);
    if (hole !== -1 || labels.length !== entries.length) {
      throw new LabelMismatchError(
        `label file ${source}: class indices are not 0..${entries.length - 1} (missing ${hole})`
      );
    }
    return labels;
  }
  return trimmed.split(/\r?\n|\r/).map(l => l.trim());
}

/**
 * Fits labels to a model with `outputWidth` classes.
 *
 * One more label than outputs with `background` first is TensorFlow's 1001-class list on
 * a 1000-class Keras head: the first label is dropped. Any other mismatch is an error now,
 * rather than a wrong label on every prediction later.
 */
export function matchLabels(labels: readonly string[], outputWidth: number, source = 'labels'): string[] {
  if (labels.length === outputWidth) return [...labels];
  if (labels.length === outputWidth + 1 && labels[0]?.toLowerCase() === 'background') return labels.slice(1);
  throw new LabelMismatchError(
    `label file ${source} has ${labels.length} labels but the model has ${outputWidth} outputs; use a label file with exactly ${outputWidth} lines (or ${
      outputWidth + 1
    } starting with 'background')`
  );
}
