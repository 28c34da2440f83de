/**
 * The SFU in worker threads (issue 12 item 7): `createSfu({ workers: N })` gives an SfuNode whose
 * rooms run in N `worker_threads` (worker-main.ts), each a whole SfuRouterService with its own
 * event loop, UDP sockets, SRTP and timers. The node's main thread — sessions, channels, the
 * messaging hub — only passes the SFU's control messages along, so forwarding media never
 * delays a publication, and N workers use N cores.
 *
 * A room lives on one worker, chosen by a hash of its name (every member of the room lands on
 * the same router). The contract (contract.ts) is plain data, so it crosses the thread boundary
 * as it is: requests go to the room's worker with an id, replies come back with it, events are
 * routed to the member's `send` by room and client id. `stats()` sums what each worker last
 * reported (every `statsIntervalMs`), so it can lag by that much.
 *
 * A worker that dies takes its rooms with it: its pending requests fail with 108 "not available",
 * its members stop getting events (they see their media stop and may join again), and a new
 * worker takes its place for new rooms, and its recordings stop where they were (their `.rtpdump`
 * files remux: recorder.ts).
 *
 * Recordings (`recorder`) run in the room's worker, as the media does: `start` goes to the
 * worker of its room, `stop` to the worker that started it (by id), `list` asks every worker
 * and merges the answers.
 *
 * The admin page's `snapshot` asks every live worker for its rooms and merges them (a worker that
 * does not answer within 3 s, or died, is left out).
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { ErrorCode, type ErrorName } from '../../protocol/codes.ts';
import { ReplyError } from '../../protocol/errors.ts';
import type { SfuEvent, SfuPeerRef, SfuReplies, SfuRequest, SfuSnapshot } from './contract.ts';
import { boundLimits, mergeSnapshots, type SnapshotLimits } from './snapshot.ts';
import type { RecordingInfo, SfuNode, SfuOptions, SfuRecordings, SfuStats } from './options.ts';

/** A recording request, as the worker runs it on its own Recorder. */
export type RecordingOp = { op: 'start'; room: string; client?: string; layer?: number } | { op: 'stop'; id: string } | { op: 'list' };

/** Main thread → worker. */
export type ToWorker =
  | { t: 'handle'; id: number; peer: SfuPeerRef; req: SfuRequest }
  | { t: 'record'; id: number; req: RecordingOp }
  | { t: 'snapshot'; id: number; limits: SnapshotLimits }
  | { t: 'leave'; peer: SfuPeerRef }
  | { t: 'close' };

/** Worker → main thread. */
export type FromWorker =
  | { t: 'ready' }
  | { t: 'reply'; id: number; ok: true; result: SfuReplies[keyof SfuReplies] | RecordingInfo | RecordingInfo[] | SfuSnapshot }
  | { t: 'reply'; id: number; ok: false; code: number; message: string }
  | { t: 'event'; room: string; client: string; ev: SfuEvent }
  | { t: 'stats'; stats: SfuStats }
  | { t: 'closed'; stats: SfuStats };

export interface SfuWorkerOptions {
  /** Reports of each worker's counts, for `stats()`. @default 500 */
  statsIntervalMs: number;
}

const ZERO: SfuStats = { rooms: 0, participants: 0, producers: 0, consumers: 0, packetsForwarded: 0, packetsRetransmitted: 0, keyframeRequests: 0, nacksSent: 0, packetsRecovered: 0, layersCapped: 0, nativeThreads: 0, packetsSentNative: 0 };

/**
 * The worker's entry: worker-main.js beside this module in the compiled package; from the sources
 * (tsx), a small bootstrap that registers tsx's loader in the worker first — loader hooks of the
 * main thread do not reach worker threads.
 */
function workerEntry(): [string | URL, Pick<WorkerOptions, 'eval'>] {
  if (!import.meta.url.endsWith('.ts')) return [new URL('./worker-main.js', import.meta.url), {}];
  const main = new URL('./worker-main.ts', import.meta.url).href;
  const tsx = import.meta.resolve('tsx/esm/api');
  return [`import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(main)}); })`, { eval: true }];
}

/** FNV-1a of a room name: which worker serves it. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

function replyError(code: number, message: string): ReplyError {
  const name = (Object.keys(ErrorCode) as ErrorName[]).find((k) => ErrorCode[k].code === code) ?? 'internal';
  const err = new ReplyError(name);
  err.message = message;
  return err;
}

interface Pending {
  resolve: (r: unknown) => void;
  reject: (e: Error) => void;
  slot: Slot;
}

/** One worker thread and what the main side knows of it. */
interface Slot {
  index: number;
  worker: Worker;
  stats: SfuStats;
  /** Counters of workers that died in this slot, so the totals never go down. */
  retired: SfuStats;
  alive: boolean;
}

/** The SFU spread over worker threads; implements the same SfuNode as SfuRouterService. */
export class SfuWorkerPool implements SfuNode {
  private readonly slots: Slot[] = [];
  private readonly pending = new Map<number, Pending>();
  /** Event sinks by room + "\n" + client (the `send` of the member's latest request). */
  private readonly sinks = new Map<string, (ev: SfuEvent) => void>();
  private nextId = 1;
  private closing: Promise<void> | undefined;
  /** Workers that exited unexpectedly (restarted). */
  crashes = 0;
  /** Recordings, run by the worker of their room. */
  readonly recorder: SfuRecordings;
  /** Which slot started a recording (by id), for `stop`; bounded like the workers' own lists. */
  private readonly recordingSlot = new Map<string, number>();

  constructor(
    readonly workers: number,
    private readonly sfuOptions: Partial<SfuOptions> = {},
    private readonly options: SfuWorkerOptions = { statsIntervalMs: 500 },
  ) {
    if (!Number.isInteger(workers) || workers < 1 || workers > 64) throw new RangeError(`sfu workers must be an integer from 1 to 64, got ${workers}`);
    for (let i = 0; i < workers; i++) this.slots.push(this.spawn(i, { ...ZERO }));
    this.recorder = {
      start: async (req) => {
        const slot = this.slotOf(req.room);
        const info = (await this.request(slot, { op: 'start', ...req })) as RecordingInfo;
        this.recordingSlot.set(info.id, slot.index);
        // Ids of recordings long gone are dropped oldest first (a worker keeps its last 100 stopped).
        if (this.recordingSlot.size > 1000) this.recordingSlot.delete(this.recordingSlot.keys().next().value!);
        return info;
      },
      stop: async (id) => {
        const index = this.recordingSlot.get(id);
        const slot = index === undefined ? undefined : this.slots[index];
        if (!slot || !slot.alive) throw new ReplyError('badRequest', `sfu: no recording "${id.slice(0, 64)}"${slot ? ' (its media worker stopped)' : ''}`);
        return (await this.request(slot, { op: 'stop', id })) as RecordingInfo;
      },
      list: async () => {
        const lists = await Promise.all(this.slots.filter((s) => s.alive).map((s) => this.request(s, { op: 'list' }).then((l) => l as RecordingInfo[], () => [])));
        // Running first, then stopped; newest first within each.
        return lists.flat().sort((a, b) => (a.state === b.state ? b.startedAt.localeCompare(a.startedAt) : a.state === 'recording' ? -1 : 1));
      },
    };
  }

  /** Sends a recording request (or, with `limits`, a snapshot request) to one worker; resolves with its answer. */
  private request(slot: Slot, req: RecordingOp | undefined, limits?: SnapshotLimits): Promise<unknown> {
    if (this.closing) return Promise.reject(new ReplyError('notAvailable', 'sfu: shutting down'));
    if (!slot.alive) return Promise.reject(new ReplyError('notAvailable', 'sfu: the media worker stopped'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, slot });
      const m: ToWorker = req ? { t: 'record', id, req } : { t: 'snapshot', id, limits: limits! };
      slot.worker.postMessage(m);
    });
  }

  /** Every live worker's rooms, merged (largest first, bounded like one worker's answer). */
  async snapshot(limits?: Partial<SnapshotLimits>): Promise<SfuSnapshot> {
    const bounded = boundLimits(limits);
    const parts = await Promise.all(
      this.slots
        .filter((s) => s.alive)
        .map((s) => {
          const answer = this.request(s, undefined, bounded) as Promise<SfuSnapshot>;
          let timer: NodeJS.Timeout | undefined;
          const late = new Promise<undefined>((resolve) => {
            timer = setTimeout(() => resolve(undefined), 3000);
            timer.unref();
          });
          return Promise.race([answer, late]).then(
            (x) => (clearTimeout(timer), x),
            () => (clearTimeout(timer), undefined),
          );
        }),
    );
    return mergeSnapshots(
      parts.filter((x): x is SfuSnapshot => x !== undefined),
      bounded,
    );
  }

  private spawn(index: number, retired: SfuStats): Slot {
    const workerData = { options: { ...this.sfuOptions, workers: 0 }, statsIntervalMs: this.options.statsIntervalMs };
    const [entry, extra] = workerEntry();
    const worker = new Worker(entry, { ...extra, workerData });
    const slot: Slot = { index, worker, stats: { ...ZERO }, retired, alive: true };
    worker.unref();
    worker.on('message', (m: FromWorker) => this.onMessage(slot, m));
    worker.on('error', (err) => console.error(`switchboard: sfu worker ${index} failed:`, err));
    worker.on('exit', (code) => this.onExit(slot, code));
    return slot;
  }

  private onMessage(slot: Slot, m: FromWorker): void {
    switch (m.t) {
      case 'reply': {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (m.ok) p.resolve(m.result);
        else p.reject(replyError(m.code, m.message));
        return;
      }
      case 'event':
        this.sinks.get(`${m.room}\n${m.client}`)?.(m.ev);
        return;
      case 'stats':
      case 'closed':
        slot.stats = m.stats;
        return;
      case 'ready':
        return;
    }
  }

  private onExit(slot: Slot, code: number): void {
    if (!slot.alive) return;
    slot.alive = false;
    for (const [id, p] of this.pending) {
      if (p.slot !== slot) continue;
      this.pending.delete(id);
      p.reject(new ReplyError('notAvailable', 'sfu: the media worker stopped'));
    }
    if (this.closing) return;
    this.crashes++;
    console.error(`switchboard: sfu worker ${slot.index} exited (code ${code}); its rooms are gone, a new worker takes new ones`);
    const retired = { ...slot.retired };
    for (const k of ['packetsForwarded', 'packetsRetransmitted', 'keyframeRequests', 'nacksSent', 'packetsRecovered', 'packetsSentNative'] as const) retired[k] += slot.stats[k];
    this.slots[slot.index] = this.spawn(slot.index, retired);
  }

  private slotOf(room: string): Slot {
    return this.slots[hash(room) % this.slots.length]!;
  }

  handle(peer: SfuPeerRef, req: SfuRequest, send: (ev: SfuEvent) => void): Promise<SfuReplies[keyof SfuReplies]> {
    if (this.closing) return Promise.reject(new ReplyError('notAvailable', 'sfu: shutting down'));
    const slot = this.slotOf(peer.room);
    this.sinks.set(`${peer.room}\n${peer.client}`, send);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, slot });
      const m: ToWorker = { t: 'handle', id, peer: { room: peer.room, user: peer.user, client: peer.client, ...(peer.maxPublishBitrate !== undefined ? { maxPublishBitrate: peer.maxPublishBitrate } : {}) }, req };
      slot.worker.postMessage(m);
    }).then((r) => {
      if (req.op === 'leave') this.sinks.delete(`${peer.room}\n${peer.client}`);
      return r as SfuReplies[keyof SfuReplies];
    });
  }

  leave(peer: SfuPeerRef): void {
    this.sinks.delete(`${peer.room}\n${peer.client}`);
    if (this.closing) return;
    const m: ToWorker = { t: 'leave', peer: { room: peer.room, user: peer.user, client: peer.client } };
    this.slotOf(peer.room).worker.postMessage(m);
  }

  /** Sum of the workers' last reports (and of workers that died). */
  stats(): SfuStats {
    const out = { ...ZERO };
    for (const s of this.slots) {
      for (const k of Object.keys(out) as (keyof SfuStats)[]) out[k] += s.stats[k] + s.retired[k];
    }
    return out;
  }

  /** Closes every worker's routers, then ends the threads. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.all(
        this.slots.map(
          (slot) =>
            new Promise<void>((resolve) => {
              if (!slot.alive) return resolve();
              const done = setTimeout(resolve, 5000);
              slot.worker.once('exit', () => {
                clearTimeout(done);
                resolve();
              });
              slot.worker.on('message', (m: FromWorker) => {
                if (m.t === 'closed') void slot.worker.terminate();
              });
              const m: ToWorker = { t: 'close' };
              slot.worker.postMessage(m);
            }),
        ),
      );
      for (const slot of this.slots) if (slot.alive) await slot.worker.terminate();
      this.sinks.clear();
    })();
    return this.closing;
  }
}

