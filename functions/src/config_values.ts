/**
 * Parsers of single environment values for config.ts: each takes the text of one variable
 * and returns its value, or throws an Error whose message follows "NAME: " (parseConfig
 * puts the variable's name in front and lists every bad one at once).
 */
export function durationMs(value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/.exec(value.trim());
  if (!m) throw new Error(`must be a duration like 3600, 90s, 15m or 1h, not '${value}'`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return n * {ms: 1, s: 1000, m: 60_000, h: 3_600_000}[unit]!;
}

/** A whole number above zero (a count, a size). */
export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`must be a positive integer, not '${value}'`);
  return n;
}

/** A fraction from 0 to 1 (a rollout threshold: a failure-rate increase, an agreement). */
export function share(value: string): number {
  const n = Number(value);
  if (!(n >= 0 && n <= 1)) throw new Error(`must be a number from 0 to 1, not '${value}'`);
  return n;
}

/** true/false, also 1/0, yes/no and on/off, in any case. */
export function bool(value: string): boolean {
  if (/^(1|true|yes|on)$/i.test(value.trim())) return true;
  if (/^(0|false|no|off)$/i.test(value.trim())) return false;
  throw new Error(`must be true or false, not '${value}'`);
}

/** A parser for one of `choices` (surrounding spaces ignored). */
export function oneOf<T extends string>(...choices: T[]): (value: string) => T {
  const words = `${choices.slice(0, -1).join(', ')} or ${choices.at(-1)}`;
  return value => {
    const v = value.trim();
    if ((choices as string[]).includes(v)) return v as T;
    throw new Error(`must be ${words}, not '${value}'`);
  };
}

/** A collection or document id: letters, digits, '_' and '-', at most 100 (no '/', so no path). */
export function firestoreId(value: string): string {
  if (!/^[A-Za-z0-9_-]{1,100}$/.test(value))
    throw new Error(`must be a simple Firestore id ([A-Za-z0-9_-]), not '${value}'`);
  return value;
}
