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

/**
 * A route of the server API. What it says of itself (summary, schemas, error codes) is what
 * the OpenAPI document (api/openapi.ts) says of it: the schemas are the objects the handler
 * parses with, so the document and the validation are one thing.
 */
export interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  /** The pattern as metrics, audit and the OpenAPI document show it (`/channels/:channel`): bounded, unlike concrete paths. */
  name: string;
  pattern: RegExp;
  /** Undefined: no key needed (health, readiness, the OpenAPI document). */
  scope: ApiScope | undefined;
  handle(ctx: RequestContext): Promise<void> | void;
  /** One line on what the route does, for the OpenAPI document. */
  summary: string;
  /** More on the route (Markdown), when one line is not enough. */
  description?: string;
  /** The schema the handler parses its JSON body with (the document's request body). */
  body?: z.ZodType;
  /** The body may also be MessagePack (`application/msgpack`, api/http.ts readMsgpack): the same fields, `bin` for binary data. */
  msgpackBody?: boolean;
  /** The object schema the handler parses its query string with (`parseQuery`), one property per parameter. */
  query?: z.ZodObject;
  /** What the `{"data": …}` of a success holds. */
  response?: z.ZodType;
  /** The statuses answered with `{"data": …}` (default 200 only; health and readiness answer 503 with data too). */
  dataStatuses?: number[];
  /** True when the answer is the `response` itself, not wrapped in `{"data": …}` (the OpenAPI document, for the tools that read it). */
  bare?: boolean;
  /**
   * Error codes the route answers beyond the common ones (`bad_request`, `unauthorized`,
   * `forbidden`, `internal`, and `payload_too_large` with a body), for the document.
   */
  errors?: string[];
}
