/**
 * How a publication's message fields travel through the engine. Every engine (memory, IPC,
 * Redis, SQLite history) carries one opaque string with a publication, its `event`; a reply and a
 * message operation are written into that string as a *tag* that an application's event name can
 * never be (event names match `EVENT_NAME_PATTERN`, which has no `~` and no space):
 *
 * | Publication                          | Tag                    |
 * |--------------------------------------|------------------------|
 * | event `task:updated`                 | `task:updated`         |
 * | reply to 12 (with event `e`)         | `~r12` (`~r12 e`)      |
 * | op edit / delete of 12               | `~e12` / `~d12`        |
 * | op annotate / unannotate of 12       | `~a12 <kind> <name>` / `~u12 <kind> <name>` |
 *
 * Kinds and names have no whitespace (`ANNOTATION_KIND_PATTERN`, `ANNOTATION_NAME_PATTERN`).
 * The node writes tags with `messageTag` when it publishes and turns them back into the wire's
 * fields with `untagPublication` wherever a publication leaves the engine (live delivery,
 * history, recovery), so no tag ever reaches a client.
 */
import type { MessageOp, Publication } from '@tidings/protocol';

const TAG_MARK = '~';

/** What a publication carries besides its data: an event name, a reply target, an operation. */
export interface MessageFields {
  event?: string;
  replyTo?: number;
  op?: MessageOp;
}

/** The engine's `event` string for these fields; undefined when there are none. */
export function messageTag(fields: MessageFields): string | undefined {
  const { op } = fields;
  if (op !== undefined) {
    switch (op.type) {
      case 'edit':
        return `${TAG_MARK}e${op.ref}`;
      case 'delete':
        return `${TAG_MARK}d${op.ref}`;
      case 'annotate':
        return `${TAG_MARK}a${op.ref} ${op.kind} ${op.name}`;
      case 'unannotate':
        return `${TAG_MARK}u${op.ref} ${op.kind} ${op.name}`;
    }
  }
  if (fields.replyTo !== undefined) return `${TAG_MARK}r${fields.replyTo}${fields.event !== undefined ? ` ${fields.event}` : ''}`;
  return fields.event;
}

/** True when the engine's `event` string is a tag rather than an application's event name. */
export function isMessageTag(event: string | undefined): event is string {
  return event !== undefined && event.startsWith(TAG_MARK);
}

/** The fields a tag stands for; undefined for a string that is no well-formed tag. */
export function parseMessageTag(tag: string): MessageFields | undefined {
  if (!tag.startsWith(TAG_MARK) || tag.length < 3) return undefined;
  const letter = tag[1];
  const space = tag.indexOf(' ', 2);
  const ref = Number(tag.slice(2, space < 0 ? undefined : space));
  if (!Number.isSafeInteger(ref) || ref < 1) return undefined;
  const rest = space < 0 ? undefined : tag.slice(space + 1);
  switch (letter) {
    case 'r':
      return rest === undefined ? { replyTo: ref } : { replyTo: ref, event: rest };
    case 'e':
      return rest === undefined ? { op: { type: 'edit', ref } } : undefined;
    case 'd':
      return rest === undefined ? { op: { type: 'delete', ref } } : undefined;
    case 'a':
    case 'u': {
      if (rest === undefined) return undefined;
      const gap = rest.indexOf(' ');
      if (gap <= 0 || gap === rest.length - 1) return undefined;
      const kind = rest.slice(0, gap);
      const name = rest.slice(gap + 1);
      return { op: { type: letter === 'a' ? 'annotate' : 'unannotate', ref, kind, name } };
    }
    default:
      return undefined;
  }
}

/**
 * The publication as a client sees it: a tag in `event` becomes `replyTo`, `op` (and the event
 * name a reply carries). Returns the same object when there is no tag (the usual case: no copy);
 * otherwise a copy that keeps every other property, symbol-keyed ones included (the encoded data).
 */
export function untagPublication<P extends Publication>(pub: P): P {
  if (!isMessageTag(pub.event)) return pub;
  const fields = parseMessageTag(pub.event);
  const out = { ...pub };
  delete out.event;
  if (fields?.event !== undefined) out.event = fields.event;
  if (fields?.replyTo !== undefined) out.replyTo = fields.replyTo;
  if (fields?.op !== undefined) out.op = fields.op;
  return out;
}
