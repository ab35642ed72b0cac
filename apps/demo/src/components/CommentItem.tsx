/**
 * One comment of a task: author, time, the comment it answers, its text (or that it was
 * deleted), reactions, and for its author Edit and Delete. Every action is a message operation
 * of the task channel (docs/messaging.md): the list changes when Tidings publishes it, for
 * everyone at once.
 */
import { useEffect, useRef, useState, type KeyboardEvent } from 'react';
import type { Message, PublishResult } from '@tidings/client';
import { REACTIONS, type Person } from '../api.js';
import { authorOf, commentId, excerpt, reactionUsers, seenBy, type CommentData } from '../comments-data.js';
import { ago, exactOf, isoOf } from '../time.js';
import { Avatar } from './Avatar.js';
import { AddReactionIcon, REACTION_NAMES, ReactionIcon } from './ReactionIcon.js';

export interface CommentActions {
  edit(offset: number, data: CommentData): Promise<PublishResult>;
  remove(offset: number): Promise<PublishResult>;
  react(offset: number, emoji: string): Promise<PublishResult>;
  unreact(offset: number, emoji: string): Promise<PublishResult>;
  reply(offset: number): void;
}

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

export function CommentItem({
  message,
  target,
  me,
  now,
  highlighted,
  seenBy: receipts,
  people,
  actions,
}: {
  message: Message<CommentData>;
  /** The comment it replies to, while the list holds it. */
  target: Message<CommentData> | undefined;
  me: Person;
  now: number;
  highlighted: boolean;
  /** Read receipts, for the comment that shows "Seen by". */
  seenBy: ReadonlyArray<{ user: string; offset: number }> | undefined;
  people: ReadonlyMap<string, string>;
  actions: CommentActions;
}) {
  const [failure, setFailure] = useState<string | null>(null);
  const [editing, setEditing] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const author = authorOf(message);
  const mine = author.id === me.id;
  const id = commentId(message.offset);
  const run = (work: Promise<unknown>) => {
    setFailure(null);
    work.catch((err: unknown) => setFailure(errorText(err)));
  };
  const toggle = (emoji: string) => run(reactionUsers(message, emoji).includes(me.id) ? actions.unreact(message.offset, emoji) : actions.react(message.offset, emoji));
  const seen = receipts ? seenBy(receipts, message.offset, [me.id, author.id]).map((u) => people.get(u) ?? u) : [];

  return (
    <li id={id} className={`comment${highlighted ? ' highlighted' : ''}${message.deleted ? ' deleted' : ''}`} data-comment-id={id} data-offset={message.offset}>
      <Avatar id={author.id} name={author.name} />
      <div className="comment-body">
        <p className="comment-head">
          <strong>{author.name}</strong>
          {!message.deleted && (
            <time dateTime={isoOf(message.data.at)} title={exactOf(message.data.at)}>
              {ago(message.data.at, now)}
            </time>
          )}
          {!message.deleted && message.data.editedAt !== undefined && <span className="edited">(edited)</span>}
        </p>
        {message.replyTo !== undefined && (
          <p className="reply-to">
            <a href={`#${commentId(message.replyTo)}`}>
              ↪ {target ? `${authorOf(target).name}: ${target.deleted ? 'deleted comment' : excerpt(target.data.text, 60)}` : 'an earlier comment'}
            </a>
          </p>
        )}
        {message.deleted ? (
          <p className="comment-text deleted-text">This comment was deleted.</p>
        ) : editing ? (
          <EditBox
            text={message.data.text}
            onCancel={() => setEditing(false)}
            onSave={(text) =>
              actions.edit(message.offset, { ...message.data, text, editedAt: Date.now() }).then(
                () => setEditing(false),
                (err: unknown) => setFailure(errorText(err)),
              )
            }
          />
        ) : (
          <p className="comment-text">{withMentions(message.data.text)}</p>
        )}
        {!message.deleted && (
          <div className="reactions" role="group" aria-label={`Reactions to ${author.name}’s comment`}>
            {REACTIONS.map((emoji) => {
              const users = reactionUsers(message, emoji);
              const reacted = users.includes(me.id);
              if (users.length === 0) return null;
              return (
                <button
                  key={emoji}
                  type="button"
                  className={`reaction${reacted ? ' mine' : ''}`}
                  aria-pressed={reacted}
                  onClick={() => toggle(emoji)}
                  aria-label={`${REACTION_NAMES[emoji] ?? emoji}: ${users.length}${reacted ? ', including you' : ''}`}
                  title={users.map((u) => people.get(u) ?? u).join(', ')}
                >
                  <ReactionIcon emoji={emoji} />
                  <span aria-hidden="true">{users.length}</span>
                </button>
              );
            })}
            <ReactionPicker onPick={toggle} isMine={(emoji) => reactionUsers(message, emoji).includes(me.id)} />
            <button type="button" className="link" onClick={() => actions.reply(message.offset)} aria-label={`Reply to ${author.name}’s comment`}>
              Reply
            </button>
            {mine && !editing && (
              <button type="button" className="link" onClick={() => setEditing(true)} aria-label="Edit your comment">
                Edit
              </button>
            )}
            {mine &&
              (confirming ? (
                <span className="confirm-delete" role="group" aria-label="Delete your comment">
                  Delete it?{' '}
                  <button type="button" className="link" onClick={() => run(actions.remove(message.offset))}>
                    Yes, delete
                  </button>{' '}
                  <button type="button" className="link" onClick={() => setConfirming(false)}>
                    Keep it
                  </button>
                </span>
              ) : (
                <button type="button" className="link" onClick={() => setConfirming(true)} aria-label="Delete your comment">
                  Delete
                </button>
              ))}
          </div>
        )}
        {seen.length > 0 && (
          <p className="seen-by" data-testid="seen-by">
            Seen by {seen.join(', ')}
          </p>
        )}
        {failure && (
          <p className="inline-error" role="alert">
            {failure}
          </p>
        )}
      </div>
    </li>
  );
}

function EditBox({ text, onSave, onCancel }: { text: string; onSave: (text: string) => Promise<void>; onCancel: () => void }) {
  const [value, setValue] = useState(text);
  const [busy, setBusy] = useState(false);
  const box = useRef<HTMLTextAreaElement>(null);
  useEffect(() => box.current?.focus(), []);
  const save = () => {
    const next = value.trim();
    if (!next || busy) return;
    if (next === text) return onCancel();
    setBusy(true);
    void onSave(next).finally(() => setBusy(false));
  };
  return (
    <div className="edit-comment">
      <textarea
        ref={box}
        value={value}
        rows={2}
        maxLength={2000}
        aria-label="Edited comment"
        onChange={(e) => setValue(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) save();
          if (e.key === 'Escape') onCancel();
        }}
      />
      <div className="row">
        <button type="button" onClick={save} disabled={busy || value.trim() === ''}>
          Save
        </button>
        <button type="button" className="secondary" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </div>
  );
}

/** A "+" that opens the emoji choices; Escape closes it. */
function ReactionPicker({ onPick, isMine }: { onPick: (emoji: string) => void; isMine: (emoji: string) => boolean }) {
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
            const mine = isMine(emoji);
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
