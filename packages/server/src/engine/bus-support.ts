// What the NodeBus implementations share: asking every node at once.
import type { BusRequestError, NodeAnswer } from './node-bus.js';

/** Asks every target with `ask` and gathers one answer per node: its value, or its error (code 'remote' reported as the remote code). */
export function askAll(targets: readonly string[], ask: (node: string) => Promise<unknown>): Promise<NodeAnswer[]> {
  return Promise.all(
    targets.map((node) =>
      ask(node).then(
        (value): NodeAnswer => ({ node, value }),
        (err: unknown): NodeAnswer => {
          const e = err as BusRequestError;
          const code = e.code === 'remote' ? e.remoteCode : e.code;
          return { node, error: code === undefined ? { message: e.message } : { message: e.message, code } };
        },
      ),
    ),
  );
}
