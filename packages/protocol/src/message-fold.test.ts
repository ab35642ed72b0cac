import { describe, expect, it } from 'vitest';
import type { Publication } from './frame-types.js';
import { applyMessageOp, foldMessages } from './message-fold.js';

const alice = { user: 'alice', client: 'c1' };
const bob = { user: 'bob', client: 'c2' };
const msg = (offset: number, data: unknown, info = alice): Publication => ({ offset, data, info });
const op = (offset: number, o: Publication['op'], data: unknown = null, info = alice): Publication => ({ offset, data, info, op: o });

describe('message fold', () => {
  it('an edit moves a message forward only', () => {
    const m = msg(1, 'hi');
    const e3 = applyMessageOp(m, op(3, { type: 'edit', ref: 1 }, 'hello'));
    expect(e3).toEqual({ ...m, data: 'hello', version: 3 });
    expect(applyMessageOp(e3, op(2, { type: 'edit', ref: 1 }, 'older'))).toBe(e3);
    expect(m.data).toBe('hi');
  });

  it('a delete empties the message for good', () => {
    const m = applyMessageOp(msg(1, 'hi'), op(2, { type: 'annotate', ref: 1, kind: 'reaction', name: '👍' }, null, bob));
    const d = applyMessageOp(m, op(3, { type: 'delete', ref: 1 }));
    expect(d).toEqual({ offset: 1, data: null, info: alice, deleted: true, version: 3 });
    expect(applyMessageOp(d, op(4, { type: 'edit', ref: 1 }, 'back'))).toBe(d);
  });

  it('annotations count users once and converge when replayed in order', () => {
    const like = (o: number, who = bob, remove = false) => op(o, { type: remove ? 'unannotate' : 'annotate', ref: 1, kind: 'reaction', name: '👍' }, null, who);
    let m = msg(1, 'hi');
    for (const p of [like(2), like(3), like(4, alice), like(5, bob, true)]) m = applyMessageOp(m, p);
    expect(m.annotations).toEqual({ reaction: { '👍': { count: 1, users: ['alice'] } } });
    const again = applyMessageOp(applyMessageOp(m, like(4, alice)), like(5, bob, true));
    expect(again.annotations).toEqual(m.annotations);
    expect(applyMessageOp(m, like(6, alice, true)).annotations).toBeUndefined();
  });

  it('folds a page with the operations after it and keeps the operations in place', () => {
    const page = [msg(1, 'a'), msg(2, 'b', bob), op(3, { type: 'edit', ref: 1 }, 'a2')];
    const later = [op(4, { type: 'edit', ref: 2 }, 'b2', bob), op(5, { type: 'edit', ref: 9 }, 'x')];
    const out = foldMessages(page, later);
    expect(out.map((p) => p.data)).toEqual(['a2', 'b2', 'a2']);
    expect(out[0]!.version).toBe(3);
    expect(out[2]).toBe(page[2]);
    expect(foldMessages([...page].reverse(), later).map((p) => p.offset)).toEqual([3, 2, 1]);
  });
});
