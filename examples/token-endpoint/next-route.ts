// The token endpoint as a Next.js App Router route handler: save it as
// app/api/tidings-token/route.ts. GET answers the signed-in user's Tidings connection token
// as plain text, or 401 when nobody is signed in.
// docs/token-endpoint.md explains it; test/token-endpoint.test.ts runs it.
//
// Typed with the standard Request and Response only; signed with `jose` (npm install jose),
// which runs in both the Node.js and the Edge runtime.
import { SignJWT } from 'jose';

const TTL_SECONDS = 10 * 60; // short: the SDK calls getToken again before it expires

interface User {
  id: string;
  name: string;
}

// --- Placeholder: your app's own session. Replace with your auth library's call (Auth.js
// --- `auth()`, Clerk, a lookup of your own session cookie...). Here a `session` cookie is
// --- looked up in a table of demo sessions.
const DEMO_SESSIONS = new Map<string, User>([['demo-session-alice', { id: 'alice', name: 'Alice' }]]);
function sessionUser(request: Request): User | undefined {
  const sid = /(?:^|;\s*)session=([^;]*)/.exec(request.headers.get('cookie') ?? '')?.[1];
  return sid === undefined ? undefined : DEMO_SESSIONS.get(sid);
}

export async function GET(request: Request): Promise<Response> {
  const user = sessionUser(request);
  if (!user) return new Response('not signed in', { status: 401, headers: { 'Content-Type': 'text/plain' } });

  // The same values as the Tidings server's auth.secret (and auth.audience / auth.issuer when
  // it sets them): the variables `tidings serve` reads, so both can share one environment file.
  const secret = process.env.TIDINGS_AUTH__SECRET;
  if (!secret) throw new Error('set TIDINGS_AUTH__SECRET');
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({ info: { name: user.name } }) // the public profile others see
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(user.id) // the user id Tidings knows the connection by
    .setIssuedAt(now)
    .setExpirationTime(now + TTL_SECONDS);
  if (process.env.TIDINGS_AUTH__AUDIENCE) jwt.setAudience(process.env.TIDINGS_AUTH__AUDIENCE);
  if (process.env.TIDINGS_AUTH__ISSUER) jwt.setIssuer(process.env.TIDINGS_AUTH__ISSUER);
  const token = await jwt.sign(new TextEncoder().encode(secret));

  return new Response(token, { headers: { 'Content-Type': 'text/plain', 'Cache-Control': 'no-store' } });
}
