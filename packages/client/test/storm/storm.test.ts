/**
 * Storms with accounting (issue 20, section 3): SDK clients cut again and again while numbered
 * messages are published, over WebSocket, SSE and long-polling, against a single `tidings serve`,
 * `workers: 2` and two nodes on Redis (real child processes; see deployments.ts and storm.ts).
 * Every storm must end with lost 0, duplicated 0, out of order 0 and silent gaps 0 for every
 * client.
 *
 * Size: `npm test` runs 1 storm of 60 clients and 100 messages per transport and deployment (each
 * storm cuts about 3 clients every 40 ms while it publishes: dozens of cuts and recoveries; a
 * second storm per row repeated the same with another seed, which the soak does). `npm run soak:storm`
 * (scripts/soak-storm.mjs) sets TIDINGS_STORM_STORMS / TIDINGS_STORM_CLIENTS / TIDINGS_STORM_MESSAGES
 * and TIDINGS_STORM_REPORT (a JSON line per transport and deployment, for its table). The Redis
 * deployment needs redis-server: with CI=true it never skips.
 */
import { appendFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisMissing } from '../../../server/src/test-support/redis-server.js';
import { recordFigures } from '../../../server/src/test-support/reliability-figures.js';
import { DEPLOYMENTS, startDeployment, type Deployment, type DeploymentName } from './deployments.js';
import { percentile, runStorm, type Accounting, type StormTransport } from './storm.js';

const envInt = (name: string, fallback: number) => {
  const v = Number(process.env[name]);
  return Number.isInteger(v) && v > 0 ? v : fallback;
};
const STORMS = envInt('TIDINGS_STORM_STORMS', 1);
const CLIENTS = envInt('TIDINGS_STORM_CLIENTS', 60);
const MESSAGES = envInt('TIDINGS_STORM_MESSAGES', 100);
const TRANSPORTS: StormTransport[] = ['websocket', 'sse', 'polling'];
/** Per storm: connecting the clients, publishing (MESSAGES x 5 ms and more under load), settling. */
const STORM_TIMEOUT = 30_000 + CLIENTS * 100 + MESSAGES * 40;

for (const name of DEPLOYMENTS) {
  describe.skipIf(name === 'redis' && redisMissing())(`storm: ${name}`, () => {
    let deployment: Deployment;
    beforeAll(async () => {
      deployment = await startDeployment(name as DeploymentName);
    }, 60_000);
    afterAll(() => deployment?.close(), 30_000);

    for (const transport of TRANSPORTS) {
      it(
        `storm: ${transport} on ${name}: ${STORMS} storms x ${CLIENTS} clients cut while ${MESSAGES} messages are published: lost 0, duplicated 0, out of order 0, silent gaps 0`,
        async () => {
          const peakReset = deployment.resetPeak();
          const storms: Accounting[] = [];
          for (let s = 0; s < STORMS; s++) {
            storms.push(
              await runStorm(deployment, `storm:${name}-${transport}-${s}-${Date.now().toString(36)}`, {
                transport,
                clients: CLIENTS,
                messages: MESSAGES,
                publishEveryMs: 5,
                cutsPerRound: Math.max(1, Math.round(CLIENTS / 20)),
                cutEveryMs: 40,
                seed: 20_261_208 + s,
                settleMs: 20_000 + CLIENTS * 40,
              }),
            );
          }
          const sum = (k: keyof Accounting) => storms.reduce((t, a) => t + (a[k] as number), 0);
          const samples = storms.flatMap((a) => a.reconnectToRecoveredMs);
          const row = {
            transport,
            deployment: name,
            storms: STORMS,
            clients: CLIENTS,
            messages: MESSAGES,
            delivered: sum('delivered'),
            lost: sum('lost'),
            duplicated: sum('duplicated'),
            outOfOrder: sum('outOfOrder'),
            silentGaps: sum('silentGaps'),
            toldGaps: sum('toldGaps'),
            refilled: sum('refilled'),
            behind: sum('behind'),
            cutsByServer: sum('cutsByServer'),
            cutsByNetwork: sum('cutsByNetwork'),
            reconnects: sum('reconnects'),
            recoveries: samples.length,
            p50ReconnectToRecoveredMs: Math.round(percentile(samples, 50)),
            p99ReconnectToRecoveredMs: Math.round(percentile(samples, 99)),
            peakRssBytes: deployment.peakRss(),
            peakRssSince: peakReset ? 'these storms' : 'process start',
          };
          console.log(`[storm] ${JSON.stringify(row)}`);
          if (process.env.TIDINGS_STORM_REPORT) appendFileSync(process.env.TIDINGS_STORM_REPORT, `${JSON.stringify(row)}\n`);
          recordFigures('storms', `${transport} on ${name}, ${STORMS} x ${CLIENTS} clients`, row);
          expect({ lost: row.lost, duplicated: row.duplicated, outOfOrder: row.outOfOrder, silentGaps: row.silentGaps, behind: row.behind }).toEqual({ lost: 0, duplicated: 0, outOfOrder: 0, silentGaps: 0, behind: 0 });
          expect(row.delivered + row.refilled).toBe(STORMS * CLIENTS * MESSAGES);
          // The storm happened: connections were cut by the server and by the network, and came back.
          expect(row.cutsByServer).toBeGreaterThanOrEqual(STORMS * 3);
          expect(row.cutsByNetwork).toBeGreaterThanOrEqual(STORMS * 3);
          expect(row.recoveries).toBeGreaterThanOrEqual(row.cutsByServer / 2);
          expect(row.peakRssBytes).toBeGreaterThan(0);
        },
        STORMS * STORM_TIMEOUT,
      );
    }
  });
}
