/**
 * `MODEL_FILE_PATTERN`: a glob over `gs://bucket/path`, as Beam's WatchFilePattern takes.
 * The bucket must be literal (the trigger is per bucket); the object part may use
 * `*` (within one path segment), `**` (across segments), `?`, `[abc]`, `{h5,keras}`, and once
 * `{key}`, which captures the model key (`gs://my-models/{key}/*.h5`): each key then has
 * its own record, as Beam's KeyedModelHandler has a model per key.
 */

/** A parsed model file pattern. */
export interface FilePattern {
  /** The pattern as written. */
  readonly raw: string;
  readonly bucket: string;
  /** The object-name glob. */
  readonly glob: string;
  readonly regex: RegExp;
  /** Whether the pattern captures a model key (`{key}`). */
  readonly keyed: boolean;
}

/**
 * What a key may be: a Firestore document id that is also safe in a metric label. One path
 * segment at most, so `{key}` never swallows a folder.
 */
export const MODEL_KEY = /^[A-Za-z0-9_-]{1,100}$/;

/** Thrown for an invalid pattern; config.ts collects it into its ConfigError. */
export class PatternError extends Error {}

function globToRegex(glob: string): RegExp {
  return new RegExp(`^${globSource(glob)}$`);
}

/** The regular expression source of a glob (no anchors: `{a,b}` alternatives reuse it). */
function globSource(glob: string): string {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        // `**/` matches zero or more whole segments; a bare `**` anything.
        if (glob[i + 2] === '/') {
          out += '(?:.*/)?';
          i += 2;
        } else {
          out += '.*';
          i += 1;
        }
      } else {
        out += '[^/]*';
      }
    } else if (glob.startsWith('{key}', i)) {
      out += '([A-Za-z0-9_-]{1,100})';
      i += '{key}'.length - 1;
    } else if (c === '{') {
      // `{h5,keras}`: one of the comma-separated alternatives (not nested).
      const end = glob.indexOf('}', i + 1);
      if (end === -1) throw new PatternError(`unclosed '{' in '${glob}'`);
      const alternatives = glob.slice(i + 1, end).split(',');
      if (alternatives.some(a => a.includes('{'))) throw new PatternError(`nested '{' in '${glob}'`);
      out += `(?:${alternatives.map(globSource).join('|')})`;
      i = end;
    } else if (c === '?') {
      out += '[^/]';
    } else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end === -1) throw new PatternError(`unclosed '[' in '${glob}'`);
      const body = glob
        .slice(i + 1, end)
        .replace(/^!/, '^')
        .replace(/\\/g, '\\\\');
      out += `[${body}]`;
      i = end;
    } else {
      out += c.replace(/[.+^${}()|\\]/g, '\\$&');
    }
  }
  return out;
}

/** Parses `gs://bucket/glob`. */
export function parseFilePattern(raw: string): FilePattern {
  const m = /^gs:\/\/([^/]+)\/(.+)$/.exec(raw.trim());
  if (!m) throw new PatternError(`must look like gs://bucket/path/*.h5, not '${raw}'`);
  const [, bucket, glob] = m as unknown as [string, string, string];
  if (/[*?[\]]/.test(bucket)) throw new PatternError(`the bucket part must be literal, not '${bucket}'`);
  const keys = glob.split('{key}').length - 1;
  if (keys > 1) throw new PatternError(`'{key}' may appear once, not ${keys} times, in '${glob}'`);
  return {raw: raw.trim(), bucket, glob, regex: globToRegex(glob), keyed: keys === 1};
}

/** True when `gs://bucket/name` matches the pattern. */
export function matchesPattern(pattern: FilePattern, bucket: string, name: string): boolean {
  return bucket === pattern.bucket && pattern.regex.test(name);
}

/**
 * The model key of `gs://bucket/name`: what `{key}` captured, `unkeyed` for a pattern
 * without `{key}`, or null when the object does not match.
 */
export function modelKeyOf(pattern: FilePattern, bucket: string, name: string, unkeyed: string): string | null {
  if (bucket !== pattern.bucket) return null;
  const m = pattern.regex.exec(name);
  if (!m) return null;
  return pattern.keyed ? m[1]! : unkeyed;
}
