/**
 * Token expiry without a timer per connection (issue 18): the sessions of a node whose token
 * carries `exp` wait in one min-heap ordered by their expiry (wall clock, ms), under a single
 * timer set for the earliest. Unlike the liveness deadlines (session/liveness.ts), expiries
 * are each token's own, so they do not come due in the order they were set: a heap keeps them
 * in order, and each session knows its place in it, so a session that ends or renews its
 * token leaves at once (O(log n)) and the heap never holds a closed session.
 */

/** The part of a session the heap works on; both fields are set by the heap only. */
export interface ExpiryOwner {
  /** Wall-clock ms at which the token has expired for good (exp + clock tolerance); 0: not waiting. */
  expiryDue: number;
  /** The session's index in the heap (-1: not in it). */
  expiryIndex: number;
  /** The expiry came. */
  expiryCame(): void;
}

/** setTimeout's largest delay; a later expiry is looked at again after this long. */
const MAX_TIMEOUT = 2 ** 31 - 1;

export class ExpiryWheel {
  private readonly heap: ExpiryOwner[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** When the timer fires (wall clock; Infinity: not armed). */
  private timerDue = Infinity;

  constructor(private readonly now: () => number = Date.now) {}

  /** Sessions waiting for their expiry (tests, stats). */
  get size(): number {
    return this.heap.length;
  }

  /** Sets (or moves) `owner`'s expiry to `due` (wall-clock ms). */
  set(owner: ExpiryOwner, due: number): void {
    if (owner.expiryIndex >= 0) this.remove(owner);
    owner.expiryDue = due;
    owner.expiryIndex = this.heap.length;
    this.heap.push(owner);
    this.up(owner.expiryIndex);
    this.reschedule();
  }

  /** Takes `owner` out of the heap, if it is in it. */
  cancel(owner: ExpiryOwner): void {
    if (owner.expiryIndex < 0) return;
    this.remove(owner);
    this.reschedule();
  }

  private remove(owner: ExpiryOwner): void {
    const heap = this.heap;
    const i = owner.expiryIndex;
    const last = heap.pop()!;
    owner.expiryIndex = -1;
    owner.expiryDue = 0;
    if (last === owner) return;
    heap[i] = last;
    last.expiryIndex = i;
    this.down(i);
    this.up(last.expiryIndex);
  }

  private up(i: number): void {
    const heap = this.heap;
    const item = heap[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = heap[p]!;
      if (parent.expiryDue <= item.expiryDue) break;
      heap[i] = parent;
      parent.expiryIndex = i;
      i = p;
    }
    heap[i] = item;
    item.expiryIndex = i;
  }

  private down(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const item = heap[i]!;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && heap[c + 1]!.expiryDue < heap[c]!.expiryDue) c++;
      const child = heap[c]!;
      if (child.expiryDue >= item.expiryDue) break;
      heap[i] = child;
      child.expiryIndex = i;
      i = c;
    }
    heap[i] = item;
    item.expiryIndex = i;
  }

  /** One timer for the earliest expiry; moved only when the earliest changed. */
  private reschedule(): void {
    const next = this.heap.length > 0 ? this.heap[0]!.expiryDue : Infinity;
    if (next === this.timerDue) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerDue = next;
    if (next === Infinity) return;
    this.timer = setTimeout(this.tick, Math.min(Math.max(0, next - this.now()), MAX_TIMEOUT));
    // The sockets keep the process alive, not their expiry checks.
    this.timer.unref();
  }

  private readonly tick = (): void => {
    this.timer = undefined;
    this.timerDue = Infinity;
    const now = this.now();
    const heap = this.heap;
    // Each expired session leaves the heap before it is told (it disconnects, which cancels nothing more).
    while (heap.length > 0 && heap[0]!.expiryDue <= now) {
      const owner = heap[0]!;
      this.remove(owner);
      owner.expiryCame();
    }
    this.reschedule();
  };
}

const wheels = new WeakMap<object, ExpiryWheel>();

/** The expiry heap of a node: one per `services` object (every session of a node shares its services). */
export function expiryWheel(services: object): ExpiryWheel {
  let wheel = wheels.get(services);
  if (!wheel) wheels.set(services, (wheel = new ExpiryWheel()));
  return wheel;
}
