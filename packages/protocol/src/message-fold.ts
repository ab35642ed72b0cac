/**
 * Folding message operations (docs/messaging.md) into the messages they change. One fold for the
 * server (history and recovery return messages at their latest version with their annotation
 * summaries) and for clients (a message list that applies live operations): every operation is a
 * set operation whose last occurrence wins (an edit with a higher offset, a user's annotation added
 * or taken back), so applying a channel's operations in offset order always converges, and applying
 * one that is already folded in again changes nothing that a later one does not set back.
 */
import type { Annotations, Publication } from './frame-types.js';

/**
 * `target` with the operation `op` (a publication whose `op.ref` is `target.offset`) applied;
 * `target` itself when it changes nothing. Never mutates `target`. An edit only moves a message
 * forward (`op.offset` above its `version`); nothing changes a deleted message; an annotation needs
 * its publisher's user (`op.info.user`).
 */
export function applyMessageOp<P extends Publication>(target: P, op: Publication): P {
  const o = op.op;
  if (o === undefined || target.deleted || target.op !== undefined) return target;
  switch (o.type) {
    case 'edit': {
      const at = op.offset ?? 0;
      if (at <= (target.version ?? target.offset ?? 0)) return target;
      return { ...target, data: op.data, version: at };
    }
    case 'delete': {
      const out: P = { ...target, data: null, deleted: true, version: op.offset ?? target.version ?? target.offset ?? 0 };
      delete out.annotations;
      return out;
    }
    case 'annotate':
    case 'unannotate': {
      const user = op.info?.user;
      if (!user) return target;
      const users = target.annotations?.[o.kind]?.[o.name]?.users ?? [];
      const has = users.includes(user);
      if (has === (o.type === 'annotate')) return target;
      const next = o.type === 'annotate' ? [...users, user] : users.filter((u) => u !== user);
      return { ...target, annotations: withUsers(target.annotations, o.kind, o.name, next) };
    }
  }
}

function withUsers(current: Annotations | undefined, kind: string, name: string, users: string[]): Annotations | undefined {
  const names = { ...(current?.[kind] ?? {}) };
  if (users.length === 0) delete names[name];
  else names[name] = { count: users.length, users };
  const out: Annotations = { ...(current ?? {}) };
  if (Object.keys(names).length === 0) delete out[kind];
  else out[kind] = names;
  return Object.keys(out).length === 0 ? undefined : out;
}

/**
 * A page of a channel's publications (in offset order, or newest first) with every message in it
 * folded: the operations of the page and of `later` (publications after the page, in offset order,
 * for a page that does not reach the stream's top) applied to the messages they refer to. The
 * operations stay in the page at their offsets, so a client that holds an earlier message applies
 * them itself; a message of the page is returned at its latest version with its summaries.
 */
export function foldMessages<P extends Publication>(page: readonly P[], later: readonly Publication[] = []): P[] {
  const index = new Map<number, number>();
  for (let i = 0; i < page.length; i++) {
    const p = page[i]!;
    if (p.op === undefined && p.offset !== undefined) index.set(p.offset, i);
  }
  const out = page.slice();
  if (index.size === 0) return out;
  const ops: Publication[] = [];
  for (const p of page) if (p.op !== undefined) ops.push(p);
  for (const p of later) if (p.op !== undefined) ops.push(p);
  ops.sort((a, b) => (a.offset ?? 0) - (b.offset ?? 0));
  for (const op of ops) {
    const at = index.get(op.op!.ref);
    if (at !== undefined) out[at] = applyMessageOp(out[at]!, op);
  }
  return out;
}
