/**
 * Whether an engine's server answers, not only whether its connections are open: a paused or
 * overloaded server keeps its TCP connections, so a node would stay "ready" while every call
 * times out. A `Responsiveness` asks the server a cheap question (`ask`, e.g. Redis `PING`) every
 * `intervalMs`, one at a time; when the answer does not come within `timeoutMs` (or fails), the
 * engine is not ready with the reason, until an answer comes again. Its timer never keeps the
 * process alive and stops on `close()`.
 */
import type { EngineStatus } from './engine.js';

export interface ResponsivenessOptions {
  intervalMs: number;
  timeoutMs: number;
  /** `<name>: did not answer within …` in the reason. */
  name: string;
  /**
   * Called each time a question goes unanswered (no answer within `timeoutMs`, or a failure),
   * with how many did in a row (an answer starts the count again): the owner may replace a
   * connection that stopped carrying anything (a half-open TCP connection, or one whose
   * handshake was never answered, would be waited on forever).
   */
  onUnanswered?: (inARow: number) => void;
}

export class Responsiveness {
  private failure: string | undefined;
  private asking = false;
  private unanswered = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly ask: () => Promise<unknown>,
    private readonly options: ResponsivenessOptions,
  ) {
    this.timer = setInterval(() => this.check(), options.intervalMs);
    this.timer.unref();
  }

  /** Not ready while the last question went unanswered; undefined when the server answered. */
  status(): EngineStatus | undefined {
    return this.failure === undefined ? undefined : { ready: false, reason: this.failure };
  }

  /** Asks once now (the timer does it every `intervalMs` anyway); resolves when the answer or the timeout is in. */
  async check(): Promise<void> {
    if (this.asking) return;
    this.asking = true;
    const { timeoutMs, name } = this.options;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), timeoutMs);
      timer.unref();
    });
    try {
      const outcome = await Promise.race([this.ask().then(() => 'answered' as const), late]);
      this.failure = outcome === 'late' ? `${name}: did not answer within ${timeoutMs} ms` : undefined;
      this.unanswered = outcome === 'late' ? this.unanswered + 1 : 0;
    } catch (err) {
      this.failure = `${name}: ${(err as Error).message || 'no answer'}`;
      this.unanswered++;
    } finally {
      clearTimeout(timer);
      this.asking = false;
    }
    if (this.unanswered > 0) this.options.onUnanswered?.(this.unanswered);
  }

  close(): void {
    clearInterval(this.timer);
  }
}
