/**
 * Reading a request body with a size limit, for every endpoint that takes one (the server
 * API, the dashboard sign-in, the HTTP transports).
 */
import type { IncomingMessage } from 'node:http';
import { ErrorCode } from '@tidings/protocol';
import { TidingsError } from '../errors.js';

/**
 * The body as UTF-8 text. More than `maxBytes` is refused with `payload_too_large`: at once
 * when `Content-Length` says so, otherwise as soon as the bytes read pass the limit.
 */
export async function readBody(req: IncomingMessage, maxBytes: number): Promise<string> {
  return (await readBodyBytes(req, maxBytes)).toString('utf8');
}

/** The body as bytes (a MessagePack body), under the same limit as `readBody`. */
export async function readBodyBytes(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) throw new TidingsError(ErrorCode.PayloadTooLarge, `body is larger than ${maxBytes} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw new TidingsError(ErrorCode.PayloadTooLarge, `body is larger than ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
