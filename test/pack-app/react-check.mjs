// Run inside the scratch app made by test/pack.test.ts: a React component using
// @tidings/react renders in jsdom, and shows a publication made through the server API
// once it arrives. Prints one JSON line; exits 0 on success, 1 on failure or after 15 s.
import { JSDOM } from 'jsdom';
import { publishViaApi } from './publish-via-api.mjs';

const dom = new JSDOM('<!doctype html><html><body><div id="root"></div></body></html>', { url: 'http://127.0.0.1/' });
globalThis.window = dom.window;
globalThis.document = dom.window.document;
if (typeof globalThis.navigator === 'undefined') globalThis.navigator = dom.window.navigator;

const { createElement: h } = await import('react');
const { createRoot } = await import('react-dom/client');
const { Tidings } = await import('@tidings/client');
const { TidingsProvider, useChannel, useConnectionState } = await import('@tidings/react');

const { WS_URL, TOKEN } = process.env;
const channel = `chat:react-${process.pid}`;
const text = `live in React ${Date.now()}`;
const deadline = Date.now() + 15_000;

function fail(err) {
  console.error(`react-check: ${err?.stack ?? err}\n${document.body.innerHTML}`);
  process.exit(1);
}

function Feed() {
  const connection = useConnectionState();
  const { messages, state } = useChannel(channel);
  return h('section', { id: 'feed', 'data-connection': connection, 'data-state': state },
    h('ul', null, messages.map((m) => h('li', { key: String(m.offset ?? m.data.text) }, m.data.text))));
}

async function until(what, predicate) {
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

try {
  const client = new Tidings(WS_URL, { token: TOKEN });
  client.connect().catch(fail);
  const root = createRoot(document.getElementById('root'));
  root.render(h(TidingsProvider, { client }, h(Feed)));
  const feed = () => document.getElementById('feed');
  await until('the subscription', () => feed()?.dataset.state === 'subscribed' && feed()?.dataset.connection === 'connected');
  await publishViaApi(channel, { text });
  await until('the publication in the page', () => [...document.querySelectorAll('#feed li')].some((li) => li.textContent === text));
  console.log(JSON.stringify({ rendered: document.querySelector('#feed li')?.textContent === text }));
  root.unmount();
  client.disconnect();
  process.exit(0);
} catch (err) {
  fail(err);
}
