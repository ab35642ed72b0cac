/**
 * A task's comments, on Tidings' messaging primitives (docs/messaging.md), in the channel
 * `comments:<taskId>`: `useMessages` keeps
 * the thread (the browser publishes a comment itself; edits, deletes and reactions are folded
 * in, live and after a reconnect), `useReadReceipts` says who has seen a comment, `useTyping`
 * who is typing. After a comment is published the backend is told its offset, so it notifies
 * the users an `@name` mentions and adds it to the activity feed.
 */
import { useEffect, useMemo, useRef, useState, type FormEvent } from 'react';
import type { Message } from '@tidings/client';
import { useMessages, useReadReceipts, useTyping } from '@tidings/react';
import { api, commentsChannel, taskChannel, type Person } from '../api.js';
import { authorOf, commentId, excerpt, isComment, type CommentData } from '../comments-data.js';
import { useNow } from '../time.js';
import { CommentItem, type CommentActions } from './CommentItem.js';

/** "Jane is typing…", "Jane and Sam are typing…", "Jane, Sam and 2 others are typing…". */
export function typingText(names: readonly string[]): string {
  if (names.length === 0) return '';
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return `${names[0]}, ${names[1]} and ${names.length - 2} other${names.length === 3 ? '' : 's'} are typing…`;
}

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

export function Comments({ taskId, me }: { taskId: string; me: Person }) {
  const channel = commentsChannel(taskId);
  const { messages, loading, error, send, edit, remove, react, unreact } = useMessages<CommentData>(channel, { limit: 200 });
  const { receipts, markRead } = useReadReceipts(channel);
  // Typing is told on the task's channel, where its viewers are (comments:<id> has no presence).
  const { typing, setTyping } = useTyping(taskChannel(taskId));
  const [replyTo, setReplyTo] = useState<number | undefined>();
  const now = useNow();
  const comments = useMemo(() => messages.filter(isComment), [messages]);
  const names = typing.filter((t) => t.user !== me.id).map((t) => (typeof t.info?.name === 'string' ? t.info.name : t.user));

  // Names of the users seen so far, for "Seen by" (receipts carry user ids).
  const people = useMemo(() => {
    const byId = new Map<string, string>([[me.id, me.name]]);
    for (const m of comments) {
      const a = authorOf(m);
      byId.set(a.id, a.name);
    }
    return byId;
  }, [comments, me.id, me.name]);

  // What is on screen is read: the receipt moves to the newest comment while the page is visible.
  const newest = comments.at(-1)?.offset;
  useEffect(() => {
    if (newest === undefined) return;
    const mark = () => {
      if (document.visibilityState === 'visible') markRead(newest).catch(() => {});
    };
    mark();
    document.addEventListener('visibilitychange', mark);
    return () => document.removeEventListener('visibilitychange', mark);
  }, [newest, markRead]);

  // A link to a comment (from a notification) scrolls to it once it is loaded.
  const hash = typeof window !== 'undefined' ? window.location.hash.slice(1) : '';
  useEffect(() => {
    if (!hash) return;
    document.getElementById(hash)?.scrollIntoView({ block: 'center' });
  }, [hash, comments.length]);

  const byOffset = useMemo(() => new Map(comments.map((m) => [m.offset, m])), [comments]);
  // "Seen by" goes under my newest comment, as in most chat apps.
  const myNewest = [...comments].reverse().find((m) => !m.deleted && m.info?.user === me.id)?.offset;
  const actions: CommentActions = { edit, remove, react, unreact, reply: setReplyTo };

  return (
    <section className="comments" aria-labelledby="comments-heading">
      <h2 id="comments-heading">
        Comments <span className="count">{comments.filter((m) => !m.deleted).length}</span>
      </h2>
      {error && (
        <p className="inline-error" role="alert">
          Could not load the comments: {errorText(error)}
        </p>
      )}
      {loading && comments.length === 0 ? (
        <p className="empty">Loading…</p>
      ) : comments.length === 0 ? (
        <p className="empty">No comments yet. Start the conversation below.</p>
      ) : (
        <ol className="comment-list" data-testid="comments">
          {comments.map((m) => (
            <CommentItem
              key={m.offset}
              message={m}
              target={m.replyTo !== undefined ? byOffset.get(m.replyTo) : undefined}
              me={me}
              now={now}
              highlighted={commentId(m.offset) === hash}
              seenBy={m.offset === myNewest ? receipts : undefined}
              people={people}
              actions={actions}
            />
          ))}
        </ol>
      )}
      <p className="typing" aria-live="polite" data-testid="typing">
        {typingText(names)}
      </p>
      <Composer
        taskId={taskId}
        replyingTo={replyTo !== undefined ? byOffset.get(replyTo) : undefined}
        onCancelReply={() => setReplyTo(undefined)}
        onTyping={setTyping}
        send={async (text) => {
          const result = await send({ text, at: Date.now() }, replyTo !== undefined ? { replyTo } : {});
          setReplyTo(undefined);
          return result.offset;
        }}
      />
    </section>
  );
}

function Composer({
  taskId,
  replyingTo,
  onCancelReply,
  onTyping,
  send,
}: {
  taskId: string;
  replyingTo: Message<CommentData> | undefined;
  onCancelReply: () => void;
  onTyping: (typing?: boolean) => void;
  send: (text: string) => Promise<number | undefined>;
}) {
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<string | null>(null);
  const box = useRef<HTMLTextAreaElement>(null);
  useEffect(() => {
    if (replyingTo) box.current?.focus();
  }, [replyingTo]);
  const submit = (event?: FormEvent) => {
    event?.preventDefault();
    const body = text.trim();
    if (!body || busy) return;
    setBusy(true);
    setFailure(null);
    onTyping(false);
    send(body)
      .then(async (offset) => {
        setText('');
        // The backend reads the comment back from the channel's history to notify its @mentions.
        if (offset !== undefined) await api('POST', `/tasks/${taskId}/comments/${offset}/posted`);
      })
      .catch((err: unknown) => setFailure(errorText(err)))
      .finally(() => setBusy(false));
  };
  const replyName = replyingTo ? authorOf(replyingTo).name : '';
  return (
    <form className="composer" onSubmit={submit}>
      <label htmlFor="comment-text">{replyingTo ? `Reply to ${replyName}` : 'Add a comment'}</label>
      {replyingTo && (
        <p className="replying" data-testid="replying">
          Replying to {replyName}: “{replyingTo.deleted ? 'deleted comment' : excerpt(replyingTo.data.text, 60)}”{' '}
          <button type="button" className="link" onClick={onCancelReply}>
            Cancel reply
          </button>
        </p>
      )}
      <textarea
        id="comment-text"
        ref={box}
        value={text}
        rows={3}
        maxLength={2000}
        placeholder="Write a comment… mention someone with @name"
        aria-describedby="comment-hint"
        onChange={(e) => {
          setText(e.target.value);
          if (e.target.value) onTyping(true);
          else onTyping(false);
        }}
        onBlur={() => onTyping(false)}
        onKeyDown={(e) => {
          // Ctrl/Cmd+Enter sends, as in most chat and review tools; Escape drops the reply.
          if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) submit();
          if (e.key === 'Escape' && replyingTo) onCancelReply();
        }}
      />
      <p id="comment-hint" className="hint">
        Ctrl+Enter to send. @name notifies that person.
      </p>
      {failure && (
        <p className="inline-error" role="alert">
          {failure}
        </p>
      )}
      <button type="submit" disabled={busy || text.trim() === ''}>
        {busy ? 'Sending…' : replyingTo ? 'Reply' : 'Comment'}
      </button>
    </form>
  );
}
