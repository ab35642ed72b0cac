import { describe, expect, it } from 'vitest';
import type { MessageFields } from './message-tags.js';
import { isMessageTag, messageTag, parseMessageTag, untagPublication } from './message-tags.js';

const cases: Array<[MessageFields, string | undefined]> = [
  [{}, undefined],
  [{ event: 'task:updated' }, 'task:updated'],
  [{ replyTo: 12 }, '~r12'],
  [{ replyTo: 12, event: 'chat.msg' }, '~r12 chat.msg'],
  [{ op: { type: 'edit', ref: 3 } }, '~e3'],
  [{ op: { type: 'delete', ref: 3 } }, '~d3'],
  [{ op: { type: 'annotate', ref: 7, kind: 'reaction', name: '👍' } }, '~a7 reaction 👍'],
  [{ op: { type: 'unannotate', ref: 7, kind: 'flag', name: 'spam' } }, '~u7 flag spam'],
];

describe('message tags', () => {
  it('write every kind of fields and read them back', () => {
    for (const [fields, tag] of cases) {
      expect(messageTag(fields)).toBe(tag);
      if (tag !== undefined && isMessageTag(tag)) expect(parseMessageTag(tag)).toEqual(fields);
    }
  });

  it('never take an application event name for a tag', () => {
    expect(isMessageTag('task:updated')).toBe(false);
    expect(isMessageTag(undefined)).toBe(false);
  });

  it('refuse malformed tags', () => {
    for (const bad of ['~', '~e', '~x3', '~e0', '~e-1', '~e3 extra', '~a3', '~a3 reaction', '~a3  x', '~d1.5']) {
      expect(parseMessageTag(bad), bad).toBeUndefined();
    }
  });

  it('untag a publication into the wire fields and leave others untouched', () => {
    const secret = Symbol('s');
    const pub = { offset: 9, data: null, event: '~a7 reaction 👍', [secret]: 'json' };
    const out = untagPublication(pub);
    expect(JSON.parse(JSON.stringify(out))).toEqual({ offset: 9, data: null, op: { type: 'annotate', ref: 7, kind: 'reaction', name: '👍' } });
    expect(out[secret]).toBe('json');
    expect(pub.event).toBe('~a7 reaction 👍');
    const plain = { offset: 1, data: 1, event: 'x' };
    expect(untagPublication(plain)).toBe(plain);
    expect(untagPublication({ data: 1, event: '~r4 chat.msg' })).toEqual({ data: 1, replyTo: 4, event: 'chat.msg' });
  });
});
