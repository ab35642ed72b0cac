/**
 * The field rules of every v1 command (what `validateClientFrame` checks), and the check of one field
 * against its rule. A field not listed is ignored (forward compatible).
 */
import type { CommandType } from './commands.js';
import { ANNOTATION_KIND_PATTERN, ANNOTATION_NAME_PATTERN, EVENT_NAME_PATTERN } from './frame-types.js';

type FieldType = 'string' | 'integer' | 'boolean' | 'position' | 'positions' | 'userIds' | 'any';

interface FieldSpec {
  type: FieldType;
  required?: boolean;
  /** For strings: maximum length. For integers: maximum value. */
  max?: number;
  /** For strings: minimum length. For integers: minimum value. */
  min?: number;
  /** For strings: the allowed values. */
  oneOf?: readonly string[];
  /** For strings: a pattern the value must match, and its description for the message. */
  pattern?: { re: RegExp; text: string };
}

/** A message's offset in its channel (`replyTo`, `ref`). */
const OFFSET: FieldSpec = { type: 'integer', min: 1, max: Number.MAX_SAFE_INTEGER };

/** Field rules per command type; a field not listed is ignored (forward compatible). */
export const COMMAND_FIELDS: Record<CommandType, Record<string, FieldSpec>> = {
  connect: {
    token: { type: 'string', max: 16384 },
    name: { type: 'string', max: 64 },
    version: { type: 'string', max: 64 },
    subs: { type: 'positions' },
  },
  refresh: { token: { type: 'string', required: true, max: 16384 } },
  subscribe: {
    channel: { type: 'string', required: true },
    token: { type: 'string', max: 16384 },
    recover: { type: 'position' },
  },
  unsubscribe: { channel: { type: 'string', required: true } },
  publish: {
    channel: { type: 'string', required: true },
    data: { type: 'any', required: true },
    idempotencyKey: { type: 'string', min: 1, max: 128 },
    event: { type: 'string', pattern: { re: EVENT_NAME_PATTERN, text: '1..64 of letters, digits, _ . : -' } },
    replyTo: OFFSET,
  },
  history: {
    channel: { type: 'string', required: true },
    limit: { type: 'integer', min: 0, max: Number.MAX_SAFE_INTEGER },
    since: { type: 'position' },
    reverse: { type: 'boolean' },
  },
  presence: { channel: { type: 'string', required: true } },
  presence_stats: { channel: { type: 'string', required: true } },
  typing: {
    channel: { type: 'string', required: true },
    typing: { type: 'boolean', required: true },
  },
  status: { status: { type: 'string', required: true, oneOf: ['online', 'away'] } },
  presence_state: {
    channel: { type: 'string', required: true },
    state: { type: 'any', required: true },
  },
  follow: { users: { type: 'userIds', required: true, min: 1, max: 1000 } },
  unfollow: { users: { type: 'userIds', required: true, min: 1, max: 1000 } },
  rpc: {
    method: { type: 'string', required: true, max: 256 },
    data: { type: 'any' },
  },
  notifications: {
    limit: { type: 'integer', min: 0, max: 100 },
    cursor: { type: 'string', min: 1, max: 128 },
    unread: { type: 'boolean' },
  },
  notification_count: {},
  notification_read: {
    ids: { type: 'userIds', min: 1, max: 100 },
    all: { type: 'boolean' },
  },
  notification_delete: { ids: { type: 'userIds', required: true, min: 1, max: 100 } },
  activity: {
    scope: { type: 'string', required: true, min: 1, max: 128 },
    limit: { type: 'integer', min: 1, max: 100 },
    cursor: { type: 'string', min: 1, max: 128 },
    token: { type: 'string', max: 16384 },
  },
  progress: { jobId: { type: 'string', min: 1, max: 128 } },
  message_edit: {
    channel: { type: 'string', required: true },
    ref: { ...OFFSET, required: true },
    data: { type: 'any', required: true },
  },
  message_delete: {
    channel: { type: 'string', required: true },
    ref: { ...OFFSET, required: true },
  },
  annotate: {
    channel: { type: 'string', required: true },
    ref: { ...OFFSET, required: true },
    kind: { type: 'string', pattern: { re: ANNOTATION_KIND_PATTERN, text: '1..32 of lowercase letters, digits, _ . -' } },
    name: { type: 'string', required: true, pattern: { re: ANNOTATION_NAME_PATTERN, text: '1..64 characters, no whitespace or control characters' } },
    remove: { type: 'boolean' },
  },
  read: {
    channel: { type: 'string', required: true },
    offset: { type: 'integer', required: true, min: 0, max: Number.MAX_SAFE_INTEGER },
  },
  read_receipts: { channel: { type: 'string', required: true } },
  unread: { channels: { type: 'userIds', required: true, min: 1, max: 100 } },
};

/** Every command type this protocol version knows. */
export const COMMAND_TYPES: readonly CommandType[] = Object.keys(COMMAND_FIELDS) as CommandType[];

export function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Returns why `value` breaks `spec`, or null. */
export function fieldError(path: string, value: unknown, spec: FieldSpec): string | null {
  switch (spec.type) {
    case 'string':
      if (typeof value !== 'string') return `${path}: expected string, got ${typeName(value)}`;
      if (spec.max !== undefined && value.length > spec.max) return `${path}: longer than ${spec.max} characters`;
      if (spec.min !== undefined && value.length < spec.min) return `${path}: shorter than ${spec.min} characters`;
      if (spec.oneOf !== undefined && !spec.oneOf.includes(value)) return `${path}: expected one of ${spec.oneOf.map((v) => `"${v}"`).join(', ')}`;
      if (spec.pattern !== undefined && !spec.pattern.re.test(value)) return `${path}: expected ${spec.pattern.text}`;
      return null;
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value)) return `${path}: expected integer, got ${typeName(value)}`;
      if (spec.min !== undefined && value < spec.min) return `${path}: must be >= ${spec.min}`;
      if (spec.max !== undefined && value > spec.max) return `${path}: must be <= ${spec.max}`;
      return null;
    case 'boolean':
      return typeof value === 'boolean' ? null : `${path}: expected boolean, got ${typeName(value)}`;
    case 'position':
      if (!isPlainObject(value)) return `${path}: expected object {epoch, offset}, got ${typeName(value)}`;
      if (typeof value.epoch !== 'string') return `${path}.epoch: expected string, got ${typeName(value.epoch)}`;
      if (typeof value.offset !== 'number' || !Number.isSafeInteger(value.offset) || value.offset < 0) {
        return `${path}.offset: expected non-negative integer, got ${typeName(value.offset)}`;
      }
      return null;
    case 'userIds': {
      if (!Array.isArray(value)) return `${path}: expected array of strings, got ${typeName(value)}`;
      if (value.length > (spec.max ?? 1000)) return `${path}: more than ${spec.max ?? 1000} entries`;
      if (value.length < (spec.min ?? 0)) return `${path}: expected at least ${spec.min} ${spec.min === 1 ? 'entry' : 'entries'}`;
      for (let i = 0; i < value.length; i++) {
        if (typeof value[i] !== 'string' || value[i].length === 0) return `${path}[${i}]: expected non-empty string`;
      }
      return null;
    }
    case 'positions': {
      if (!isPlainObject(value)) return `${path}: expected object {channel: {epoch, offset}}, got ${typeName(value)}`;
      for (const [channel, pos] of Object.entries(value)) {
        const err = fieldError(`${path}[${JSON.stringify(channel)}]`, pos, { type: 'position' });
        if (err) return err;
      }
      return null;
    }
    case 'any':
      // Its depth is checked with the rest of the frame's (validateClientFrame).
      return null;
  }
}

