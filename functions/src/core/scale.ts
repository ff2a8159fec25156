/**
 * Input scaling: how 8-bit pixel values become model inputs. Declared per model (record
 * field `input_scale`, object metadata `scale`), never guessed from the weights.
 */

/** Supported input ranges. */
export const SCALES = ['0,1', '-1,1', '0,255'] as const;
/** An input range: `0,1` is x/255 (the Beam example), `-1,1` is x/127.5 - 1 (Keras MobileNet, Inception). */
export type Scale = (typeof SCALES)[number];

/** The default when a model declares nothing: x/255, as Apache Beam's example does. */
export const DEFAULT_SCALE: Scale = '0,1';

/** Parses `0,1`, `[-1,1]`, `-1,1`, … into a {@link Scale}; throws on anything else. */
export function parseScale(value: string): Scale {
  const s = value.replace(/[[\]\s]/g, '');
  if ((SCALES as readonly string[]).includes(s)) return s as Scale;
  throw new Error(`input scale must be one of ${SCALES.map(x => `'${x}'`).join(', ')}, not '${value}'`);
}

/**
 * `[multiplier, offset]` such that input = pixel * multiplier + offset.
 * `-1,1`: x/127.5 - 1 maps 0 → -1 and 255 → +1 exactly (Keras `preprocess_input` "tf" mode).
 */
export function scaleCoefficients(scale: Scale): readonly [number, number] {
  switch (scale) {
    case '0,1':
      return [1 / 255, 0];
    case '-1,1':
      return [1 / 127.5, -1];
    case '0,255':
      return [1, 0];
  }
}

/** Like {@link parseScale}, but null for a missing or invalid value. */
export function parseScaleOrNull(value: string | undefined | null): Scale | null {
  if (value === undefined || value === null || value.trim() === '') return null;
  try {
    return parseScale(value);
  } catch {
    return null;
  }
}
