/**
 * The store contract through the IPC stores: a forked host process (dist/engine/ipc/
 * ipc-test-peer.js; build first) holds real SQLite files, this process uses the proxies.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeContract, DEFAULT_RETENTION, type StoreRetention, type StoreSet } from '../../store/stores.contract.js';
import { userChannelsContract, type UserChannelsSet } from '../../store/user-channels.contract.js';
import { readReceiptsContract, type ReadReceiptsSet } from '../../store/read-receipts.contract.js';
import { webhookOutboxContract, type OutboxSet } from '../../store/webhook-outbox.contract.js';
import { ipcStores } from './ipc-stores.js';
import { LinkClosedError, processLink, type Link } from './link.js';

const PEER = fileURLToPath(new URL('../../../dist/engine/ipc/ipc-test-peer.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'tidings-ipc-stores-'));
let n = 0;

async function forkHost(): Promise<{ child: ChildProcess; link: Link }> {
  const child = fork(PEER, ['host'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await new Promise<void>((resolve, reject) => {
    child.on('message', (m: { ready?: boolean }) => m?.ready && resolve());
    child.once('exit', (code) => reject(new Error(`ipc-test-peer host exited with ${code}`)));
  });
  return { child, link: processLink(child) };
}

let host: { child: ChildProcess; link: Link };
beforeAll(async () => {
  host = await forkHost();
});
afterAll(() => {
  host.link.close();
  host.child.kill();
  rmSync(dir, { recursive: true, force: true });
});

function openAt(path: string, retention: StoreRetention): StoreSet {
  const stores = ipcStores(host.link, { options: { path, retention } });
  return {
    notifications: stores.notifications,
    activity: stores.activity,
    audit: stores.audit,
    async reopen() {
      await stores.close();
      return openAt(path, retention);
    },
    close: () => stores.close(),
  };
}

storeContract('IPC stores', async (retention) => openAt(join(dir, `contract-${n++}.db`), retention));

function userChannelsAt(path: string): UserChannelsSet {
  const stores = ipcStores(host.link, { options: { path, retention: DEFAULT_RETENTION } });
  return { store: stores.userChannels, reopen: async () => (await stores.close(), userChannelsAt(path)), close: () => stores.close() };
}
userChannelsContract('IPC stores', async () => userChannelsAt(join(dir, `user-channels-${n++}.db`)));

function readReceiptsAt(path: string): ReadReceiptsSet {
  const stores = ipcStores(host.link, { options: { path, retention: DEFAULT_RETENTION } });
  return { store: stores.readReceipts, reopen: async () => (await stores.close(), readReceiptsAt(path)), close: () => stores.close() };
}
readReceiptsContract('IPC stores', async () => readReceiptsAt(join(dir, `read-receipts-${n++}.db`)));

// The outbox of the primary of `--workers`, used by a worker: the contract holds across the link.
function outboxAt(path: string): OutboxSet {
  const stores = ipcStores(host.link, { options: { path, retention: DEFAULT_RETENTION } });
  return { outbox: stores.webhooks, reopen: async () => (await stores.close(), outboxAt(path)), close: () => stores.close() };
}
webhookOutboxContract('IPC stores', async () => outboxAt(join(dir, `outbox-${n++}.db`)));

describe('IPC stores across processes', () => {
  it('a write resolved through the link is in the file after the host is killed; pending calls then reject clearly', async () => {
    const own = await forkHost();
    const path = join(dir, `killed-${n++}.db`);
    const stores = ipcStores(own.link, { options: { path, retention: DEFAULT_RETENTION } });
    const created = await stores.notifications.create({ users: ['alice'], type: 'info', title: 'kept', priority: 'normal' }, Date.now());
    own.child.kill('SIGKILL');
    await expect(stores.activity.list('global', { limit: 10 })).rejects.toBeInstanceOf(LinkClosedError);
    await expect(stores.audit.query({ limit: 1 })).rejects.toThrow(/^IPC stores: audit\.query failed, the store host is gone: /);
    const again = openAt(path, DEFAULT_RETENTION);
    try {
      const page = await again.notifications.list('alice', { limit: 10 }, Date.now());
      expect(page.notifications.map((x) => [x.id, x.title])).toEqual([[created.notifications[0]!.id, 'kept']]);
    } finally {
      await again.close();
    }
  });

  it("each proxy reports the host's stores' status: not ready until the first answer, ready (a host without status()), then not ready once the host is gone", async () => {
    const own = await forkHost();
    const stores = ipcStores(own.link, { options: { path: join(dir, `status-${n++}.db`), retention: DEFAULT_RETENTION }, statusEveryMs: 50 });
    expect(stores.status()).toEqual({ ready: false, reason: 'stores: no answer from the store host yet' });
    await waitFor(() => stores.status().ready);
    expect([stores.notifications.status(), stores.activity.status(), stores.audit.status()]).toEqual([{ ready: true }, { ready: true }, { ready: true }]);
    own.child.kill('SIGKILL');
    await waitFor(() => !stores.notifications.status().ready);
    expect(stores.audit.status()).toMatchObject({ ready: false, reason: expect.stringMatching(/store host is gone|channel closed|disconnect/i) });
    own.link.close();
  });
});

async function waitFor(check: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !check(); i++) await new Promise((r) => setTimeout(r, 20));
  expect(check()).toBe(true);
}
