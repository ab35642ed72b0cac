/**
 * CPU time from Linux /proc, for processes the bench did not write itself (the
 * `tidings serve` primary and its workers) and for the machine as a whole:
 *
 * - `processCpu(pid)`: user and system time of one process so far (/proc/<pid>/stat,
 *   fields 14 and 15, in clock ticks; every thread of the process, GC and libuv included).
 * - `childPids(pid)`: the processes whose parent is `pid` (the workers of a primary).
 * - `machineCpu()`: the `cpu` line of /proc/stat: every core's user, system, softirq,
 *   idle... time so far, so a window's delta says how busy the machine was and how much
 *   of it was softirq (the kernel's loopback TCP receive path runs there, and with
 *   IRQ time accounting it is charged to no process).
 *
 * All times are in milliseconds. Resolution is one clock tick (10 ms with CLK_TCK 100):
 * over a 4 s window that is 0.25% of a core.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let tickMs = 10;
try {
  tickMs = 1000 / Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
} catch {
  // getconf missing: Linux's usual 100 ticks per second.
}

/** Fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses). */
function statFields(pid) {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

/** `{user, system}` ms of CPU used by process `pid` so far; null when it is gone. */
export function processCpu(pid) {
  try {
    const f = statFields(pid);
    // After the name: state(3) ppid(4) ... utime(14) stime(15), i.e. indexes 11 and 12 here.
    return { user: Number(f[11]) * tickMs, system: Number(f[12]) * tickMs };
  } catch {
    return null;
  }
}

/** Pids of the live processes whose parent is `pid`, in pid order. */
export function childPids(pid) {
  const out = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (Number(statFields(name)[1]) === pid) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out.sort((a, b) => a - b);
}

const MACHINE_FIELDS = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal'];

/** The machine's CPU time so far, per kind, summed over cores (ms). */
export function machineCpu() {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  const out = {};
  MACHINE_FIELDS.forEach((k, i) => (out[k] = (values[i] ?? 0) * tickMs));
  return out;
}

/**
 * A window's machine CPU as % of one core (so 2 busy cores = 200%): busy (everything but
 * idle and iowait), and of it user (+nice), system, softirq (+irq), steal.
 */
export function machineDelta(a, b, ms) {
  const d = (k) => ((b[k] - a[k]) / ms) * 100;
  const busy = d('user') + d('nice') + d('system') + d('irq') + d('softirq') + d('steal');
  return { busy, user: d('user') + d('nice'), system: d('system'), softirq: d('softirq') + d('irq'), steal: d('steal') };
}

/** A process's CPU over a window as % of one core, `{user, system, total}`; null if it died. */
export function processDelta(a, b, ms) {
  if (!a || !b) return null;
  const user = ((b.user - a.user) / ms) * 100;
  const system = ((b.system - a.system) / ms) * 100;
  return { user, system, total: user + system };
}

/** The 1, 5 and 15 minute load averages (/proc/loadavg). */
export function loadAverage() {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);
}
