/**
 * Attack class (issue 20 §6): channel-name and user-id injection into SQLite and logs, against a
 * real node whose history, notifications and activity live in a SQLite file. Names carrying quotes,
 * `'; DROP TABLE`, newlines or ANSI escapes are refused by the channel and user-id rules with their
 * documented codes; where a field may hold any text (publication data, notification title and data,
 * activity actor) it is stored and returned verbatim, across a restart from the file; and every log
 * line stays one JSON line. docs/reliability.md "Attack classes" lists every class and its test.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloseCode } from '@tidings/protocol';
import { createLogger } from '../log.js';
import { TestClient } from '../test-support/test-client.js';
import { startTestNode, TEST_SECRET, type TestNode } from '../test-support/test-node.js';

const NASTY = [`x'; DROP TABLE notifications;--`, `a"b`, 'line\nbreak', 'ansi\u001b[31mred\u001b[0m', 'nul\u0000byte', `' OR '1'='1`, 'back\\slash', '\u2028sep'];

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tidings-injection-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function logCapture(): { sink: Writable; lines: () => string[] } {
  let text = '';
  const sink = new Writable({
    write(chunk, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  return { sink, lines: () => text.split('\n').filter((l) => l.length > 0) };
}

describe('injection', () => {
  it("attack: channel-name and user-id injection (quotes, '; DROP, newlines, ANSI) is refused by the rules, stored in SQLite and read back verbatim where any text is allowed, and log lines stay one JSON line each", async () => {
    const log = logCapture();
    const options = { store: { path: join(dir, 'injection.db') }, history: { store: 'sqlite' as const }, logger: createLogger('trace', log.sink) };
    let t: TestNode = await startTestNode(options);
    try {
      const { client } = await TestClient.connect(t.wsUrl, await t.token('alice'));
      // Channel names: refused by the channel rules, the connection goes on.
      for (const bad of NASTY) {
        expect(await client.call('subscribe', { channel: `chat:${bad}` }), bad).toMatchObject({ error: { code: 'invalid_channel' } });
        expect(await client.call('publish', { channel: `chat:${bad}`, data: 1 }), bad).toMatchObject({ error: { code: 'invalid_channel' } });
        const api = await t.api('POST', '/publish', { channel: `chat:${bad}`, data: 1 });
        expect(api.status, bad).toBe(400);
        expect(api.body.error.code, bad).toBe('invalid_channel');
      }
      // User ids: a token whose sub carries them is refused (unauthorized, 4500); the API's user paths answer 400.
      for (const bad of NASTY) {
        const token = await new SignJWT({ sub: bad }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode(TEST_SECRET));
        const c = await TestClient.open(t.wsUrl);
        expect(await c.call('connect', { token }), bad).toMatchObject({ error: { code: 'unauthorized', message: 'invalid sub' } });
        expect((await c.closed).code).toBe(CloseCode.InvalidToken);
      }
      // The server API's inbox takes any recipient id of 1-256 characters (docs/server-api.md): stored
      // and read back verbatim as a parameter, never as SQL.
      for (const bad of NASTY) {
        const stored = await t.api('POST', '/notify', { user: bad, type: 'mention', title: bad });
        expect(stored.status, bad).toBe(200);
        const inbox = await t.api('GET', `/users/${encodeURIComponent(bad)}/notifications`);
        expect(inbox.status, bad).toBe(200);
        expect(inbox.body.data.notifications.map((n: { user: string; title: string }) => [n.user, n.title]), bad).toEqual([[bad, bad]]);
      }
      // Data is data: into SQLite (history, notifications, activity) and back, verbatim.
      await client.ok('subscribe', { channel: 'chat:inj' });
      for (const text of NASTY) await client.ok('publish', { channel: 'chat:inj', data: { text } });
      const notified = await t.api('POST', '/notify', { user: 'alice', type: 'mention', title: NASTY.join(' | ').replace(/\u0000/g, ''), data: { all: NASTY } });
      expect(notified.status).toBe(200);
      const activity = await t.api('POST', '/activity', { type: 'task', action: 'created', actor: NASTY[0], target: NASTY[2], data: { all: NASTY } });
      expect(activity.status).toBe(200);
      client.close();
      await t.close();

      // A restart reads it all back from the file.
      t = await startTestNode(options);
      const history = await t.api('GET', '/channels/chat%3Ainj/history?limit=100');
      expect(history.status).toBe(200);
      expect((history.body.data.publications as Array<{ data: { text: string } }>).map((p) => p.data.text)).toEqual(NASTY);
      const inbox = await t.api('GET', '/users/alice/notifications');
      expect(inbox.status).toBe(200);
      expect(inbox.body.data.notifications).toHaveLength(1);
      expect(inbox.body.data.notifications[0]).toMatchObject({ title: NASTY.join(' | ').replace(/\u0000/g, ''), data: { all: NASTY } });
      // The other recipients' rows are all still there (no statement ran from their ids).
      for (const bad of NASTY) expect((await t.api('GET', `/users/${encodeURIComponent(bad)}/notifications`)).body.data.notifications, bad).toHaveLength(1);
      const feed = await t.api('GET', '/activity');
      expect(feed.status).toBe(200);
      expect(JSON.stringify(feed.body.data)).toContain(JSON.stringify({ all: NASTY }));
      expect(JSON.stringify(feed.body.data)).toContain(JSON.stringify(NASTY[0]));
      // The node still serves a fresh client.
      const { client: fresh } = await TestClient.connect(t.wsUrl, await t.token('fresh'));
      await fresh.ok('subscribe', { channel: 'chat:after' });
      await fresh.ok('publish', { channel: 'chat:after', data: NASTY });
      expect(await fresh.waitForPush((p) => p.type === 'publication' && p.channel === 'chat:after')).toMatchObject({ data: NASTY });
      fresh.close();
    } finally {
      await t.close();
    }
    // Every log line is one JSON object; no raw newline or escape character made it into the output.
    const lines = log.lines();
    expect(lines.length).toBeGreaterThan(10);
    for (const line of lines) {
      expect(() => JSON.parse(line), line).not.toThrow();
      expect(line).not.toContain('\u001b');
      expect(line).not.toContain('\u0000');
    }
  });
});
