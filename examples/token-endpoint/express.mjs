// The token endpoint in Express: GET /api/tidings-token answers the signed-in user's
// Tidings connection token as plain text, or 401 when nobody is signed in.
// docs/token-endpoint.md explains it; test/token-endpoint.test.ts runs it.
//
// Run: TIDINGS_AUTH__SECRET=... PORT=3000 node express.mjs   (npm install express jose)
import express from 'express';
import { SignJWT } from 'jose';

// The same values as the Tidings server's auth.secret (and auth.audience / auth.issuer when
// it sets them): the variables `tidings serve` reads, so both can share one environment file.
const SECRET = process.env.TIDINGS_AUTH__SECRET;
const AUDIENCE = process.env.TIDINGS_AUTH__AUDIENCE;
const ISSUER = process.env.TIDINGS_AUTH__ISSUER;
const TTL_SECONDS = 10 * 60; // short: the SDK calls getToken again before it expires
if (!SECRET) throw new Error('set TIDINGS_AUTH__SECRET');

// --- Placeholder: your app's own session. Replace with express-session, Passport, your
// --- framework's auth... Here a `session` cookie is looked up in a table of demo sessions.
const DEMO_SESSIONS = new Map([['demo-session-alice', { id: 'alice', name: 'Alice' }]]);
function sessionUser(req) {
  const sid = /(?:^|;\s*)session=([^;]*)/.exec(req.headers.cookie ?? '')?.[1];
  return sid === undefined ? undefined : DEMO_SESSIONS.get(sid);
}

const app = express();

app.get('/api/tidings-token', async (req, res) => {
  const user = sessionUser(req);
  if (!user) {
    res.status(401).type('text/plain').send('not signed in');
    return;
  }
  try {
    const now = Math.floor(Date.now() / 1000);
    const jwt = new SignJWT({ info: { name: user.name } }) // the public profile others see
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(user.id) // the user id Tidings knows the connection by
      .setIssuedAt(now)
      .setExpirationTime(now + TTL_SECONDS);
    if (AUDIENCE) jwt.setAudience(AUDIENCE);
    if (ISSUER) jwt.setIssuer(ISSUER);
    const token = await jwt.sign(new TextEncoder().encode(SECRET));
    res.set('Cache-Control', 'no-store').type('text/plain').send(token);
  } catch (err) {
    console.error('token endpoint:', err);
    res.sendStatus(500);
  }
});

const server = app.listen(Number(process.env.PORT ?? 3000), process.env.HOST ?? '127.0.0.1', () => {
  const { address, port } = server.address();
  console.log(`token endpoint listening on http://${address}:${port}/api/tidings-token`);
});
