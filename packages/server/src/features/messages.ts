/**
 * The rules of the chat primitives (docs/messaging.md) that do not depend on who asks: which
 * namespace allows what, the message an operation or a reply refers to, the operation a change
 * becomes, and a history page with its messages folded (their latest version and annotation
 * summaries). Sessions (session/message-commands.ts), the library and the server API
 * (`MessageOps`) use them; a message operation is then published like any publication, with the
 * operation written into the engine's event string (features/message-tags.ts).
 */
import {
  ANNOTATION_KIND_PATTERN,
  ANNOTATION_NAME_PATTERN,
  ErrorCode,
  foldMessages,
  type ClientInfo,
  type MessageOp,
  type Publication,
  type PublishResult,
  type StreamPosition,
} from '@tidings/protocol';
import type { ResolvedChannel } from '../auth/channel-policy.js';
import type { NamespaceConfig } from '../config/schema.js';
import { TidingsError } from '../errors.js';
import { untagPublication } from './message-tags.js';

/** The namespace's `messaging` settings (undefined: all off). */
export type MessagingConfig = NonNullable<NamespaceConfig['messaging']>;

/** A page of a channel's stream, as the engine (or `cluster/channels.ts`) reads it. */
export interface StreamPage {
  position: StreamPosition;
  publications: Publication[];
}

/** How the message rules read a channel's stream: `cluster/channels.ts`, or the broker. */
export interface MessageReader {
  position(channel: string): Promise<StreamPosition>;
  history(channel: string, query: { since?: StreamPosition; limit: number; reverse?: boolean }): Promise<StreamPage>;
}

/** The annotation kind when none is given. */
export const DEFAULT_ANNOTATION_KIND = 'reaction';

type Feature = 'replies' | 'edits' | 'annotations';
const FEATURE_TEXT: Record<Feature, string> = { replies: 'replies', edits: 'message edits and deletes', annotations: 'annotations' };

/** Throws `not_available` unless the channel's namespace has `messaging.<feature>` on. */
export function requireMessaging(target: ResolvedChannel, feature: Feature): MessagingConfig {
  const m = target.ns.messaging;
  if (!m || !m[feature] || !target.ns.history) {
    throw new TidingsError(ErrorCode.NotAvailable, `${FEATURE_TEXT[feature]} are off in namespace "${target.parsed.namespace}" (namespaces.<ns>.messaging.${feature})`);
  }
  return m;
}

/**
 * The message at offset `ref` of the channel (untagged), read from history. `not_found` when the
 * stream has no publication there any more (never had, or it left history) or when the
 * publication there is itself a message operation.
 */
export async function findMessage(reader: MessageReader, channel: string, ref: number): Promise<Publication> {
  const position = await reader.position(channel);
  if (ref > position.offset) throw notFound(ref, 'the channel has no such offset yet');
  const page = await reader.history(channel, { since: { epoch: position.epoch, offset: ref - 1 }, limit: 1 });
  const pub = page.publications[0] === undefined ? undefined : untagPublication(page.publications[0]);
  if (pub === undefined || pub.offset !== ref) throw notFound(ref, 'it is no longer in history');
  if (pub.op !== undefined) throw notFound(ref, 'it is a message operation, not a message');
  return pub;
}

function notFound(ref: number, why: string): TidingsError {
  return new TidingsError(ErrorCode.NotFound, `no message at offset ${ref}: ${why}`);
}

/** Checks a reply: replies on in the namespace, the target a message still in history. */
export async function checkReply(reader: MessageReader, target: ResolvedChannel, replyTo: number): Promise<void> {
  requireMessaging(target, 'replies');
  await findMessage(reader, target.channel, replyTo);
}

/** True when `user` wrote `message`, or holds one of the namespace's moderator roles. */
export function mayChange(messaging: MessagingConfig, message: Publication, user: string, roles: readonly string[]): boolean {
  if (user !== '' && message.info?.user === user) return true;
  return messaging.moderators.some((r) => roles.includes(r));
}

/** An annotation as a client or the API names it: the kind defaults to `reaction`; kind and name checked. */
export function annotationOp(ref: number, name: unknown, kind: unknown = DEFAULT_ANNOTATION_KIND, remove = false): MessageOp {
  if (typeof kind !== 'string' || !ANNOTATION_KIND_PATTERN.test(kind)) throw new TidingsError(ErrorCode.BadRequest, 'kind: expected 1..32 of lowercase letters, digits, _ . -');
  if (typeof name !== 'string' || !ANNOTATION_NAME_PATTERN.test(name)) throw new TidingsError(ErrorCode.BadRequest, 'name: expected 1..64 characters, no whitespace or control characters');
  return { type: remove ? 'unannotate' : 'annotate', ref, kind, name };
}

/** A message offset as the library and the API take it (`ref`, `replyTo`). */
export function checkOffset(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw new TidingsError(ErrorCode.BadRequest, `${field}: expected an offset (integer >= 1)`);
  return value;
}

/**
 * A page of history as clients and the API get it: untagged (replies and operations in their
 * fields), every message folded with the operations of the page and, when the page does not
 * reach the stream's top, of the publications after it (read here: history is bounded per
 * namespace). Operations stay in the page at their offsets.
 */
export async function foldedPage(reader: Pick<MessageReader, 'history'>, channel: string, ns: NamespaceConfig, page: StreamPage): Promise<Publication[]> {
  const pubs = page.publications.map(untagPublication);
  let top = 0;
  for (const p of pubs) if (p.offset !== undefined && p.offset > top) top = p.offset;
  let later: Publication[] = [];
  if (ns.messaging && ns.history && top > 0 && top < page.position.offset) {
    const limit = Math.min(page.position.offset - top, ns.history.size);
    const next = await reader.history(channel, { since: { epoch: page.position.epoch, offset: top }, limit });
    if (next.position.epoch === page.position.epoch) later = next.publications.map(untagPublication);
  }
  if (!pubs.some((p) => p.op !== undefined) && !later.some((p) => p.op !== undefined)) return pubs;
  const folded = foldMessages(pubs, later);
  for (let i = 0; i < folded.length; i++) {
    // A folded message is a copy, and the JSON the engine kept of its original data (a symbol-keyed
    // property, see engine/broker.ts ENCODED_DATA) is not its data any more: keep the string keys only.
    if (folded[i] !== pubs[i]) folded[i] = Object.fromEntries(Object.entries(folded[i]!)) as Publication;
  }
  return folded;
}

/** What a server-side message operation asks of the publish path: who, and the operation. */
export interface OperationRequest {
  source: 'api' | 'library';
  op: MessageOp;
  info?: ClientInfo;
}

/** Publishes to a resolved channel (the node's one publish path: `Publisher.publishTo`, whose request and outcome are wider). */
export type PublishTo = (target: ResolvedChannel, data: unknown, request: OperationRequest) => Promise<{ position?: StreamPosition }>;

/** Who changes a message from the server side: nobody (edits, deletes), or the user an annotation is counted for. */
export interface ServerAnnotation {
  user: string;
  kind?: string;
  name: string;
  remove?: boolean;
  /** Published as the annotation's `info.info` (a public profile), when given. */
  info?: Record<string, unknown>;
}

/**
 * Message operations from the server side (the library's `editMessage`, `deleteMessage`,
 * `annotate` and the server API's `/messages/*`): the namespace must allow them and the target
 * must be a message in history, but any message may be changed (no author rule).
 */
export class MessageOps {
  constructor(
    private readonly resolve: (channel: string) => ResolvedChannel,
    private readonly reader: MessageReader,
    private readonly publishTo: PublishTo,
  ) {}

  async edit(channel: string, ref: number, data: unknown, source: 'api' | 'library' = 'library'): Promise<PublishResult> {
    const target = this.resolve(channel);
    requireMessaging(target, 'edits');
    await findMessage(this.reader, target.channel, checkOffset('ref', ref));
    return result(await this.publishTo(target, data, { source, op: { type: 'edit', ref } }));
  }

  async delete(channel: string, ref: number, source: 'api' | 'library' = 'library'): Promise<PublishResult> {
    const target = this.resolve(channel);
    requireMessaging(target, 'edits');
    await findMessage(this.reader, target.channel, checkOffset('ref', ref));
    return result(await this.publishTo(target, null, { source, op: { type: 'delete', ref } }));
  }

  async annotate(channel: string, ref: number, a: ServerAnnotation, source: 'api' | 'library' = 'library'): Promise<PublishResult> {
    const target = this.resolve(channel);
    requireMessaging(target, 'annotations');
    if (typeof a?.user !== 'string' || a.user === '' || a.user.length > 256) throw new TidingsError(ErrorCode.BadRequest, 'user: expected the id of the user the annotation is counted for');
    const op = annotationOp(checkOffset('ref', ref), a.name, a.kind, a.remove === true);
    await findMessage(this.reader, target.channel, ref);
    const info: ClientInfo = { user: a.user, client: '' };
    if (a.info !== undefined) info.info = a.info;
    return result(await this.publishTo(target, null, { source, op, info }));
  }
}

function result(outcome: { position?: StreamPosition }): PublishResult {
  return outcome.position ? { offset: outcome.position.offset, epoch: outcome.position.epoch } : {};
}
