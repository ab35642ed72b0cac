/**
 * What the tests that run `tidings` (or npx, or bash) as a child process share: the environment
 * the child gets, and stopping it by its PID (or its process group's), never by name.
 */
import type { ChildProcess } from 'node:child_process';

/** This process's environment without TIDINGS_* and PORT (they would configure the server under test), plus `extra`. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('TIDINGS_') && k !== 'PORT') env[k] = v;
  return { ...env, ...extra };
}

export interface StopOptions {
  /** The signal asking the child to stop (default SIGTERM). */
  signal?: NodeJS.Signals;
  /** How long the child has to exit before it is sent SIGKILL. */
  graceMs: number;
  /** Signal the child's process group (a child spawned with `detached: true`) rather than the child alone. */
  group?: boolean;
}

/**
 * Sends the child `signal`, then SIGKILL if it has not exited within `graceMs`, and resolves
 * with its exit code (null when a signal ended it) once it has exited. A child that has already
 * exited is sent nothing.
 */
export async function stopChild(child: ChildProcess, { signal = 'SIGTERM', graceMs, group = false }: StopOptions): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const send = (sig: NodeJS.Signals) => {
    if (!group) {
      child.kill(sig);
      return;
    }
    try {
      process.kill(-child.pid!, sig);
    } catch {
      // The group is gone already.
    }
  };
  send(signal);
  const killer = setTimeout(() => send('SIGKILL'), graceMs);
  try {
    return await exited;
  } finally {
    clearTimeout(killer);
  }
}
