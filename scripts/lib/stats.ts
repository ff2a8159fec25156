/**
 * The few statistics the benches report: nearest-rank percentiles, rounding to a stated
 * number of digits, and a range; and the timing of a repeated call they are taken of.
 */

/** The nearest-rank `p`th percentile of `xs` (NaN for none). */
export function pct(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
}

/** The nearest-rank median: of an even count, the lower middle value. */
export const median = (xs: readonly number[]) => pct(xs, 50);

/** `x` rounded to `digits` decimal digits. */
export const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;

/** The smallest and the largest of `xs`, rounded to `digits` digits. */
export const span = (xs: readonly number[], digits: number) => [
  round(Math.min(...xs), digits),
  round(Math.max(...xs), digits),
];

/** Milliseconds of each of `n` calls of `fn`, one after another, after one untimed warm-up call. */
export async function times(n: number, fn: () => Promise<unknown>): Promise<number[]> {
  await fn();
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    out.push(performance.now() - t);
  }
  return out;
}
