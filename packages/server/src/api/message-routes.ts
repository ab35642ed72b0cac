/**
 * Server API routes of the chat primitives (docs/messaging.md): edit, delete and annotate a
 * channel's messages from an application's backend. Any message may be changed (no author
 * rule); the namespace must allow the operation (`messaging.edits`, `messaging.annotations`) and
 * the message must still be in history. The envelope, keys and audit of each call are ServerApi's.
 */
import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { ANNOTATION_KIND_PATTERN, ANNOTATION_NAME_PATTERN, ErrorCode } from '@tidings/protocol';
import { TidingsError } from '../errors.js';
import type { MessageOps } from '../features/messages.js';
import { parseWith } from '../validate.js';
import { sendData } from '../wire/http-responses.js';
import * as data from './responses.js';
import type { Route } from './route.js';

/** What the routes act through (the node's `MessageOps`); absent: they answer `not_available`. */
export type MessageParts = Pick<MessageOps, 'edit' | 'delete' | 'annotate'>;

const channel = z.string().describe('The channel of the message');
const ref = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).describe('The offset of the message');

export const editBody = z.strictObject({ channel, ref, data: z.unknown().describe('The new content: any JSON value') });
export const deleteBody = z.strictObject({ channel, ref });
export const annotateBody = z.strictObject({
  channel,
  ref,
  user: z.string().min(1).max(256).describe('The user the annotation is counted for (a reaction is one per user and name)'),
  kind: z.string().regex(ANNOTATION_KIND_PATTERN, 'expected 1..32 of lowercase letters, digits, _ . -').optional().describe('Default `reaction`'),
  name: z.string().regex(ANNOTATION_NAME_PATTERN, 'expected 1..64 characters, no whitespace or control characters').describe('An emoji, `flag`, …'),
  remove: z.boolean().optional().describe("Take the user's annotation back"),
  info: z.record(z.string(), z.unknown()).optional().describe("Published as the annotation's `info.info` (the user's public profile)"),
});

const ERRORS = [ErrorCode.InvalidChannel, ErrorCode.UnknownNamespace, ErrorCode.NotAvailable, ErrorCode.NotFound, ErrorCode.LimitExceeded, ErrorCode.Unavailable];

export function messageRoutes(parts: MessageParts | undefined, body: (req: IncomingMessage) => Promise<unknown>): Route[] {
  const ops = (): MessageParts => {
    if (!parts) throw new TidingsError(ErrorCode.NotAvailable, 'message operations are not available on this server');
    return parts;
  };
  return [
    {
      method: 'POST',
      name: '/messages/edit',
      pattern: /^\/messages\/edit$/,
      scope: 'publish',
      summary: 'Replace the content of a message (published as an edit operation)',
      body: editBody,
      response: data.publishResult,
      errors: ERRORS,
      handle: async ({ req, res }) => {
        const b = parseWith(editBody, await body(req));
        sendData(res, await ops().edit(b.channel, b.ref, b.data, 'api'));
      },
    },
    {
      method: 'POST',
      name: '/messages/delete',
      pattern: /^\/messages\/delete$/,
      scope: 'publish',
      summary: 'Delete a message: its content becomes null (published as a delete operation)',
      body: deleteBody,
      response: data.publishResult,
      errors: ERRORS,
      handle: async ({ req, res }) => {
        const b = parseWith(deleteBody, await body(req));
        sendData(res, await ops().delete(b.channel, b.ref, 'api'));
      },
    },
    {
      method: 'POST',
      name: '/messages/annotate',
      pattern: /^\/messages\/annotate$/,
      scope: 'publish',
      summary: "Add (or take back) a user's annotation on a message: a reaction",
      body: annotateBody,
      response: data.publishResult,
      errors: ERRORS,
      handle: async ({ req, res }) => {
        const b = parseWith(annotateBody, await body(req));
        const annotation = { user: b.user, name: b.name, ...(b.kind !== undefined ? { kind: b.kind } : {}), ...(b.remove !== undefined ? { remove: b.remove } : {}), ...(b.info !== undefined ? { info: b.info } : {}) };
        sendData(res, await ops().annotate(b.channel, b.ref, annotation, 'api'));
      },
    },
  ];
}
