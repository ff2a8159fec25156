/**
 * `MODEL_FILE_PATTERN`: a glob over `gs://bucket/path`, as Beam's WatchFilePattern takes.
 * The bucket must be literal (the trigger is per bucket); the object part may use
 * `*` (within one path segment), `**` (across segments), `?` and `[abc]`.
 */

/** A parsed model file pattern. */
export interface FilePattern {
  /** The pattern as written. */
  readonly raw: string;
  readonly bucket: string;
  /** The object-name glob. */
  readonly glob: string;
  readonly regex: RegExp;
}

/** Thrown for an invalid pattern; config.ts collects it into its ConfigError. */
export class PatternError extends Error {}

function globToRegex(glob: string): RegExp {
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
  return new RegExp(`^${out}$`);
}

/** Parses `gs://bucket/glob`. */
export function parseFilePattern(raw: string): FilePattern {
  const m = /^gs:\/\/([^/]+)\/(.+)$/.exec(raw.trim());
  if (!m) throw new PatternError(`must look like gs://bucket/path/*.h5, not '${raw}'`);
  const [, bucket, glob] = m as unknown as [string, string, string];
  if (/[*?[\]]/.test(bucket)) throw new PatternError(`the bucket part must be literal, not '${bucket}'`);
  return {raw: raw.trim(), bucket, glob, regex: globToRegex(glob)};
}

/** True when `gs://bucket/name` matches the pattern. */
export function matchesPattern(pattern: FilePattern, bucket: string, name: string): boolean {
  return bucket === pattern.bucket && pattern.regex.test(name);
}
