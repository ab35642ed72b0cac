import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import type { TidingsConfig } from '../config/schema.js';
import { DASHBOARD_ROLE, DashboardTokens, type DashboardSession } from './dashboard-sessions.js';
import { NodeVerifier } from './node-verifier.js';
import { peekToken, type PeekedToken } from './token-peek.js';
import type { ConnectionClaims, TokenVerifier } from './token-verifier.js';

const secret = new TextEncoder().encode('node-verifier-test-secret-0123456789');

describe('NodeVerifier: one decode of a connection token', () => {
  it("hands the application's verifier the node's own reading of the token (the dashboard check and the key choice share one decode); the dashboard's tokens never reach it", async () => {
    const seen: Array<PeekedToken | undefined> = [];
    // An application's own verifier (the public TokenVerifier interface), given what the node read.
    const app: TokenVerifier = {
      verifyConnection: async (_token, peeked) => {
        seen.push(peeked);
        return { user: String(peeked?.payload['sub']), roles: [DASHBOARD_ROLE, 'x'], channels: [] } satisfies ConnectionClaims;
      },
      verifySubscription: async () => ({ user: 'u', channel: 'c' }),
    };
    const dashboard = new DashboardTokens(() => 'root-secret-of-this-node-0123456789');
    const verifier = new NodeVerifier(app, {} as TidingsConfig, () => dashboard);

    const token = await new SignJWT({ roles: ['x'] }).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).setSubject('alice').setIssuer('https://idp.example').sign(secret);
    const claims = await verifier.verifyConnection(token);
    expect(claims).toMatchObject({ user: 'alice', roles: ['x'] });
    // Before: the verifier got the token alone and decoded it again (decodeProtectedHeader + decodeJwt).
    expect(seen).toHaveLength(1);
    expect(seen[0]).toEqual({ header: { alg: 'HS256', kid: 'k1' }, payload: expect.objectContaining({ sub: 'alice', iss: 'https://idp.example', roles: ['x'] }) });

    const session = { name: 'ops' } as DashboardSession;
    const dashToken = await dashboard.mint(session, 60);
    expect(await verifier.verifyConnection(dashToken)).toMatchObject({ user: 'dashboard.ops', roles: [DASHBOARD_ROLE] });
    expect(seen).toHaveLength(1);
  });

  it('peekToken reads three base64url parts whose first two are JSON objects, and nothing else', async () => {
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    expect(peekToken(`${b64({ alg: 'HS256' })}.${b64({ sub: 'a' })}.sig`)).toEqual({ header: { alg: 'HS256' }, payload: { sub: 'a' } });
    for (const bad of [undefined, 42, '', 'abc', 'a.b', 'a.b.c', `${b64({ alg: 'HS256' })}.${b64([1])}.sig`, `${b64('x')}.${b64({})}.s`, `${b64({})}.${b64({})}.s.t.u`, `.${b64({})}.s`]) {
      expect(peekToken(bad)).toBeUndefined();
    }
  });
});
