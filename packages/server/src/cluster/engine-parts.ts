/**
 * The engine parts of a node: the ones given in `createTidings` options, in-memory for those
 * not given. Issue 13 turns this into one `Engine` bundle with `start(nodeId)`/`close()`
 * (see docs/architecture.md); until then the parts are plugged in one by one.
 */
import type { TidingsConfig } from '../config/schema.js';
import type { Broker } from '../engine/broker.js';
import type { IdempotencyStore } from '../engine/idempotency.js';
import { MemoryBroker } from '../engine/memory/memory-broker.js';
import { MemoryIdempotencyStore } from '../engine/memory/memory-idempotency.js';
import { MemoryPresenceManager } from '../engine/memory/memory-presence.js';
import { MemoryProgressStore } from '../engine/memory/memory-progress.js';
import { MemoryTypingStore } from '../engine/memory/memory-typing.js';
import { MemoryUserStatusStore } from '../engine/memory/memory-user-status.js';
import type { PresenceManager } from '../engine/presence.js';
import type { ProgressStore } from '../engine/progress.js';
import type { TypingStore } from '../engine/typing.js';
import type { UserStatusStore } from '../engine/user-status.js';

/** Engine parts to plug in (the `createTidings` option names); default: in-memory. */
export interface GivenEngineParts {
  broker?: Broker | undefined;
  presenceManager?: PresenceManager | undefined;
  userStatusStore?: UserStatusStore | undefined;
  typingStore?: TypingStore | undefined;
  idempotencyStore?: IdempotencyStore | undefined;
  progressStore?: ProgressStore | undefined;
}

export interface EngineParts {
  readonly broker: Broker;
  readonly presence: PresenceManager;
  readonly userStatus: UserStatusStore;
  readonly typing: TypingStore;
  readonly idempotency: IdempotencyStore;
  readonly progress: ProgressStore;
}

export function engineParts(config: TidingsConfig, given: GivenEngineParts): EngineParts {
  return {
    broker: given.broker ?? new MemoryBroker({ metaTtlMs: config.history.metaTtl, maxBytes: config.history.maxBytes, maxStreams: config.history.maxStreams }),
    presence: given.presenceManager ?? new MemoryPresenceManager({ ttlMs: config.presence.ttl }),
    userStatus: given.userStatusStore ?? new MemoryUserStatusStore({ ttlMs: config.presence.ttl, lastSeenTtlMs: config.status.lastSeenTtl }),
    typing: given.typingStore ?? new MemoryTypingStore(),
    idempotency: given.idempotencyStore ?? new MemoryIdempotencyStore({ maxKeys: config.idempotency.maxKeys, maxBytes: config.idempotency.maxBytes }),
    progress: given.progressStore ?? new MemoryProgressStore(),
  };
}

/** Releases every part (connections to an external engine, timers of the in-memory one). */
export async function closeEngine(e: EngineParts): Promise<void> {
  await Promise.all([e.broker.close(), e.presence.close(), e.userStatus.close(), e.typing.close(), e.idempotency.close(), e.progress.close()]);
}
