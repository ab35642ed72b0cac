/**
 * The Redis broker's pub/sub messages, written here (and by the publish script in
 * `redis-scripts.ts`, in the same format) and read here:
 * - a publication: `[x<client>\n][v<event>\n]p[<offset> <epoch>]\n<info JSON or empty>\n<data JSON>`.
 *   The data JSON is handed on as `ENCODED_DATA`, never encoded again (a live publication whose
 *   caller gave no JSON starts with `d` instead: handed on as data only, like the memory broker
 *   does). The optional prefixes carry the connection that does not get it live (`exceptClient`)
 *   and its event name; a publication with neither is as it always was.
 * - a control event: `c<event JSON>`.
 */
import type { ClientInfo, StreamPosition } from '@tidings/protocol';
import { ENCODED_DATA, EXCEPT_CLIENT, type ControlEvent, type EncodedPublication, type PublishOptions } from '../broker.js';

/** `p` when the caller gave the data's JSON (receivers hand it on as is), else `d`. */
export function liveKind(options: Pick<PublishOptions, 'json'>): 'p' | 'd' {
  return options.json !== undefined ? 'p' : 'd';
}

/** The prefixes in front of a publication's header: its excepted connection, then its event name. */
export function messagePrefix(options: Pick<PublishOptions, 'exceptClient' | 'event'>): string {
  return (options.exceptClient !== undefined ? `x${options.exceptClient}\n` : '') + (options.event !== undefined ? `v${options.event}\n` : '');
}

export type DecodedMessage = { control: ControlEvent; pub?: undefined; position?: undefined } | { control?: undefined; pub: EncodedPublication; position: StreamPosition | undefined };

const MALFORMED = 'not a Tidings pub/sub message';

/** The prefix line `<letter><value>\n` at the start of `message`, if it starts with `letter`. */
function takePrefix(message: string, letter: string): { value: string | undefined; rest: string } {
  if (!message.startsWith(letter)) return { value: undefined, rest: message };
  const end = message.indexOf('\n');
  if (end < 0) throw new Error(MALFORMED);
  return { value: message.slice(1, end), rest: message.slice(end + 1) };
}

/** Reads one pub/sub message; throws on one that is not ours (or whose JSON does not parse). */
export function decodePubSubMessage(message: string): DecodedMessage {
  if (message.startsWith('c')) return { control: JSON.parse(message.slice(1)) as ControlEvent };
  const except = takePrefix(message, 'x');
  const event = takePrefix(except.rest, 'v');
  const body = event.rest;
  const headerEnd = body.indexOf('\n');
  const infoEnd = body.indexOf('\n', headerEnd + 1);
  const kind = body[0];
  if ((kind !== 'p' && kind !== 'd') || headerEnd < 0 || infoEnd < 0) throw new Error(MALFORMED);
  const header = body.slice(1, headerEnd);
  const infoJson = body.slice(headerEnd + 1, infoEnd);
  const json = body.slice(infoEnd + 1);
  const pub: EncodedPublication = { data: JSON.parse(json) as unknown };
  if (infoJson !== '') pub.info = JSON.parse(infoJson) as ClientInfo;
  let position: StreamPosition | undefined;
  if (header !== '') {
    const space = header.indexOf(' ');
    position = { epoch: header.slice(space + 1), offset: Number(header.slice(0, space)) };
    pub.offset = position.offset;
  }
  if (kind === 'p') pub[ENCODED_DATA] = json;
  if (except.value !== undefined) pub[EXCEPT_CLIENT] = except.value;
  if (event.value !== undefined) pub.event = event.value;
  return { pub, position };
}
