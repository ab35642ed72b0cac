/**
 * Connection liveness without a timer per connection: the connect timeout, the next ping and
 * the pong wait of every session of a node are deadlines in one shared wheel with a single
 * timer (issue 18: a `Timeout` and its closure per connection cost memory at rest and CPU at
 * every accept).
 *
 * Deadlines of one kind all have the same duration (a `client.*` setting), so they come due in
 * the order they were set: each kind is a FIFO queue, and only the queues' heads decide when
 * the one timer fires. A session holds one deadline at a time (`livenessDue`); re-arming or
 * ending it leaves the old entry in its queue, where it is skipped once it comes due (at most
 * one duration later). A shorter duration after a configuration reload goes in its place
 * (binary search), so no deadline waits behind a longer one.
 */

/** The part of a session the wheel works on. */
export interface LivenessOwner {
  /** The deadline (performance.now() ms) the session waits for now; 0: none. Set by the wheel only. */
  livenessDue: number;
  readonly closed: boolean;
  /** The deadline came: connect timeout, time to ping, or no pong in time. */
  livenessExpired(): void;
}

/** The three kinds of deadline; each has its own duration. */
export type LivenessKind = 'connect' | 'ping' | 'pong';

class DeadlineQueue {
  private owners: (LivenessOwner | undefined)[] = [];
  private dues: number[] = [];
  private head = 0;

  get size(): number {
    return this.owners.length - this.head;
  }

  /** Due time of the first entry, or Infinity. */
  get next(): number {
    return this.head < this.dues.length ? this.dues[this.head]! : Infinity;
  }

  add(owner: LivenessOwner, due: number): void {
    const dues = this.dues;
    if (dues.length === this.head || due >= dues[dues.length - 1]!) {
      this.owners.push(owner);
      dues.push(due);
      return;
    }
    let lo = this.head;
    let hi = dues.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (dues[mid]! <= due) lo = mid + 1;
      else hi = mid;
    }
    this.owners.splice(lo, 0, owner);
    dues.splice(lo, 0, due);
  }

  /** Takes the entries due by `now` and hands the current ones to `fire`. */
  drain(now: number, fire: (owner: LivenessOwner) => void): void {
    const { owners, dues } = this;
    while (this.head < dues.length && dues[this.head]! <= now) {
      const owner = owners[this.head]!;
      const due = dues[this.head]!;
      owners[this.head] = undefined;
      this.head++;
      if (owner.livenessDue === due && !owner.closed) fire(owner);
    }
    // Drop the taken part once it is most of the arrays (amortized O(1) per entry).
    if (this.head > 1024 && this.head * 2 > owners.length) {
      this.owners = owners.slice(this.head);
      this.dues = dues.slice(this.head);
      this.head = 0;
    }
  }

  clear(): void {
    this.owners = [];
    this.dues = [];
    this.head = 0;
  }
}

export class LivenessWheel {
  private readonly queues: Record<LivenessKind, DeadlineQueue> = { connect: new DeadlineQueue(), ping: new DeadlineQueue(), pong: new DeadlineQueue() };
  private timer: NodeJS.Timeout | undefined;
  /** When the timer fires (Infinity: not armed). */
  private timerDue = Infinity;
  /** Sessions holding a deadline: at 0 every entry left is stale and the queues are emptied. */
  private armed = 0;

  /** `duration(kind)`: the current setting, in ms, read at every arm (a reload applies to the next deadline). */
  constructor(private readonly duration: (kind: LivenessKind) => number) {}

  /** Sessions holding a deadline (tests, stats). */
  get sessions(): number {
    return this.armed;
  }

  /** Sets `owner`'s one deadline, replacing the one it had; a ping interval of 0 means none (pings off). */
  arm(owner: LivenessOwner, kind: LivenessKind): void {
    const ms = this.duration(kind);
    if (kind === 'ping' && ms <= 0) return this.disarm(owner);
    if (owner.livenessDue === 0) this.armed++;
    const due = performance.now() + ms;
    owner.livenessDue = due;
    this.queues[kind].add(owner, due);
    if (due < this.timerDue) this.schedule(due);
  }

  /** Removes `owner`'s deadline (its entry is skipped when it comes due). */
  disarm(owner: LivenessOwner): void {
    if (owner.livenessDue === 0) return;
    owner.livenessDue = 0;
    // Not while draining: the queues are being walked (the tick reschedules from what is left).
    if (--this.armed > 0 || this.timerDue === -Infinity) return;
    for (const q of Object.values(this.queues)) q.clear();
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerDue = Infinity;
  }

  private schedule(due: number): void {
    clearTimeout(this.timer);
    this.timerDue = due;
    this.timer = setTimeout(this.tick, Math.max(1, Math.ceil(due - performance.now())));
    // The sockets keep the process alive, not their liveness checks.
    this.timer.unref();
  }

  private readonly tick = (): void => {
    this.timer = undefined;
    // While draining, sessions re-arm (ping -> pong) without touching the timer: it is set once, below.
    this.timerDue = -Infinity;
    try {
      const now = performance.now();
      for (const q of Object.values(this.queues)) q.drain(now, this.fire);
    } finally {
      this.timerDue = Infinity;
      const next = Math.min(this.queues.connect.next, this.queues.ping.next, this.queues.pong.next);
      if (next !== Infinity) this.schedule(next);
    }
  };

  private readonly fire = (owner: LivenessOwner): void => {
    owner.livenessDue = 0;
    this.armed--;
    owner.livenessExpired();
  };
}

const wheels = new WeakMap<object, LivenessWheel>();

/** The wheel of a node: one per `services` object (every session of a node shares its services). */
export function livenessWheel(services: object, duration: (kind: LivenessKind) => number): LivenessWheel {
  let wheel = wheels.get(services);
  if (!wheel) wheels.set(services, (wheel = new LivenessWheel(duration)));
  return wheel;
}
