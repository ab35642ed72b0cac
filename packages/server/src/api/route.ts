/** What a server API route is, and what its handler gets. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';
import type { ApiScope } from '../auth/api-keys.js';
import type { Logger } from '../log.js';

export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  params: string[];
  query: URLSearchParams;
  /** Id of the API key used, for logs and audit. */
  keyId: string | undefined;
  /** The request's logger, carrying its `requestId`. */
  log: Logger;
}

export interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  /** The pattern as metrics and audit show it (`/channels/:channel`): bounded, unlike concrete paths. */
  name: string;
  pattern: RegExp;
  /** Undefined: no key needed (health, readiness). */
  scope: ApiScope | undefined;
  handle(ctx: RequestContext): Promise<void> | void;
  /** One line on what the route does, for the OpenAPI document. */
  summary?: string;
  /** The schema the handler parses its JSON body with (the document's request body). */
  body?: z.ZodType;
}

