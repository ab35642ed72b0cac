/** What the server API acts through (ApiParts), apart from the node. */
import type { Publisher } from '../cluster/publisher.js';
import type { Steering } from '../cluster/steering.js';
import type { TidingsConfig } from '../config/schema.js';
import type { UserChannelsParts } from './action-routes.js';
import type { DurableParts } from './durable-routes.js';
import type { NodeInspector } from './inspector.js';
import type { MessageParts } from './message-routes.js';
import type { ReceiptParts } from './receipt-routes.js';
import type { WebhookParts } from './webhook-routes.js';
import type { WebhookTestParts } from './webhook-test-route.js';

/**
 * What the API acts through: narrow parts, never the node itself. node.ts wires its own; any
 * object with these methods will do (the library's `Tidings` has them all, under the same names).
 */
export interface ApiParts {
  /** The node's configuration (read live: a reload changes `apiKeys` and `namespaces` in place). */
  config: TidingsConfig;
  publisher: Pick<Publisher, 'publish' | 'broadcast' | 'history'>;
  steering: Pick<Steering, 'disconnectUser' | 'disconnectClient' | 'unsubscribeUser' | 'broadcastAll'>;
  /** Users' sticky server-side subscriptions (`/users/:id/subscriptions`). */
  userChannels: UserChannelsParts;
  inspector: Pick<NodeInspector, 'channels' | 'channelInfo' | 'userStatusOf' | 'onlineUsers' | 'listConnections' | 'nodes' | 'health' | 'stats'>;
  /** Not ready while the node shuts down or its database or engine does not answer (`/ready` answers 503 with the reason). */
  readiness(): { ready: boolean; reason?: string };
  durable: DurableParts;
  /** The webhook outbox (dead letters, replay, counts); absent: the `/webhooks/*` routes answer `not_available`. */
  webhooks?: WebhookParts;
  /** `POST /webhooks/test` (webhooks/assemble.ts's tester); absent: it answers `not_available`. */
  webhookTest?: WebhookTestParts;
  /** Message edits, deletes and annotations (`/messages/*`); absent: they answer `not_available`. */
  messages?: MessageParts;
  /** Read receipts (`/channels/:channel/receipts`, `/read`, `/users/:id/unread`); absent: they answer `not_available`. */
  readReceipts?: ReceiptParts;
}
