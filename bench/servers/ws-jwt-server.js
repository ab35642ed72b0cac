/**
 * Baseline for accepts (bench/ceiling.js): bare `ws`, batched per turn (as
 * ws-coalesced-server.js), that verifies the `connect` frame's HS256 JWT with
 * jose's `jwtVerify` before answering it: the token work Tidings does on a
 * connect, made explicit on the bare side. jose is the copy the server package
 * resolves (packages/server depends on it), the key is imported once as a WebCrypto
 * HMAC key (from the `TextEncoder` bytes of the secret, as Tidings and `mintToken`
 * use it; Tidings caches its imported key too) and only HS256 is accepted.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodePublicationFrame, runServerProcess } from './common.js';
import { batchedConn, batchedDeliver, startBareServer } from './bare-ws.js';

const serverPackage = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../packages/server/package.json');
const { jwtVerify } = await import(createRequire(serverPackage).resolve('jose'));

runServerProcess('ws-jwt', async ({ secret }) => {
  // Imported once: jose given the raw bytes would import them again on every verify.
  const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  const verify = (token) => (typeof token === 'string' ? jwtVerify(token, key, { algorithms: ['HS256'] }) : Promise.reject(new Error('no token')));
  const server = await startBareServer({ makeConn: batchedConn, verify });
  return { ...server, meta: { jwt: 'jose jwtVerify, HS256' }, deliver: batchedDeliver(server.channels, encodePublicationFrame) };
});
