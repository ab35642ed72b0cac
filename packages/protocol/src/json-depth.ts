/**
 * The nesting-depth limit of protocol v1: how deep arrays and objects may nest in a value a
 * client sends (checked by the codec's decoder) or a server API body carries.
 */

/**
 * Deepest nesting of arrays and objects allowed in a free-form JSON value a client sends
 * (`publish.data`, `rpc.data`, `presence_state.state`, any field this version does not
 * know) and in each field of a server API body. A scalar has depth 0, `{}` and `[]` depth 1,
 * `{"a":[1]}` depth 2.
 *
 * Why 64: application payloads rarely nest past 10 levels, so 64 leaves room for any real
 * document; yet every recursive consumer of the value (JSON.stringify when a publication is
 * encoded, MessagePack encoders, structured clone, a client's own rendering) runs a few
 * thousand levels deep at most before its stack overflows, so 64 keeps them all far from
 * that, whatever stack they are called on. JSON.parse itself takes far deeper input
 * (V8's parser is iterative), which is why the limit is checked after parsing.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * True when `value` nests arrays and objects more than `max` levels deep. It looks no deeper
 * than `max + 1` levels (so it recurses at most that far), and for a value within the limit
 * visits each array element and object property once.
 */
export function jsonDeeperThan(value: unknown, max: number): boolean {
  return typeof value === 'object' && value !== null && containerDeeperThan(value, max);
}

// Scalars are skipped without a call: this runs on every client frame.
function containerDeeperThan(value: object, max: number): boolean {
  if (max <= 0) return true;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      if (typeof v === 'object' && v !== null && containerDeeperThan(v, max - 1)) return true;
    }
    return false;
  }
  for (const key in value) {
    const v = (value as Record<string, unknown>)[key];
    if (typeof v === 'object' && v !== null && containerDeeperThan(v, max - 1)) return true;
  }
  return false;
}

/** The message for a value past `MAX_JSON_DEPTH`, naming where it is (`publish.data`). */
export function tooDeepMessage(path: string): string {
  return `${path}: nested deeper than ${MAX_JSON_DEPTH} levels`;
}
