/**
 * A real nginx (Debian's /usr/sbin/nginx, installed by `.ci/run` with apt) in front of a
 * test server, running the site file of `deploy/nginx/tidings.conf` with its listen
 * addresses, upstream port and certificate paths replaced.
 *
 * - `nginxMissing()` is for `describe.skipIf`: outside CI a missing nginx skips the proxy
 *   tests with a message; with CI set it never skips, so `startNginx()` fails loudly.
 * - `selfSignedCert()` makes a throwaway certificate for 127.0.0.1 with `openssl`.
 * - `startNginx()` runs nginx in the foreground (`daemon off`) with its prefix, pid file,
 *   logs and temp paths in a temp dir, listening on free loopback ports; `stop()` ends it by PID.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binaryMissing, freePort } from '../../packages/server/src/test-support/binaries.js';

export { freePort };

const ROOT = new URL('../../', import.meta.url).pathname;
export const NGINX_SITE = join(ROOT, 'deploy/nginx/tidings.conf');

/** Debian's nginx. NGINX_PATH points the tests at another build. */
export const NGINX_PATH = process.env.NGINX_PATH || '/usr/sbin/nginx';

/** True (after a warning) only when nginx is missing outside CI. In CI always false. */
export function nginxMissing(): boolean {
  return binaryMissing(existsSync(NGINX_PATH), `SKIPPING nginx proxy tests: nginx not found at ${NGINX_PATH}: install Debian's nginx (apt-get install -y --no-install-recommends nginx), as .ci/run does`);
}

export interface Certificate {
  certFile: string;
  keyFile: string;
  /** The certificate in PEM, for clients to trust as their only CA. */
  pem: string;
}

/** A self-signed EC certificate for 127.0.0.1 and localhost, valid for a day. */
export async function selfSignedCert(dir: string): Promise<Certificate> {
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  const run = spawnSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', keyFile, '-out', certFile],
    { encoding: 'utf8', timeout: 15_000 },
  );
  if (run.error || run.status !== 0) throw new Error(`openssl could not make a test certificate (Debian package openssl): ${run.error?.message ?? run.stderr}`);
  return { certFile, keyFile, pem: await readFile(certFile, 'utf8') };
}

/** Replaces `from` in `text`, failing when the deploy file no longer has it exactly `times` times. */
function replaceExactly(text: string, from: string, to: string, times = 1): string {
  const found = text.split(from).length - 1;
  if (found !== times) throw new Error(`deploy/nginx/tidings.conf: expected ${times} × "${from}", found ${found}: the test's rewrite needs updating`);
  return text.split(from).join(to);
}

export interface SiteOptions {
  upstreamPort: number;
  tlsPort: number;
  httpPort: number;
  cert: Certificate;
}

/** The deploy site file, listening on 127.0.0.1 test ports, proxying to the test server, with the test certificate. */
export function siteForTest(site: string, o: SiteOptions): string {
  let text = site;
  text = replaceExactly(text, 'server 127.0.0.1:8080;', `server 127.0.0.1:${o.upstreamPort};`);
  text = replaceExactly(text, '    listen 443 ssl http2;\n', `    listen 127.0.0.1:${o.tlsPort} ssl http2;\n`);
  text = replaceExactly(text, '    listen [::]:443 ssl http2;\n', '');
  text = replaceExactly(text, '    listen 80;\n', `    listen 127.0.0.1:${o.httpPort};\n`);
  text = replaceExactly(text, '    listen [::]:80;\n', '');
  text = replaceExactly(text, '/etc/letsencrypt/live/tidings.example.com/fullchain.pem', o.cert.certFile);
  text = replaceExactly(text, '/etc/letsencrypt/live/tidings.example.com/privkey.pem', o.cert.keyFile);
  return text;
}

export interface NginxProcess {
  child: ChildProcess;
  tlsPort: number;
  httpPort: number;
  /** What nginx wrote to stderr and its error log, for failure messages. */
  output(): Promise<string>;
  stop(): Promise<void>;
}

function waitForPort(port: number, dead: () => boolean, timeout: number): Promise<void> {
  const deadline = Date.now() + timeout;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (dead()) return reject(new Error('nginx exited'));
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline) reject(new Error(`nginx did not listen on ${port} within ${timeout} ms`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

/**
 * Starts nginx in the foreground with the deploy site in front of 127.0.0.1:`upstreamPort`.
 * Everything nginx writes goes into a temp dir that `stop()` removes.
 */
export async function startNginx(upstreamPort: number, cert: Certificate): Promise<NginxProcess> {
  const site = await readFile(NGINX_SITE, 'utf8');
  let lastError: Error | undefined;
  // A port found free may be taken before nginx binds it: a few tries, each on new ports.
  for (let attempt = 0; attempt < 3; attempt++) {
    const dir = await mkdtemp(join(tmpdir(), 'tidings-nginx-'));
    // Workers run as an unprivileged user when nginx starts as root: let them reach the temp paths.
    await chmod(dir, 0o755);
    const tlsPort = await freePort();
    const httpPort = await freePort();
    await writeFile(join(dir, 'tidings.conf'), siteForTest(site, { upstreamPort, tlsPort, httpPort, cert }));
    await writeFile(
      join(dir, 'nginx.conf'),
      [
        'daemon off;',
        'worker_processes 1;',
        `pid ${join(dir, 'nginx.pid')};`,
        `error_log ${join(dir, 'error.log')} warn;`,
        'events { worker_connections 256; }',
        'http {',
        `  access_log ${join(dir, 'access.log')};`,
        `  client_body_temp_path ${join(dir, 'body')};`,
        `  proxy_temp_path ${join(dir, 'proxy')};`,
        `  fastcgi_temp_path ${join(dir, 'fastcgi')};`,
        `  uwsgi_temp_path ${join(dir, 'uwsgi')};`,
        `  scgi_temp_path ${join(dir, 'scgi')};`,
        `  include ${join(dir, 'tidings.conf')};`,
        '}',
        '',
      ].join('\n'),
    );
    const child = spawn(NGINX_PATH, ['-p', `${dir}/`, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    let ended = false;
    const exited = new Promise<void>((resolve) => {
      const end = () => {
        ended = true;
        resolve();
      };
      child.once('exit', end);
      child.once('error', (err) => {
        stderr += `nginx could not be started (${NGINX_PATH}): ${err.message}\n`;
        end();
      });
    });
    const output = async () => `${stderr}${await readFile(join(dir, 'error.log'), 'utf8').catch(() => '')}`;
    const stop = async () => {
      // SIGTERM is nginx's fast shutdown: open event streams and sockets do not hold it up.
      if (!ended && child.pid !== undefined) child.kill('SIGTERM');
      const killer = setTimeout(() => {
        if (!ended) child.kill('SIGKILL');
      }, 10_000);
      await exited;
      clearTimeout(killer);
      await rm(dir, { recursive: true, force: true });
    };
    try {
      await waitForPort(tlsPort, () => ended, 10_000);
      await waitForPort(httpPort, () => ended, 10_000);
      return { child, tlsPort, httpPort, output, stop };
    } catch (err) {
      lastError = new Error(`${(err as Error).message}\n${await output()}`);
      await stop();
      if (!/Address already in use/.test(lastError.message)) break;
    }
  }
  throw lastError ?? new Error('nginx did not start');
}
