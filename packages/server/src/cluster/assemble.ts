/**
 * The cluster/ parts of one node, wired around its engine. `node.ts` (the composition root)
 * calls `assembleCluster` once; this file knows only cluster/'s own parts and takes the rest
 * of the node (the hub, the channel policy, metrics, counters) as given.
 *
 * Order: the engine (the one given, or a memory engine of its own); the channels between the
 * engine and the hub (the broker's handler, with a delivery gap answered by a resubscribe);
 * presence reads and writes, progress state; the publisher; this node's membership on the
 * engine's NodeBus; steering, which registers its bus handlers there. Channel occupancy (the
 * `channel.occupied` / `channel.vacated` webhooks) is kept by the channels and refreshed and swept
 * on a timer of its own, at the presence timer's pace.
 */
import type { ChannelPolicy } from '../auth/channel-policy.js';
import type { TidingsConfig } from '../config/schema.js';
import type { EngineObserver } from '../engine/engine-observer.js';
import type { HistoryPersistence } from '../engine/memory/history-persistence.js';
import type { Hub } from '../hub/hub.js';
import type { Logger } from '../log.js';
import type { NodeMetrics } from '../ops/metrics.js';
import type { Counters, SessionHub } from '../session/services.js';
import type { Session } from '../session/session.js';
import { NO_WEBHOOKS, type WebhookEmitter } from '../webhook-events.js';
import { MessageOps } from '../features/messages.js';
import { Channels } from './channels.js';
import { resubscribeOnGap } from './delivery-gaps.js';
import { nodeEngine, type Engine } from './engine-parts.js';
import { joinCluster, type ClusterNodes, type NodeLabels } from './nodes.js';
import { ChannelOccupancy } from './occupancy.js';
import { PresenceReads } from './presence-reads.js';
import { PresenceWrites } from './presence-writes.js';
import { ProgressState } from './progress-state.js';
import { Publisher } from './publisher.js';
import { Steering } from './steering.js';

export interface ClusterDeps {
  config: TidingsConfig;
  nodeId: string;
  log: Logger;
  metrics: NodeMetrics;
  /** The engine given in the options; undefined for a memory engine of the node's own. */
  engine: Engine | undefined;
  /** Extra fields of this node's heartbeat (createTidings option `nodeInfo`), or a function read at every heartbeat. */
  nodeInfo?: NodeLabels | (() => NodeLabels) | undefined;
  /** Told of the configured engine's round trips, failures and reconnects (not of an engine given in the options). */
  engineObserver?: EngineObserver | undefined;
  /** The durable copy of a memory engine's history (`history.store: sqlite`), for the engine of the node's own. */
  historyPersistence?: HistoryPersistence | undefined;
  hub: Hub<Session>;
  policy: ChannelPolicy;
  counters: Counters;
  limitHit(limit: string, details: { user?: string; client?: string; ip?: string }): void;
  /** Where the events cluster/ sees go (channel occupancy, delivery gaps); default none. */
  webhooks?: WebhookEmitter | undefined;
  /** How long a channel stays empty on every node before `channel.vacated` (`webhooks.vacatedDelay`; default 3 s). */
  vacatedDelayMs?: number | undefined;
}

/** What the rest of the node gets from cluster/: the only parts that call the engine. */
export interface ClusterParts {
  engine: Engine;
  /** The engine's subscriptions kept in step with the hub; stream reads; control publications. */
  channels: Channels;
  /** The hub registry and subscriptions as a session sees them. */
  sessionHub: SessionHub;
  presenceReads: PresenceReads;
  presenceWrites: PresenceWrites;
  progressState: ProgressState;
  publisher: Publisher;
  /** Message edits, deletes and annotations from the server side (the library, the server API). */
  messages: MessageOps;
  /** This node's membership: heartbeats, bus messages by type, asking the other nodes. */
  nodes: ClusterNodes;
  steering: Steering;
  /** Channel occupancy across the deployment (the `channel.occupied` / `channel.vacated` webhooks). */
  occupancy: ChannelOccupancy;
  /** Leaves the NodeBus, then closes the node's engine handle. */
  close(): Promise<void>;
}

export function assembleCluster(deps: ClusterDeps): ClusterParts {
  const { config, nodeId, log, metrics, hub, policy, counters, limitHit } = deps;
  const engine = nodeEngine(config, deps.engine, { nodeId, log, ...(deps.engineObserver ? { observer: deps.engineObserver } : {}), historyPersistence: deps.historyPersistence });
  const { broker, presence, userStatus, typing } = engine;
  const webhooks = deps.webhooks ?? NO_WEBHOOKS;
  const occupancy = new ChannelOccupancy({ store: engine.occupancy, nodeId, webhooks, vacatedDelayMs: deps.vacatedDelayMs ?? 3000, log });
  const channels = new Channels(broker, hub, resubscribeOnGap({ hub, log, metrics, webhooks, nodeId }), occupancy);
  // Keeps this node's occupancy entries alive and reports the channels of nodes that died (the presence timer's pace).
  const occupancyTimer = setInterval(() => {
    occupancy.refresh();
    occupancy.sweep();
  }, Math.max(1000, Math.floor(config.presence.ttl / 3)));
  occupancyTimer.unref();
  const sessionHub: SessionHub = {
    addSession: (s: Session) => hub.addSession(s),
    removeSession: (s: Session) => hub.removeSession(s),
    subscribe: (sub) => channels.subscribe(sub),
    unsubscribe: (sub) => channels.unsubscribe(sub),
    subscriberCount: (channel) => hub.subscriberCount(channel),
  };
  if (broker.historyStats) metrics.setHistorySource(() => broker.historyStats!());
  const publisher = new Publisher({ config, policy, broker, counters, metrics, limitHit });
  const nodes = joinCluster({ config, nodeId, engine, connections: () => hub.sessionCount, labels: deps.nodeInfo, log });
  return {
    engine,
    channels,
    sessionHub,
    presenceReads: new PresenceReads(presence, userStatus),
    presenceWrites: new PresenceWrites(presence, userStatus, typing),
    progressState: new ProgressState(engine.progress),
    publisher,
    messages: new MessageOps((channel) => policy.resolve(channel), publisher.streams, (target, data, request) => publisher.publishTo(target, data, request)),
    nodes,
    steering: new Steering(hub, policy, nodes),
    occupancy,
    close: async () => {
      clearInterval(occupancyTimer);
      occupancy.close();
      await nodes.close();
      await engine.close();
    },
  };
}
