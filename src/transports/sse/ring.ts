/**
 * The SSE resume buffer: the session's recent events by id, so a reconnecting EventSource
 * (`Last-Event-ID: N`) gets exactly the events after N.
 *
 * Two kinds of entries: written (handed to a stream, possibly lost in flight when it broke) and
 * unwritten (produced while no stream was open). Written events are kept up to `maxEvents` /
 * `maxBytes`, oldest dropped first. Unwritten events are never dropped here: their bytes count as
 * the transport's `bufferedBytes`, so the session's outbound limit (`maxQueueBytes`, slow consumer)
 * bounds them. Pure: no I/O, no timers.
 */

export interface RingEvent {
  readonly seq: number;
  /** The frames' `data:` lines (shared Buffers; the id line is added when written). */
  readonly chunks: readonly Buffer[];
  readonly bytes: number;
}

export class EventRing {
  /** Retained events are `events[head..]`; the dropped prefix is compacted away now and then. */
  private events: RingEvent[] = [];
  private head = 0;
  /** Index in `events` of the first unwritten event (events.length when all are written). */
  private firstUnwritten = 0;
  private writtenBytes = 0;
  private unwritten = 0;
  /** Id of the newest event (0 before the first). */
  private last = 0;

  constructor(private readonly limits: () => { maxEvents: number; maxBytes: number }) {}

  get lastSeq(): number {
    return this.last;
  }

  /** Id of the oldest retained event (lastSeq + 1 when none is retained). */
  get oldestSeq(): number {
    return this.events[this.head]?.seq ?? this.last + 1;
  }

  /** Bytes of events no stream has been given yet. */
  get unwrittenBytes(): number {
    return this.unwritten;
  }

  /** Events retained (written and unwritten). */
  get length(): number {
    return this.events.length - this.head;
  }

  /** Adds the next event; `written` when it went straight to an open stream. Returns it. */
  push(chunks: readonly Buffer[], written: boolean): RingEvent {
    let bytes = 0;
    for (const c of chunks) bytes += c.length;
    const ev: RingEvent = { seq: ++this.last, chunks, bytes };
    this.events.push(ev);
    if (written && this.firstUnwritten === this.events.length - 1) {
      this.firstUnwritten = this.events.length;
      this.writtenBytes += bytes;
      this.trim();
    } else this.unwritten += bytes;
    return ev;
  }

  /**
   * Events after `lastId` for a reconnecting stream, all marked written; events up to `lastId` are
   * dropped (the client has them). Null when events after `lastId` were already dropped (too
   * late to resume); throws RangeError when `lastId` is ahead of the newest event.
   */
  resumeAfter(lastId: number): RingEvent[] | null {
    if (lastId > this.last) throw new RangeError(`event id ${lastId} is ahead of the newest event ${this.last}`);
    const oldest = this.oldestSeq;
    if (lastId + 1 < oldest) return null;
    this.events = this.events.slice(this.head + (lastId + 1 - oldest));
    this.head = 0;
    this.firstUnwritten = this.events.length;
    this.writtenBytes = 0;
    this.unwritten = 0;
    for (const e of this.events) this.writtenBytes += e.bytes;
    const out = this.events.slice();
    this.trim();
    return out;
  }

  /** Drops every event (the session is gone). */
  clear(): void {
    this.events = [];
    this.head = 0;
    this.firstUnwritten = 0;
    this.writtenBytes = 0;
    this.unwritten = 0;
  }

  /** Drops the oldest written events past the limits. Unwritten events are never dropped. */
  private trim(): void {
    const { maxEvents, maxBytes } = this.limits();
    while (this.head < this.firstUnwritten && (this.firstUnwritten - this.head > maxEvents || this.writtenBytes > maxBytes)) {
      this.writtenBytes -= this.events[this.head]!.bytes;
      this.head++;
    }
    if (this.head > 64 && this.head * 2 > this.events.length) {
      this.events = this.events.slice(this.head);
      this.firstUnwritten -= this.head;
      this.head = 0;
    }
  }
}
