/**
 * The value kinds of the configuration schema: durations ("25s", or ms) and sizes ("64KiB",
 * or bytes), turned into ms and bytes.
 */
import { z } from 'zod';
import { DURATION_EXPECTED, parseDuration, parseSize, SIZE_EXPECTED } from './units.js';

/** A duration given as ms or as "25s", "10m"..., turned into ms. */
export const duration = (def: string) =>
  z
    .union([z.number(), z.string()], { error: DURATION_EXPECTED })
    .default(def)
    .transform((v, ctx) => {
      const ms = parseDuration(v);
      if (ms === null) {
        ctx.addIssue({ code: 'custom', message: DURATION_EXPECTED });
        return z.NEVER;
      }
      return ms;
    });

/** A size given as bytes or as "64KiB", "4MiB"..., turned into bytes. */
const sizeValue = z.union([z.number(), z.string()], { error: SIZE_EXPECTED });
const toBytes = (v: number | string, ctx: { addIssue(issue: { code: 'custom'; message: string }): void }) => {
  const bytes = parseSize(v);
  if (bytes === null) {
    ctx.addIssue({ code: 'custom', message: SIZE_EXPECTED });
    return z.NEVER;
  }
  return bytes;
};

export const size = (def: string) => sizeValue.default(def).transform(toBytes);

/** A size with no default (an option that is off unless set). */
export const optionalSize = () => sizeValue.transform(toBytes).optional();
