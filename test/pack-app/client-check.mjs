// Run inside the scratch app made by test/pack.test.ts, from the installed tarballs only:
// connects with @tidings/client, subscribes, and waits for a publication made through the
// server API. Prints one JSON line; exits 0 on success, 1 on failure or after 15 s.
// WS_URL may be wss:// through a TLS proxy: NODE_EXTRA_CA_CERTS makes Node trust its certificate.
import { Tidings } from '@tidings/client';
import { publishViaApi } from './publish-via-api.mjs';

const { WS_URL, TOKEN } = process.env;
const channel = `chat:pack-${process.pid}`;
const text = `hello from the API ${Date.now()}`;
const giveUp = setTimeout(() => fail(new Error('no publication within 15 s')), 15_000);

function fail(err) {
  console.error(`client-check: ${err?.stack ?? err}`);
  process.exit(1);
}

try {
  const client = new Tidings(WS_URL, { token: TOKEN });
  const sub = client.subscribe(channel);
  const received = new Promise((resolve) => sub.on('publication', ({ data }) => resolve(data)));
  await client.connect();
  await sub.ready();
  await publishViaApi(channel, { text });
  const data = await received;
  clearTimeout(giveUp);
  console.log(JSON.stringify({ received: data.text === text, transport: client.transport, resolved: import.meta.resolve('@tidings/client') }));
  client.disconnect();
  process.exit(0);
} catch (err) {
  fail(err);
}
