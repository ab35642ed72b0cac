/**
 * A task's comments: the list with reactions, who is typing ("Jane is typing…"), and the
 * composer. `@name` in a comment notifies that user (the backend does it).
 */
import { useEffect, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import { useTyping } from '@tidings/react';
import { api, REACTIONS, taskChannel, type Comment, type Person } from '../api.js';
import { useComments } from '../comments-data.js';
import { ago, exactOf, isoOf, useNow } from '../time.js';
import { Avatar } from './Avatar.js';
import { AddReactionIcon, REACTION_NAMES, ReactionIcon } from './ReactionIcon.js';

/** "Jane is typing…", "Jane and Sam are typing…", "Jane, Sam and 2 others are typing…". */
export function typingText(names: readonly string[]): string {
  if (names.length === 0) return '';
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return `${names[0]}, ${names[1]} and ${names.length - 2} other${names.length === 3 ? '' : 's'} are typing…`;
}

export function Comments({ taskId, me }: { taskId: string; me: Person }) {
  const { comments, loading, error, put, putReactions } = useComments(taskId);
  const { typing, setTyping } = useTyping(taskChannel(taskId));
  const now = useNow();
  const names = typing.filter((t) => t.user !== me.id).map((t) => (typeof t.info?.name === 'string' ? t.info.name : t.user));

  // A link to a comment (from a notification) scrolls to it once it is loaded.
  const hash = typeof window !== 'undefined' ? window.location.hash.slice(1) : '';
  useEffect(() => {
    if (!hash) return;
    document.getElementById(hash)?.scrollIntoView({ block: 'center' });
  }, [hash, comments.length]);

  return (
    <section className="comments" aria-labelledby="comments-heading">
      <h2 id="comments-heading">
        Comments <span className="count">{comments.length}</span>
      </h2>
      {error && (
        <p className="inline-error" role="alert">
          Could not load the comments: {error}
        </p>
      )}
      {loading && comments.length === 0 ? (
        <p className="empty">Loading…</p>
      ) : comments.length === 0 ? (
        <p className="empty">No comments yet. Start the conversation below.</p>
      ) : (
        <ol className="comment-list" data-testid="comments">
          {comments.map((c) => (
            <CommentItem key={c.id} comment={c} me={me} now={now} highlighted={c.id === hash} onReactions={putReactions} />
          ))}
        </ol>
      )}
      <p className="typing" aria-live="polite" data-testid="typing">
        {typingText(names)}
      </p>
      <Composer taskId={taskId} onTyping={setTyping} onPosted={put} />
    </section>
  );
}

function CommentItem({
  comment,
  me,
  now,
  highlighted,
  onReactions,
}: {
  comment: Comment;
  me: Person;
  now: number;
  highlighted: boolean;
  onReactions: (commentId: string, reactions: Record<string, string[]>, version: number) => void;
}) {
  const [failure, setFailure] = useState<string | null>(null);
  const react = (emoji: string) => {
    setFailure(null);
    api<{ commentId: string; reactions: Record<string, string[]>; version: number }>('POST', `/tasks/${comment.taskId}/comments/${comment.id}/reactions`, { emoji }).then(
      (r) => onReactions(r.commentId, r.reactions, r.version),
      (err: Error) => setFailure(err.message),
    );
  };
  return (
    <li id={comment.id} className={`comment${highlighted ? ' highlighted' : ''}`} data-comment-id={comment.id}>
      <Avatar id={comment.author.id} name={comment.author.name} />
      <div className="comment-body">
        <p className="comment-head">
          <strong>{comment.author.name}</strong>
          <time dateTime={isoOf(comment.createdAt)} title={exactOf(comment.createdAt)}>
            {ago(comment.createdAt, now)}
          </time>
        </p>
        <p className="comment-text">{withMentions(comment.text)}</p>
        <div className="reactions" role="group" aria-label={`Reactions to ${comment.author.name}’s comment`}>
          {REACTIONS.map((emoji) => {
            const users = comment.reactions[emoji] ?? [];
            const mine = users.includes(me.id);
            if (users.length === 0) return null;
            return (
              <button
                key={emoji}
                type="button"
                className={`reaction${mine ? ' mine' : ''}`}
                aria-pressed={mine}
                onClick={() => react(emoji)}
                aria-label={`${REACTION_NAMES[emoji] ?? emoji}: ${users.length}${mine ? ', including you' : ''}`}
                title={users.join(', ')}
              >
                <ReactionIcon emoji={emoji} />
                <span aria-hidden="true">{users.length}</span>
              </button>
            );
          })}
          <ReactionPicker onPick={react} existing={comment.reactions} me={me.id} />
        </div>
        {failure && (
          <p className="inline-error" role="alert">
            {failure}
          </p>
        )}
      </div>
    </li>
  );
}

/** A "+" that opens the emoji choices; Escape closes it. */
function ReactionPicker({ onPick, existing, me }: { onPick: (emoji: string) => void; existing: Record<string, string[]>; me: string }) {
  const [open, setOpen] = useState(false);
  const button = useRef<HTMLButtonElement>(null);
  const close = () => {
    setOpen(false);
    button.current?.focus();
  };
  const onKey = (event: KeyboardEvent) => {
    if (event.key === 'Escape') close();
  };
  return (
    <span className="picker" onKeyDown={onKey}>
      <button ref={button} type="button" className="reaction add" aria-expanded={open} aria-label="Add a reaction" onClick={() => setOpen((o) => !o)}>
        <AddReactionIcon />
      </button>
      {open && (
        <span className="picker-menu" role="group" aria-label="Pick a reaction">
          {REACTIONS.map((emoji) => {
            const mine = (existing[emoji] ?? []).includes(me);
            return (
              <button
                key={emoji}
                type="button"
                className="reaction"
                aria-pressed={mine}
                aria-label={`${mine ? 'Remove' : 'React with'} ${REACTION_NAMES[emoji] ?? emoji}`}
                onClick={() => {
                  onPick(emoji);
                  close();
                }}
              >
                <ReactionIcon emoji={emoji} />
              </button>
            );
          })}
        </span>
      )}
    </span>
  );
}

/** The text with `@name` mentions emphasized. */
function withMentions(text: string) {
  const parts = text.split(/(@[A-Za-z][A-Za-z0-9_-]{0,31})\b/g);
  return parts.map((part, i) => (i % 2 === 1 ? <mark key={i} className="mention">{part}</mark> : part));
}

function Composer({ taskId, onTyping, onPosted }: { taskId: string; onTyping: (typing?: boolean) => void; onPosted: (comment: Comment) => void }) {
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<string | null>(null);
  const submit = (event?: FormEvent) => {
    event?.preventDefault();
    const body = text.trim();
    if (!body || busy) return;
    setBusy(true);
    setFailure(null);
    onTyping(false);
    api<{ comment: Comment }>('POST', `/tasks/${taskId}/comments`, { text: body })
      .then(({ comment }) => {
        onPosted(comment);
        setText('');
      })
      .catch((err: Error) => setFailure(err.message))
      .finally(() => setBusy(false));
  };
  return (
    <form className="composer" onSubmit={submit}>
      <label htmlFor="comment-text">Add a comment</label>
      <textarea
        id="comment-text"
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
          // Ctrl/Cmd+Enter sends, as in most chat and review tools.
          if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) submit();
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
        {busy ? 'Sending…' : 'Comment'}
      </button>
    </form>
  );
}
