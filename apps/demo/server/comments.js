/**
 * A task's comments, as the backend reads them: they are messages of the task's comments
 * channel (`comments:<id>`), published by the browsers with `useMessages` and kept by Tidings in the
 * channel's history, where edits, deletes and reactions are folded in (docs/messaging.md).
 * The backend keeps no copy; it reads them back through the library's `history()`, which
 * is what `GET /api/v1/history` answers to a backend in another language.
 */

/**
 * @typedef {object} CommentMessage  a comment as history holds it (latest version)
 * @property {number} offset  its id in the channel
 * @property {{ id: string, name: string }} author
 * @property {string} text
 * @property {number} [replyTo]
 */

/**
 * @typedef {object} HistoryPublication  the part of a publication the demo reads
 * @property {number} [offset]
 * @property {unknown} data
 * @property {{ user: string, info?: Record<string, unknown> }} [info]
 * @property {number} [replyTo]
 * @property {unknown} [op]
 * @property {boolean} [deleted]
 */

/**
 * @typedef {(channel: string, query: { limit?: number, since?: { epoch: string, offset: number }, reverse?: boolean }) =>
 *   Promise<{ epoch: string, offset: number, publications: HistoryPublication[] }>} HistoryReader
 */

/**
 * The comment a publication is, or undefined: an operation (edit, reaction…), a deleted
 * comment, one without an author or without text is none.
 *
 * @param {HistoryPublication} p
 * @returns {CommentMessage | undefined}
 */
export function commentOf(p) {
  if (p.op !== undefined || p.deleted || typeof p.offset !== 'number' || !p.info?.user) return undefined;
  const text = /** @type {{ text?: unknown } | null} */ (p.data)?.text;
  if (typeof text !== 'string' || text.trim() === '') return undefined;
  const name = typeof p.info.info?.name === 'string' ? p.info.info.name : p.info.user;
  return { offset: p.offset, author: { id: p.info.user, name }, text, ...(typeof p.replyTo === 'number' ? { replyTo: p.replyTo } : {}) };
}

/**
 * The newest `limit` comments of a channel, oldest first.
 *
 * @param {HistoryReader} history
 * @param {string} channel
 * @param {number} [limit=100]
 * @returns {Promise<CommentMessage[]>}
 */
export async function readComments(history, channel, limit = 100) {
  const page = await history(channel, { limit, reverse: true });
  /** @type {CommentMessage[]} */
  const out = [];
  for (const p of page.publications) {
    const c = commentOf(p);
    if (c) out.push(c);
  }
  return out.sort((a, b) => a.offset - b.offset);
}

/**
 * The comment at `offset` of a channel, or undefined when history does not hold one there.
 *
 * @param {HistoryReader} history
 * @param {string} channel
 * @param {number} offset
 * @returns {Promise<CommentMessage | undefined>}
 */
export async function readComment(history, channel, offset) {
  const top = await history(channel, { limit: 1, reverse: true });
  if (offset > top.offset) return undefined;
  const newest = top.publications[0];
  const p = newest?.offset === offset ? newest : (await history(channel, { since: { epoch: top.epoch, offset: offset - 1 }, limit: 1 })).publications[0];
  return p?.offset === offset ? commentOf(p) : undefined;
}
