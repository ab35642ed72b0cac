/**
 * How a publication crosses the link: its data's JSON (ENCODED_DATA), never `data` itself.
 *
 * Measured locally (100,000 publications of ~200 bytes in batches of 50 over a JSON IPC
 * channel): sending `data` cost the sending process 145-180 ms of CPU, sending the JSON string
 * 80-125 ms; the primary sends every delivery to every worker, so it sends the JSON. The
 * receiver needs the JSON anyway (it is what the node writes to sockets), so `data` is parsed
 * from it only when something reads `publication.data` (a lazy property, cached on first read):
 * a worker that only fans the JSON out to sockets never parses it.
 */
import type { ClientInfo, Publication } from '@tidings/protocol';
import { ENCODED_DATA, type EncodedPublication } from '../broker.js';

/** A stored or delivered publication on the wire: JSON, publisher info, offset. */
export interface WirePublication {
  j: string;
  i?: ClientInfo;
  o?: number;
  /** The event name. */
  e?: string;
}

/** The JSON of a publication's data: the broker's ENCODED_DATA, or encoded here. */
export function dataJson(pub: Publication): string {
  return (pub as EncodedPublication)[ENCODED_DATA] ?? encodeData(pub.data);
}

/** `data` as JSON the way brokers encode it: a throw for what JSON cannot encode (cycle, BigInt, depth), `null` for undefined/functions. */
export function encodeData(data: unknown): string {
  return JSON.stringify(data) ?? 'null';
}

export function toWire(pub: Publication): WirePublication {
  const wire: WirePublication = { j: dataJson(pub) };
  if (pub.info !== undefined) wire.i = pub.info;
  if (pub.offset !== undefined) wire.o = pub.offset;
  if (pub.event !== undefined) wire.e = pub.event;
  return wire;
}

/** A publication carrying `json` as ENCODED_DATA, whose `data` is parsed from it on first read. */
export function publicationFrom(json: string, info: ClientInfo | undefined, offset: number | undefined, event?: string | null): EncodedPublication {
  const pub = {} as EncodedPublication;
  Object.defineProperty(pub, 'data', {
    enumerable: true,
    configurable: true,
    get(this: EncodedPublication) {
      const data: unknown = JSON.parse(json);
      Object.defineProperty(this, 'data', { value: data, enumerable: true, configurable: true, writable: true });
      return data;
    },
    set(this: EncodedPublication, value: unknown) {
      Object.defineProperty(this, 'data', { value, enumerable: true, configurable: true, writable: true });
    },
  });
  if (info !== undefined) pub.info = info;
  if (offset !== undefined) pub.offset = offset;
  if (event !== undefined && event !== null) pub.event = event;
  // Not enumerable: a publication compares equal to the memory broker's, which carries the
  // JSON only when it had it (the IPC engine always has it); readers use `pub[ENCODED_DATA]`.
  Object.defineProperty(pub, ENCODED_DATA, { value: json, enumerable: false, configurable: true, writable: true });
  return pub;
}

export function fromWire(wire: WirePublication): EncodedPublication {
  return publicationFrom(wire.j, wire.i, wire.o, wire.e);
}
