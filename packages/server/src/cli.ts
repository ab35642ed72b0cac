#!/usr/bin/env node
/**
 * The `tidings` command: `serve` (production), `dev` (demo setup, prints a token
 * and a curl line) and `token` (mints HS256 tokens). Exit codes: 0 ok, 1 runtime
 * failure (e.g. port in use), 2 bad usage or bad configuration. SIGINT/SIGTERM
 * stop gracefully; SIGHUP reloads namespaces, token keys and API keys. With
 * `--workers`, the process is the primary of worker processes (workers/).
 */
import { realpathSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Command, CommanderError } from 'commander';
import { pino } from 'pino';
import { mintToken, type MintTokenClaims } from './auth/token-mint.js';
import { loadConfigInput, loadConfigWithInput } from './config/load.js';
import { ConfigError, type TidingsConfig, type TidingsConfigInput } from './config/schema.js';
import { prepareDevInput, DEV_SECRETS_FILE } from './dev-defaults.js';
import { chooseLogFormat, createLogger, type Logger } from './log.js';
import { CliError } from './cli-error.js';
import { token, type TokenFlags } from './cli-token.js';
import { createTidings, hasTokenKey, type Tidings } from './node.js';
import { VERSION } from './version.js';
import { isPrimaryOfWorkers, runPrimary } from './workers/primary.js';
import { joinPrimary, leavePrimary, type WorkerSide } from './workers/worker.js';

const NO_KEY_MESSAGE =
  'tidings serve needs a key to verify connection tokens. Set one of: auth.secret (HS256), ' +
  'auth.publicKey / auth.publicKeyFile (RS256/ES256), auth.jwksFile, auth.jwksUrl, or auth.issuers ' +
  'in the config file, or env TIDINGS_AUTH__SECRET=... (or set auth.allowAnonymous: true to accept only anonymous connections).';

interface ServerFlags {
  config?: string;
  port?: string;
  host?: string;
  dataDir?: string;
  logLevel?: string;
  logFormat?: string;
  workers?: string;
}

export function buildProgram(): Command {
  const program = new Command('tidings');
  program
    .description('Tidings real-time server')
    .version(VERSION)
    // Throw instead of exiting so main() maps usage errors to exit code 2 in one place.
    .exitOverride()
    .addHelpText(
      'after',
      '\nSettings come from a YAML file (--config or env TIDINGS_CONFIG), env vars (TIDINGS_PORT,\n' +
        'TIDINGS_AUTH__SECRET, TIDINGS_CLIENT__PING_INTERVAL, ...) and flags, later ones winning.\n\n' +
        'Examples:\n  tidings dev\n  TIDINGS_AUTH__SECRET=... tidings serve --config tidings.yaml\n  tidings token alice --role admin --ttl 10m',
    );

  withServerFlags(program.command('serve').description('run a Tidings node with the given settings'))
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent')
    .option('--log-format <format>', 'json, pretty, or auto (pretty on a terminal, JSON otherwise)')
    .action((opts: ServerFlags) => serve(opts));

  withServerFlags(program.command('dev').description('run with demo namespaces and a persistent dev secret; prints a token and API key'))
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent')
    .option('--log-format <format>', 'json, pretty, or auto (pretty on a terminal, JSON otherwise)')
    .action((opts: ServerFlags) => dev(opts));

  program
    .command('token')
    .description('mint an HS256 connection token (or a subscription token with --channel) and print it')
    .argument('<user>', 'user id (the token sub)')
    .option('-r, --role <role>', 'role to grant; repeat or comma-separate', collectList, [] as string[])
    .option('--ttl <duration>', 'lifetime such as 10m, 1h, 7d; 0 for no expiry', '1h')
    .option('--info <json>', 'public profile as a JSON object, e.g. \'{"name":"Alice"}\'')
    .option('--channel <channel>', 'mint a subscription token for this channel instead')
    .option('--channels <list>', 'server-side subscriptions; repeat or comma-separate', collectList, [] as string[])
    .option('--secret <secret>', 'HS256 secret (default: auth.secret from config/env, else <data-dir>/' + DEV_SECRETS_FILE + ')')
    .option('--audience <aud>', 'aud claim (default: the first auth.audience from config/env)')
    .option('--issuer <iss>', 'iss claim (default: the first auth.issuer from config/env)')
    .option('-c, --config <file>', 'YAML config file')
    .option('--data-dir <dir>', 'where `tidings dev` keeps its secrets (default: ./data)')
    .action((user: string, opts: TokenFlags) => token(user, opts));

  return program;
}

function withServerFlags(cmd: Command): Command {
  return cmd
    .option('-c, --config <file>', 'YAML config file (default: env TIDINGS_CONFIG)')
    .option('-p, --port <port>', 'port to listen on (0: any free port)')
    .option('--host <host>', 'address to bind')
    .option('--data-dir <dir>', 'data directory' + (cmd.name() === 'dev' ? ' (default: ./data)' : ''))
    .option('--workers <n>', 'worker processes sharing the port: a number, or auto (one per core); default 1');
}

function collectList(value: string, previous: string[]): string[] {
  return [...previous, ...value.split(',').map((s) => s.trim()).filter((s) => s.length > 0)];
}

/** Flags as config input. A non-numeric port is passed through so validation reports it as `port`. */
function flagsOf(opts: ServerFlags): Partial<TidingsConfigInput> {
  const flags: Record<string, unknown> = {};
  if (opts.port !== undefined) flags['port'] = /^\d+$/.test(opts.port) ? Number(opts.port) : opts.port;
  if (opts.host !== undefined) flags['host'] = opts.host;
  if (opts.dataDir !== undefined) flags['dataDir'] = opts.dataDir;
  if (opts.logLevel !== undefined) flags['logLevel'] = opts.logLevel;
  if (opts.logFormat !== undefined) flags['logFormat'] = opts.logFormat;
  if (opts.workers !== undefined) flags['workers'] = /^\d+$/.test(opts.workers) ? Number(opts.workers) : opts.workers;
  return flags as Partial<TidingsConfigInput>;
}

// ------------------------------------------------------------------ serve

async function serve(opts: ServerFlags): Promise<void> {
  // Read again on SIGHUP, from the same file, env and flags.
  const load = () => loadConfigWithInput({ file: opts.config, env: process.env, flags: flagsOf(opts) });
  const { input, config } = load();
  if (!hasTokenKey(config) && !config.auth.allowAnonymous) throw new CliError(NO_KEY_MESSAGE);
  if (isPrimaryOfWorkers(config)) return runPrimary({ config, log: cliLogger(config, 1) });
  const worker = await joinPrimary();
  const tidings = createTidings({ ...input, ...worker?.parts, logger: workerLogger(cliLogger(config, 1), worker) });
  const address = await listenOrFail(tidings, config);
  const { stopping, stop } = stopOnSignals(tidings, worker);
  const reload = reloadOnSighup(tidings, load, stopping);
  worker?.started(tidings, address, { stop, reload });
}

function workerLogger(logger: Logger, worker: WorkerSide | undefined): Logger {
  return worker ? worker.logger(logger) : logger;
}

/**
 * The CLI's logger, on stdout (serve) or stderr (dev): readable lines when that is a
 * terminal and `logFormat` is auto, JSON otherwise. In readable form frequent audit
 * events are summarised unless the level is debug or trace.
 */
function cliLogger(config: TidingsConfig, fd: 1 | 2): Logger {
  const isTTY = (fd === 1 ? process.stdout : process.stderr).isTTY === true;
  const format = chooseLogFormat(config.logFormat, isTTY);
  // Readable lines are written at once (a person is watching; the audit summary is written on exit too).
  return createLogger(config.logLevel, format === 'pretty' ? pino.destination({ dest: fd, sync: true }) : pino.destination(fd), {
    format,
    colors: isTTY && !process.env['NO_COLOR'],
    auditEach: config.logLevel === 'debug' || config.logLevel === 'trace',
  });
}

// ------------------------------------------------------------------ dev

async function dev(opts: ServerFlags): Promise<void> {
  const env = process.env;
  const flags = flagsOf(opts);
  // The data dir decides which dev secrets to use, so find it before the demo setup is built.
  const userInput = loadConfigInput({ file: opts.config, env, flags });
  const dataDir = typeof userInput.dataDir === 'string' ? userInput.dataDir : './data';
  const devSetup = await prepareDevInput(dataDir);
  // Read again on SIGHUP, with the same demo setup underneath (the data dir, hence the dev secret, stays).
  const load = () => loadConfigWithInput({ file: opts.config, env, flags, defaults: devSetup.input });
  const { input, config } = load();
  if (isPrimaryOfWorkers(config)) return runPrimary({ config, log: cliLogger(config, 2) });
  const worker = await joinPrimary();

  // stdout carries the banner (scripts grep TOKEN=), so logs go to stderr.
  const tidings = createTidings({ ...input, ...worker?.parts, logger: workerLogger(cliLogger(config, 2), worker) });
  const secret = config.auth.secret ?? devSetup.secret;
  // The demo app and its backend exist in dev mode only (never in `serve`).
  const demo = await loadDemo(tidings, secret, claimsFor(config));
  // Browsers opening the bare address get a page linking the dashboard, the demo, health and the docs.
  const landing = { links: demo ? [{ href: '/demo/', label: 'Team board demo', note: 'open it in two windows' }] : [] };
  const address = await listenOrFail(tidings, config, demo ? { landing, onRequest: (req, res) => demo.handle(req, res) || notFound(res) } : { landing });
  const { stopping, stop } = stopOnSignals(tidings, worker);
  const reload = reloadOnSighup(tidings, load, stopping);
  worker?.started(tidings, address, { stop, reload });
  // With workers, the first one prints the banner, once.
  if (worker && (worker.index !== 1 || worker.restart)) return;

  const host = displayHost(address);
  const base = `${host}:${address.port}`;
  const wsUrl = `ws://${base}${config.websocket.path}`;
  const jwt = await mintToken(secret, { sub: 'demo', info: { name: 'Demo' }, ttlSeconds: 24 * 3600, ...claimsFor(config) });
  // The user's config may replace apiKeys (arrays replace); show a key that can publish, if any.
  const apiKey = (config.apiKeys.find((k) => k.id === 'dev') ?? config.apiKeys.find((k) => k.scopes.includes('admin') || k.scopes.includes('publish')))?.key;

  const lines = [
    '',
    `Tidings ${VERSION} dev server is running.`,
    `Dev secrets: ${dataDir}/${DEV_SECRETS_FILE} (${devSetup.created ? 'created' : 'reused'}). Namespaces: ${Object.keys(config.namespaces).join(', ')}.`,
    '',
    `WS_URL=${wsUrl}`,
    `TOKEN=${jwt}`,
  ];
  if (apiKey) lines.push(`API_KEY=${apiKey}`);
  if (config.dashboard.enabled) {
    lines.push(`DASHBOARD_URL=http://${base}${config.dashboard.path}/`, `DASHBOARD_SIGN_IN=http://${base}${await tidings.dashboardSignInPath()}`);
  }
  if (demo) lines.push(`DEMO_URL=http://${base}/demo/`);
  if (config.dashboard.enabled) lines.push('', 'Open DASHBOARD_SIGN_IN once to sign in to the dashboard (the link works one time; later, sign in with API_KEY).');
  if (demo) lines.push('Open DEMO_URL in two browser windows and pick two names to try the team board.');
  lines.push('', 'TOKEN connects as user "demo" for 24h. Mint others with: npx tidings token <user> [--role admin] [--ttl 1h]');
  if (apiKey) {
    const body = JSON.stringify({ channel: 'chat:lobby', data: { text: 'hello' } });
    lines.push(
      '',
      'Publish to chat:lobby:',
      `  curl -X POST http://${base}${config.api.prefix}/publish -H 'Authorization: Bearer ${apiKey}' -H 'Content-Type: application/json' -d '${body}'`,
    );
  }
  lines.push('', 'Press Ctrl+C to stop.', '');
  process.stdout.write(lines.join('\n'));

  if (!isLoopback(address.address)) {
    process.stderr.write(`warning: the dev server is reachable on ${address.address}; it accepts any origin and has an admin API key. Use \`tidings serve\` for anything shared.\n`);
  }
}

interface DemoBackend {
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  close(): void;
}

/**
 * The team-board demo (apps/demo): its backend module from the workspace package
 * `@tidings/demo`, and its built files. Undefined (and dev runs without it) when the
 * package is not installed.
 */
async function loadDemo(tidings: Tidings, secret: string, claims: { audience?: string; issuer?: string }): Promise<DemoBackend | undefined> {
  let mod: { createDemoBackend(options: Record<string, unknown>): DemoBackend };
  try {
    mod = (await import('@tidings/demo/server' as string)) as typeof mod;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') return undefined;
    throw err;
  }
  const staticDir = join(dirname(fileURLToPath(import.meta.url)), '../../../apps/demo/dist');
  return mod.createDemoBackend({ tidings, staticDir, prefix: '/demo', mintToken: (c: MintTokenClaims) => mintToken(secret, { ...claims, ...c }) });
}

function notFound(res: ServerResponse): void {
  res.writeHead(404, { 'content-type': 'application/json; charset=utf-8' });
  res.end('{"error":{"code":"not_found","message":"not found"}}');
}

/** 0.0.0.0 and :: mean "every interface"; a client reaches them via loopback. */
function displayHost(address: AddressInfo): string {
  const a = address.address;
  if (a === '0.0.0.0' || a === '::' || a === '') return '127.0.0.1';
  return a.includes(':') ? `[${a}]` : a;
}

function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1' || address === '::ffff:127.0.0.1';
}

/** Audience and issuer the node checks, so a minted token passes its checks. */
function claimsFor(config: TidingsConfig): { audience?: string; issuer?: string } {
  const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
  const audience = first(config.auth.audience);
  const issuer = first(config.auth.issuer);
  return { ...(audience ? { audience } : {}), ...(issuer ? { issuer } : {}) };
}

// ------------------------------------------------------------------ running

async function listenOrFail(tidings: Tidings, config: TidingsConfig, options: Parameters<Tidings['listen']>[2] = {}): Promise<AddressInfo> {
  try {
    return await tidings.listen(undefined, undefined, options);
  } catch (err) {
    await tidings.close();
    throw new CliError(`cannot listen on ${config.host}:${config.port}: ${(err as Error).message}`, 1);
  }
}

/**
 * Ends the process once what is pending has run, log writes included. JSON lines go through
 * an asynchronous destination: `process.exit` at once wrote the last lines synchronously
 * while an earlier one was still being written, so `tidings stopped` could come out before
 * `shutting down`. Anything left holding the event loop open gets a second at most.
 */
function exitAfterLogs(code: number): void {
  process.exitCode = code;
  setTimeout(() => process.exit(code), 1000).unref();
}

/**
 * First SIGINT/SIGTERM: graceful close, exit 0. A second one: exit at once. Returns whether a
 * stop began, and `stop` for a worker's primary (a stop already under way goes on).
 */
function stopOnSignals(tidings: Tidings, worker?: WorkerSide): { stopping: () => boolean; stop: (reason: string) => void } {
  let stopping = false;
  const stop = (reason: string) => {
    if (stopping) return;
    stopping = true;
    tidings.log.info(reason.startsWith('SIG') ? { signal: reason } : { reason }, 'shutting down');
    tidings.close().then(
      () => {
        worker?.detach();
        exitAfterLogs(0);
      },
      (err: unknown) => {
        tidings.log.error({ err }, 'shutdown failed');
        exitAfterLogs(1);
      },
    );
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    stop(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return { stopping: () => stopping, stop };
}

/** Settings `Tidings.reload` applies; a change to any other top-level setting needs a restart. */
const RELOADABLE = new Set(['namespaces', 'auth', 'apiKeys']);

/**
 * SIGHUP: read the configuration again and apply what can change while running
 * (namespaces, token keys, API keys). A configuration that does not load or
 * validate is logged and the running one stays, so a typo never takes a node down.
 * Reloads run one at a time; signals during one queue a single further reload. Returns the
 * trigger (a worker's primary pulls it on its own SIGHUP).
 */
function reloadOnSighup(tidings: Tidings, load: () => { input: TidingsConfigInput; config: TidingsConfig }, stopping: () => boolean): () => void {
  let running: Promise<void> | undefined;
  let again = false;
  const reload = async (): Promise<void> => {
    try {
      const { input, config } = load();
      if (!hasTokenKey(config) && !config.auth.allowAnonymous) throw new CliError(NO_KEY_MESSAGE);
      await tidings.reload(input);
      const current = tidings.config as unknown as Record<string, unknown>;
      const next = config as unknown as Record<string, unknown>;
      const needRestart = Object.keys(next).filter((k) => !RELOADABLE.has(k) && JSON.stringify(next[k]) !== JSON.stringify(current[k]));
      if (needRestart.length > 0) tidings.log.warn({ signal: 'SIGHUP', settings: needRestart }, `configuration reloaded, but ${needRestart.join(', ')} changed and need a restart to apply`);
      else tidings.log.info({ signal: 'SIGHUP' }, 'SIGHUP: configuration reloaded');
    } catch (err) {
      const problems = err instanceof ConfigError ? err.problems : undefined;
      const message = err instanceof ConfigError || err instanceof CliError ? err.message : String((err as Error)?.stack ?? err);
      tidings.log.error({ signal: 'SIGHUP', ...(problems ? { problems } : {}) }, `configuration reload failed, keeping the running configuration: ${message}`);
    }
  };
  const next = (): void => {
    running = reload().finally(() => {
      running = undefined;
      if (again && !stopping()) {
        again = false;
        next();
      }
    });
  };
  const trigger = (): void => {
    if (stopping()) return;
    if (running) again = true;
    else next();
  };
  process.on('SIGHUP', trigger);
  return trigger;
}

// ------------------------------------------------------------------ entry

export async function main(argv: string[] = process.argv): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander has already printed help, the version or the usage error.
      process.exitCode = err.exitCode === 0 ? 0 : 2;
    } else if (err instanceof ConfigError || err instanceof CliError) {
      // Messages that already start with the command name read badly with a second "tidings:".
      process.stderr.write(err.message.startsWith('tidings ') ? `${err.message}\n` : `tidings: ${err.message}\n`);
      process.exitCode = err instanceof CliError ? err.exitCode : 2;
    } else {
      process.stderr.write(`tidings: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    }
    leavePrimary();
  }
}

/** npm links bin entries as symlinks, so both sides are compared after resolving links. */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return pathToFileURL(realpathSync(script)).href === pathToFileURL(realpathSync(fileURLToPath(import.meta.url))).href;
  } catch {
    return false;
  }
}

if (isEntryPoint()) void main();
