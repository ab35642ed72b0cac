/**
 * A task's comments are messages of its channel `comments:<id>` (docs/messaging.md): the browser
 * publishes them with `useMessages`, Tidings keeps them in the channel's history with their
 * edits, deletes and reactions folded in, and tells every subscriber of each change live. The
 * demo backend keeps no copy. These helpers read a message as a comment.
 */
import type { Message } from '@tidings/client';

/** What a comment message carries: its text, and when it was written (ms since the epoch). */
export interface CommentData {
  text: string;
  at: number;
  /** When it was last edited. */
  editedAt?: number;
}

/** The anchor and `data-comment-id` of the comment at `offset` (notifications link to it). */
export const commentId = (offset: number) => `c${offset}`;

/** The kind of annotation reactions are. */
export const REACTION = 'reaction';

/** A message that is a comment (or a deleted one): data of another shape is not shown. */
export function isComment(m: Message<CommentData>): boolean {
  return m.deleted === true || (typeof m.data?.text === 'string' && typeof m.data.at === 'number');
}

/** Who wrote it: the name in the author's token, else the user id; the backend when no client did. */
export function authorOf(m: Message<CommentData>): { id: string; name: string } {
  const user = m.info?.user;
  if (!user) return { id: 'tidings', name: 'Team board' };
  const name = m.info?.info?.name;
  return { id: user, name: typeof name === 'string' ? name : user };
}

/** Users who reacted with `emoji`, in order. */
export function reactionUsers(m: Message<CommentData>, emoji: string): readonly string[] {
  return m.annotations?.[REACTION]?.[emoji]?.users ?? [];
}

/** The user ids whose read receipt reaches `offset`, other than `except` (author, me). */
export function seenBy(receipts: ReadonlyArray<{ user: string; offset: number }>, offset: number, except: readonly string[]): string[] {
  return receipts.filter((r) => r.offset >= offset && !except.includes(r.user)).map((r) => r.user);
}

/** A short quote of a comment for a reply's header. */
export function excerpt(text: string, max = 80): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
