/**
 * The README's commands, run as written. Every ```sh block of README.md carries a marker comment
 * `<!-- readme-tour: NAME -->` on the line before it; this test runs each marked block with bash,
 * in the repository's root as a reader would, against a real `tidings dev` child on a free port,
 * and checks what the README says the block prints. The only changes made to a block are those a
 * reader makes by hand: the address of this server instead of 127.0.0.1:8080, the API key it
 * printed instead of the README's sample, the epoch it answered instead of the sample epoch, and a
 * scratch path for `tidings.yaml`. A block that cannot run here is listed in NOT_RUN with the
 * reason; a block with no marker, or a marker this test does not know, fails the test.
 *
 * Long-running commands (the tour client) run in their own process group and are stopped as a
 * reader stops them, with Ctrl+C (SIGINT to the group). Every wait is bounded.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');
const TIDINGS_BIN = join(ROOT, 'packages/server/bin/tidings.js');

/** Blocks this suite does not run, and why. */
const NOT_RUN: Record<string, string> = {
  'quick-start':
    '`npm install` needs the registry and rebuilds the native SQLite module, and `npm test` would run this suite inside itself; ' +
    'the install is what the suite runs on, and CI (.ci/run) runs both on a clean clone',
  start:
    '`npm start` is `npm run build` then `tidings dev` on port 8080; the suite runs on an already built tree (pretest builds it) and must ' +
    'not take a fixed port, so it runs the same `tidings dev` on a free port instead (checked below: the start script ends with `cli.js dev`)',
};
/** Blocks this suite runs, in the README's order. */
const RUN = ['token', 'client', 'publish', 'missed', 'recover', 'notify', 'inbox', 'serve'];

/** The README's sample values a reader replaces with their own. */
const SAMPLE = { address: '127.0.0.1:8080', apiKey: 'LuvyTSmr6Gz7zEh...', epoch: 'Vt9NwAg0', config: '--config tidings.yaml' };

// ---------------------------------------------------------------------------------------------
// The README's blocks
// ---------------------------------------------------------------------------------------------

interface Block {
  name: string | null;
  lang: string;
  code: string;
  line: number;
}

/** Every fenced block of `markdown` (list-item indentation removed), with the name of the
 *  `<!-- readme-tour: NAME -->` marker on the nearest non-blank line above it, if any. */
function fencedBlocks(markdown: string): Block[] {
  const lines = markdown.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})(\w*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const [, indent, fence, lang] = open;
    let j = i + 1;
    while (j < lines.length && lines[j]!.trim() !== fence) j++;
    const code = lines
      .slice(i + 1, j)
      .map((l) => (l.startsWith(indent!) ? l.slice(indent!.length) : l.trimStart()))
      .join('\n');
    let k = i - 1;
    while (k >= 0 && lines[k]!.trim() === '') k--;
    const marker = k >= 0 ? /^\s*<!--\s*readme-tour:\s*([\w-]+)\s*-->\s*$/.exec(lines[k]!) : null;
    blocks.push({ name: marker ? marker[1]! : null, lang: lang!, code, line: i + 1 });
    i = j;
  }
  return blocks;
}

const isShell = (b: Block) => ['sh', 'bash', 'shell', 'console'].includes(b.lang);

// ---------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------

/** The test's environment without TIDINGS_* and PORT (every TIDINGS_* variable is a setting). */
function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('TIDINGS_') && k !== 'PORT') env[k] = v;
  return env;
}

async function waitFor<T>(what: string, ms: number, probe: () => T | undefined | false, output: () => string): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}; output:\n${output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Proc {
  child: ChildProcess;
  out(): string;
  stdout(): string;
  exited: Promise<number | null>;
}

/** A process in its own group, so that a signal reaches bash and what it started, as Ctrl+C does. */
function startProc(cmd: string, args: string[], opts: { cwd: string; env: Record<string, string> }): Proc {
  const child = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let all = '';
  let stdout = '';
  child.stdout!.on('data', (d: Buffer) => ((stdout += d.toString()), (all += d.toString())));
  child.stderr!.on('data', (d: Buffer) => (all += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code, signal) => r(code ?? (signal ? -1 : null))));
  return { child, out: () => all, stdout: () => stdout, exited };
}

/** Signals the process group, then SIGKILL if it is still there after `ms`. */
async function stopProc(p: Proc, signal: NodeJS.Signals, ms = 10_000): Promise<number | null> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return p.exited;
  process.kill(-p.child.pid!, signal);
  const killer = setTimeout(() => {
    try {
      process.kill(-p.child.pid!, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }, ms);
  const code = await p.exited;
  clearTimeout(killer);
  return code;
}

/** The JSON bodies curl printed, one after another (curl adds no newline after a body). */
const bodies = (out: string): any[] => JSON.parse(`[${out.trim().replace(/}\s*{/g, '},{')}]`);

/** Frames printed by the tour client, one JSON object per stdout line. */
const frames = (p: Proc): any[] =>
  p
    .stdout()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));

// ---------------------------------------------------------------------------------------------
// The tour
// ---------------------------------------------------------------------------------------------

describe('README commands', () => {
  let readme: string;
  let blocks: Block[];
  let dataDir: string;
  let server: Proc | undefined;
  let address = '';
  let banner: Record<string, string> = {};
  let epoch = '';
  /** Shell variables the blocks set (TOKEN, API_KEY), carried to the next blocks. */
  const state: Record<string, string> = {};
  const clients: Proc[] = [];

  async function startDev(): Promise<void> {
    server = startProc(process.execPath, [TIDINGS_BIN, 'dev', '--port', '0', '--host', '127.0.0.1', '--data-dir', dataDir], { cwd: dataDir, env: cleanEnv() });
    const s = server;
    await waitFor('the banner of tidings dev', 30_000, () => s.stdout().includes('Press Ctrl+C') || (s.child.exitCode !== null && 'exit'), s.out);
    expect(s.child.exitCode, `tidings dev exited:\n${s.out()}`).toBeNull();
    banner = Object.fromEntries([...s.stdout().matchAll(/^([A-Z_]+)=(\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
    address = new URL(banner['WS_URL']!).host;
    expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
  }

  /** The named block as the reader runs it against this server. */
  function script(name: string): string {
    const block = blocks.find((b) => b.name === name);
    if (!block) throw new Error(`README.md has no block marked readme-tour: ${name}`);
    return block.code
      .replaceAll(SAMPLE.address, address)
      .replaceAll(SAMPLE.apiKey, banner['API_KEY']!)
      .replaceAll(SAMPLE.epoch, epoch || SAMPLE.epoch)
      .replaceAll(SAMPLE.config, `--config ${join(dataDir, 'serve', 'tidings.yaml')}`);
  }

  /** Runs a block with bash in the repository's root. `npx` must resolve the workspace's own
   *  `tidings` (offline: never the registry), and `tidings token` reads the dev secret from this
   *  server's data directory (the reader's is ./data, where `npm start` keeps it). */
  function bash(name: string): Proc & { stateFile: string } {
    const stateFile = join(dataDir, `state-${name}`);
    const code = `set -eo pipefail\n${script(name)}\nprintf 'TOKEN=%s\\nAPI_KEY=%s\\n' "\${TOKEN-}" "\${API_KEY-}" > ${JSON.stringify(stateFile)}\n`;
    const env = { ...cleanEnv(), ...state, TIDINGS_DATA_DIR: dataDir, npm_config_offline: 'true', npm_config_update_notifier: 'false' };
    return { ...startProc('bash', ['-c', code], { cwd: ROOT, env }), stateFile };
  }

  /** Runs a block to its end (bounded) and returns its stdout. */
  async function run(name: string, ms = 20_000): Promise<string> {
    const p = bash(name);
    const timer = setTimeout(() => void stopProc(p, 'SIGKILL'), ms);
    const code = await p.exited;
    clearTimeout(timer);
    expect(code, `block ${name} failed:\n${p.out()}`).toBe(0);
    const vars = await readFile(p.stateFile, 'utf8');
    for (const [, k, v] of vars.matchAll(/^(TOKEN|API_KEY)=(.*)$/gm)) if (v) state[k!] = v!;
    return p.stdout();
  }

  beforeAll(async () => {
    readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    blocks = fencedBlocks(readme);
    dataDir = await mkdtemp(join(tmpdir(), 'tidings-tour-'));
    await startDev();
  }, 40_000);

  afterAll(async () => {
    for (const c of clients) await stopProc(c, 'SIGKILL', 1000);
    if (server) await stopProc(server, 'SIGTERM');
    await rm(dataDir, { recursive: true, force: true });
  }, 30_000);

  it('every shell block of the README is marked, and each is run below or not run for a stated reason', () => {
    const shell = blocks.filter(isShell);
    expect(shell.filter((b) => !b.name).map((b) => `README.md:${b.line}`)).toEqual([]);
    const names = shell.map((b) => b.name);
    expect(new Set(names).size).toBe(names.length);
    expect([...names].sort()).toEqual([...RUN, ...Object.keys(NOT_RUN)].sort());
    for (const reason of Object.values(NOT_RUN)) expect(reason.length).toBeGreaterThan(40);
  });

  it('start: npm start ends with tidings dev, whose banner has the lines the README shows', async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts['start']).toMatch(/&& node packages\/server\/dist\/cli\.js dev$/);
    const shown = blocks[blocks.findIndex((b) => b.name === 'start') + 1]!;
    const names = [...shown.code.matchAll(/^([A-Z_]+)=/gm)].map((m) => m[1]!);
    expect(names).toEqual(['WS_URL', 'TOKEN', 'API_KEY']);
    for (const n of names) expect(banner[n], n).toBeTruthy();
  });

  it('token: mints a token for alice with the dev secret', async () => {
    await run('token');
    expect(state['TOKEN']).toMatch(/^eyJ[\w-]+\.[\w-]+\.[\w-]+$/);
    const claims = JSON.parse(Buffer.from(state['TOKEN']!.split('.')[1]!, 'base64url').toString());
    expect(claims).toMatchObject({ sub: 'alice', info: { name: 'Alice' } });
    expect(claims.exp - claims.iat).toBe(3600);
  });

  it('client, publish: the example client prints the replies and the join, then the publication', async () => {
    const client = bash('client');
    clients.push(client);
    await waitFor('the connect and subscribe replies and the join', 15_000, () => frames(client).length >= 3, client.out);
    const [connected, subscribed, join] = frames(client);
    // The README's sample output: the same frames, with the same fields.
    const sample = blocks[blocks.findIndex((b) => b.name === 'client') + 1]!.code.split('\n').map((l) => JSON.parse(l));
    expect(connected.id).toBe(1);
    expect(Object.keys(connected.result).sort()).toEqual(Object.keys(sample[0].result).sort());
    expect(connected.result).toMatchObject({ user: 'alice', subs: { 'user:#alice': { recoverable: true } } });
    expect(subscribed.id).toBe(2);
    expect(Object.keys(subscribed.result).sort()).toEqual(Object.keys(sample[1].result).sort());
    expect(subscribed.result.presence.users).toEqual([expect.objectContaining({ user: 'alice', status: 'online', info: { name: 'Alice' } })]);
    expect(join).toMatchObject({ type: sample[2].type, channel: 'chat:lobby', info: { user: 'alice', info: { name: 'Alice' } } });
    epoch = subscribed.result.epoch;

    const out = await run('publish');
    expect(bodies(out)).toEqual([{ data: { offset: 1, epoch } }]);
    // The README's comment under the command shows that body.
    expect(Object.keys(JSON.parse(/^# (\{.*\})$/m.exec(script('publish'))![1]!).data).sort()).toEqual(['epoch', 'offset']);
    const shown = blocks[blocks.findIndex((b) => b.name === 'publish') + 1]!;
    await waitFor('the publication', 10_000, () => frames(client).length >= 4, client.out);
    expect(frames(client)[3]).toEqual(JSON.parse(shown.code));

    // "Stop the client (Ctrl+C)": it closes with 1000 and exits 0.
    expect(await stopProc(client, 'SIGINT')).toBe(0);
  });

  it('missed, recover: the client started again with --recover gets the missed publications in order', async () => {
    const out = await run('missed');
    expect(bodies(out)).toEqual([{ data: { offset: 2, epoch } }, { data: { offset: 3, epoch } }]);

    const client = bash('recover');
    clients.push(client);
    await waitFor('the subscribe reply', 15_000, () => frames(client).find((f) => f.id === 2), client.out);
    const reply = frames(client).find((f) => f.id === 2);
    expect(reply.result).toMatchObject({
      epoch,
      offset: 3,
      recovered: true,
      publications: [
        { offset: 2, data: { text: 'while you were away' } },
        { offset: 3, data: { text: 'still away' } },
      ],
    });
  });

  it('notify: the running client gets the notification; inbox: it is still there after a restart', async () => {
    const client = clients.at(-1)!;
    expect(client.child.exitCode).toBeNull();
    const out = await run('notify');
    expect(bodies(out)[0].data).toMatchObject({ notifications: [{ user: 'alice', title: 'Bob mentioned you', read: false }] });
    await waitFor('the notification push', 10_000, () => frames(client).find((f) => f.type === 'notification'), client.out);
    const push = frames(client).find((f) => f.type === 'notification');
    expect(push).toMatchObject({ notification: { type: 'mention', title: 'Bob mentioned you', read: false }, unread: 1 });
    expect(await stopProc(client, 'SIGINT')).toBe(0);

    // "Restart the server": same data directory, a new free port.
    expect(await stopProc(server!, 'SIGTERM')).toBe(0);
    await startDev();
    const [inbox] = bodies(await run('inbox'));
    expect(inbox.data).toMatchObject({ notifications: [{ user: 'alice', type: 'mention', title: 'Bob mentioned you', read: false }], unread: 1 });
  }, 60_000);

  it('serve: tidings serve starts from a config file and shuts down gracefully on Ctrl+C', async () => {
    await stopProc(server!, 'SIGTERM');
    const dir = join(dataDir, 'serve');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'tidings.yaml'), `host: 127.0.0.1\nport: 0\ndataDir: ${JSON.stringify(dir)}\nauth:\n  secret: readme-tour-secret-0123456789abcdef\n`);
    const serve = bash('serve');
    clients.push(serve);
    await waitFor('tidings listening', 20_000, () => serve.out().includes('tidings listening') || serve.child.exitCode !== null, serve.out);
    const port = /"port":(\d+)/.exec(serve.out())?.[1];
    expect(port, serve.out()).toBeTruthy();
    const health = await fetch(`http://127.0.0.1:${port}/api/v1/health`, { signal: AbortSignal.timeout(5_000) });
    expect(health.status).toBe(200);
    // Ctrl+C: tidings closes and logs it; npx itself then exits 130, as after any Ctrl+C.
    await stopProc(serve, 'SIGINT');
    expect(serve.out()).toMatch(/"signal":"SIGINT".*"msg":"shutting down"[\s\S]*"msg":"tidings stopped"/);
    expect(serve.out()).not.toMatch(/shutdown failed/);
  }, 40_000);
});
