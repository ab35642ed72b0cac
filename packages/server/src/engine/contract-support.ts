/**
 * Shared scaffolding of the engine contract suites: unique names (so a suite can
 * run against a shared external server), a sleep, and closing what a test opened.
 */
import { afterEach } from 'vitest';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let seq = 0;
/** A name no other test (or earlier run against a shared server) used. */
export function unique(prefix: string): string {
  return `${prefix}${process.pid}-${Date.now()}-${++seq}`;
}

/** Call inside a `describe`: returns `track(x)`, and closes every tracked part after each test. */
export function closesAfterEach<T extends { close(): Promise<void> }>(): (part: T) => T {
  const open: T[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((p) => p.close()));
  });
  return (part) => {
    open.push(part);
    return part;
  };
}
