/**
 * Recording (issue 12 item 5): a recording covers one participant of a room, or the whole room;
 * each participant gets **one file per audio + video pair** — `<room>-<participant>-<ISO
 * time>.webm` with at most one VP8 and one Opus track (a participant publishing more tracks, or
 * publishing again after its file opened, gets further files) — and beside each WebM a raw dump
 * `<same>.rtpdump` (rtp-dump.ts) written packet by packet, which {@link remuxDump} turns into a
 * WebM after a crash.
 *
 * Path of a packet: Producer (forwarder.ts, a tap before its consumers) → dump record, and →
 * our jitter buffer → VP8/Opus frames → sender-report clock → interleaving (record-pipeline.ts) →
 * werift's WebM container writer (webm-writer.ts). Sender reports come from the publish
 * transport's RTCP (router.ts hands them to the producer). A simulcast track records one layer:
 * `layer` (0 = lowest) or the highest layer with packets at the start. Video starts on a keyframe:
 * a PLI is sent when a file starts and whenever the jitter buffer lost a frame.
 *
 * Limits (SfuOptions): `maxRecordings` at once, `maxRecordingBytes` per file (WebM + dump) and
 * `maxRecordingMs` per recording: past one the whole recording stops with that reason. Room and
 * participant ids go into file names only as [A-Za-z0-9_-] (anything else becomes `_`, at most 64
 * characters each), and the resolved path is checked to be inside `recordDir`.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { RtpPacket } from 'werift';
import { ReplyError } from '../../protocol/errors.ts';
import { LAYER_LIVE_MS, type Producer } from './forwarder.ts';
import type { RecordingFileInfo, RecordingInfo, SfuRecordings } from './options.ts';
import { ntpToMs, RecordingMuxer, type RecordKind } from './record-pipeline.ts';
import type { Participant, Published, Router, SfuRouterService } from './router.ts';
import { DumpWriter, readDump, REC_RTP, type ParsedDump } from './rtp-dump.ts';
import { WebmFileWriter } from './webm-writer.ts';

/** Poll period of the live pipelines (jitter buffer deadlines, interleaving). */
const TICK_MS = 20;
/** Dumps are fdatasync'ed this often. */
const SYNC_MS = 1000;
/** Files one recording may open (a room of 32 participants, a few each). */
const MAX_FILES = 128;
/** Stopped recordings kept for `list()`. */
const KEEP_STOPPED = 100;

/** A room or participant id as a file name part: [A-Za-z0-9_-], at most 64 characters. */
export function safeNamePart(s: string): string {
  const t = s.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64);
  return t.length > 0 ? t : '_';
}

/** `2026-12-04T06:23:41.123Z` → `2026-12-04T06-23-41.123Z` (no colons in file names). */
export function fileTime(d: Date): string {
  return d.toISOString().replace(/:/g, '-');
}

/** Base path (no extension) of a new file inside `dir`: free for both `.webm` and `.rtpdump`. */
export function recordingBase(dir: string, room: string, participant: string, at: Date): string {
  const root = resolve(dir);
  const stem = `${safeNamePart(room)}-${safeNamePart(participant)}-${fileTime(at)}`;
  for (let i = 1; i < 1000; i++) {
    const base = join(root, i === 1 ? stem : `${stem}-${i}`);
    if (dirname(base) !== root) throw new ReplyError('badRequest', 'recording: bad file name');
    if (!existsSync(`${base}.webm`) && !existsSync(`${base}.rtpdump`)) return base;
  }
  throw new ReplyError('limitExceeded', 'recording: too many files of the same name');
}

interface LiveTrack {
  producer: Producer;
  track: string;
  kind: RecordKind;
  pipe: number;
  dumpTrack: number;
  tap: (rtp: RtpPacket) => void;
  srTap: (sr: { ntpHi: number; ntpLo: number; rtp: number; atMs: number }) => void;
  ended: boolean;
}

/** One output file of a live recording: WebM writer, dump writer, muxer, taps on its producers. */
class LiveFile {
  readonly writer: WebmFileWriter;
  readonly dump: DumpWriter;
  readonly muxer: RecordingMuxer;
  readonly tracks: LiveTrack[] = [];
  done = false;

  constructor(
    readonly participant: Participant,
    base: string,
    room: string,
  ) {
    this.writer = new WebmFileWriter(`${base}.webm`);
    this.dump = new DumpWriter(`${base}.rtpdump`, { version: 1, room, participant: participant.ref.client, user: participant.ref.user, startedAt: new Date().toISOString() });
    this.muxer = new RecordingMuxer(this.writer);
  }

  accepts(kind: RecordKind): boolean {
    return !this.done && this.muxer.accepts(kind);
  }

  add(entry: Published, producer: Producer): void {
    const kind = producer.kind;
    const pipe = this.muxer.addTrack(kind);
    const dumpTrack = this.dump.addTrack({ kind, codec: kind === 'video' ? 'VP8' : 'opus', clockRate: kind === 'video' ? 90000 : 48000, producer: producer.id, ...(producer.ssrc !== undefined ? { ssrc: producer.ssrc } : {}) });
    const pipeline = this.muxer.tracks[pipe]!;
    const t: LiveTrack = {
      producer,
      track: entry.info.track,
      kind,
      pipe,
      dumpTrack,
      ended: false,
      tap: (rtp) => {
        const h = rtp.header;
        const at = this.dump.now();
        const payload = Buffer.from(rtp.payload);
        this.dump.rtp(dumpTrack, { seq: h.sequenceNumber, timestamp: h.timestamp, marker: h.marker, payloadType: h.payloadType, ssrc: h.ssrc, payload }, at);
        pipeline.push({ seq: h.sequenceNumber, timestamp: h.timestamp, marker: h.marker, payload }, at);
      },
      srTap: (sr) => {
        const at = Math.max(0, sr.atMs - (performance.now() - this.dump.now()));
        this.dump.senderReport(dumpTrack, sr.ntpHi, sr.ntpLo, sr.rtp, at);
        pipeline.onSenderReport(ntpToMs(sr.ntpHi, sr.ntpLo), sr.rtp, at);
      },
    };
    // The clock pair known from before the recording started (Chromium sends audio SRs only every few seconds).
    if (producer.senderReport) t.srTap(producer.senderReport);
    producer.taps.add(t.tap);
    producer.srTaps.add(t.srTap);
    producer.onClose(() => this.untap(t));
    this.tracks.push(t);
    // A PLI at the start, so video begins on a keyframe.
    if (kind === 'video') producer.requestKeyframe();
  }

  private untap(t: LiveTrack): void {
    t.ended = true;
    t.producer.taps.delete(t.tap);
    t.producer.srTaps.delete(t.srTap);
  }

  /** Whether every track's producer closed (the participant left or unpublished). */
  get ended(): boolean {
    return this.tracks.length > 0 && this.tracks.every((t) => t.ended);
  }

  tick(): void {
    if (this.done) return;
    this.muxer.poll(this.dump.now());
    if (this.muxer.keyframeNeeded) for (const t of this.tracks) if (t.kind === 'video' && !t.ended) t.producer.requestKeyframe();
  }

  get bytes(): number {
    return this.writer.bytes + this.dump.bytes;
  }

  /** Stops the taps, writes what is held, closes the WebM and the dump. Idempotent. */
  finish(): void {
    if (this.done) return;
    this.done = true;
    for (const t of this.tracks) this.untap(t);
    this.muxer.finish(this.dump.now());
    this.dump.close();
  }

  info(): RecordingFileInfo {
    return {
      participant: this.participant.ref.client,
      user: this.participant.ref.user,
      file: basename(this.writer.path),
      dump: basename(this.dump.path),
      state: this.done ? 'done' : this.muxer.isOpen ? 'writing' : 'waiting',
      bytes: this.writer.bytes,
      dumpBytes: this.dump.bytes,
      durationMs: this.muxer.durationMs,
      frames: { ...this.muxer.framesWritten },
      tracks: this.tracks.map((t) => {
        const s = this.muxer.tracks[t.pipe]!.stats;
        return { track: t.track, producer: t.producer.id, kind: t.kind, codec: t.kind === 'video' ? 'VP8' : 'opus', packets: s.packets, frames: s.frames, framesDropped: s.framesDropped, senderReports: s.senderReports, clockResyncs: this.muxer.tracks[t.pipe]!.clock.resyncs, timeFixups: s.timeFixups };
      }),
    };
  }
}

/** One recording: a room, or one participant of it. */
class Recording {
  readonly files: LiveFile[] = [];
  state: 'recording' | 'stopped' = 'recording';
  /** Tracks not recorded because their codec has no WebM path here (H.264). */
  skippedTracks = 0;
  reason: string | undefined;
  readonly startedAt = new Date();
  private readonly startedMono = performance.now();
  stoppedAt: Date | undefined;

  constructor(
    readonly recorder: Recorder,
    readonly id: string,
    readonly room: string,
    readonly client: string | undefined,
    readonly layer: number | undefined,
  ) {}

  covers(router: Router, p: Participant): boolean {
    return this.state === 'recording' && router.id === this.room && (this.client === undefined || this.client === p.ref.client);
  }

  /** Records `entry` of `p`: in the participant's open file if it can take the kind, else in a new file. */
  addTrack(p: Participant, entry: Published): void {
    if (this.state !== 'recording') return;
    const producer = this.pickLayer(entry);
    // The WebM path depacketizes VP8 and Opus only: an H.264 track is not recorded (yet).
    if (producer.codec === 'H264') {
      this.skippedTracks++;
      return;
    }
    let file = this.files.find((f) => f.participant === p && f.accepts(producer.kind));
    if (!file) {
      if (this.files.length >= MAX_FILES) return;
      file = new LiveFile(p, recordingBase(this.recorder.dir, this.room, p.ref.client, new Date()), this.room);
      this.files.push(file);
    }
    file.add(entry, producer);
  }

  /** The simulcast layer to record: `layer` if given, else the highest with recent packets. */
  private pickLayer(entry: Published): Producer {
    const ls = entry.layers;
    if (this.layer !== undefined) return ls[Math.min(this.layer, ls.length - 1)]!;
    const now = Date.now();
    for (let i = ls.length - 1; i >= 0; i--) if (now - ls[i]!.lastPacketAt <= LAYER_LIVE_MS) return ls[i]!;
    return ls[ls.length - 1]!;
  }

  tick(): void {
    if (this.state !== 'recording') return;
    for (const f of this.files) {
      f.tick();
      if (f.bytes > this.recorder.service.options.maxRecordingBytes) return this.stop('size limit');
      if (!f.done && f.ended) f.finish();
    }
    if (performance.now() - this.startedMono > this.recorder.service.options.maxRecordingMs) return this.stop('duration limit');
    if (this.client !== undefined) {
      // One participant: over when it left the room (before or after publishing) and its files are done.
      const present = this.recorder.service.routers.get(this.room)?.participants.has(this.client) === true;
      if (!present && this.files.every((f) => f.done || f.ended)) this.stop('participant left');
    }
  }

  sync(): void {
    for (const f of this.files) if (!f.done) f.dump.sync();
  }

  stop(reason: string): void {
    if (this.state !== 'recording') return;
    this.state = 'stopped';
    this.reason = reason;
    this.stoppedAt = new Date();
    for (const f of this.files) {
      try {
        f.finish();
      } catch (err) {
        console.error(`switchboard: sfu: recording ${this.id}: closing ${basename(f.writer.path)} failed:`, err);
      }
    }
    this.recorder.stopped(this);
  }

  info(): RecordingInfo {
    return {
      id: this.id,
      room: this.room,
      ...(this.client !== undefined ? { client: this.client } : {}),
      state: this.state,
      ...(this.reason !== undefined ? { reason: this.reason } : {}),
      startedAt: this.startedAt.toISOString(),
      ...(this.stoppedAt ? { stoppedAt: this.stoppedAt.toISOString() } : {}),
      dir: this.recorder.dir,
      files: this.files.map((f) => f.info()),
    };
  }
}

/** The node's recordings (one per SfuRouterService). */
export class Recorder implements SfuRecordings {
  private readonly active = new Map<string, Recording>();
  private readonly stoppedList: Recording[] = [];
  private ticker: ReturnType<typeof setInterval> | undefined;
  private lastSync = 0;

  constructor(readonly service: SfuRouterService) {}

  get dir(): string {
    return resolve(this.service.options.recordDir);
  }

  start(req: { room: string; client?: string; layer?: number }): Promise<RecordingInfo> {
    try {
      return Promise.resolve(this.startNow(req));
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  stop(id: string): Promise<RecordingInfo> {
    try {
      return Promise.resolve(this.stopNow(id));
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  list(): Promise<RecordingInfo[]> {
    return Promise.resolve(this.listNow());
  }

  /** start() on this thread: the recording is running when it returns. */
  startNow(req: { room: string; client?: string; layer?: number }): RecordingInfo {
    const router = this.service.routers.get(req.room);
    if (!router) throw new ReplyError('notAvailable', `sfu: room "${req.room.slice(0, 64)}" has no participants on this node`);
    let who: Participant[] = [...router.participants.values()];
    if (req.client !== undefined) {
      const p = router.participants.get(req.client);
      if (!p) throw new ReplyError('badRequest', `sfu: client "${req.client.slice(0, 64)}" is not in room "${req.room.slice(0, 64)}"`);
      who = [p];
    }
    for (const r of this.active.values()) {
      if (r.room === req.room && (r.client === undefined || req.client === undefined || r.client === req.client)) throw new ReplyError('badRequest', `sfu: already recorded by ${r.id}`);
    }
    if (this.active.size >= this.service.options.maxRecordings) throw new ReplyError('limitExceeded', `sfu: at most ${this.service.options.maxRecordings} recordings at once`);
    try {
      mkdirSync(this.dir, { recursive: true });
    } catch (err) {
      throw new ReplyError('notAvailable', `sfu: cannot create the recording directory: ${(err as Error).message}`);
    }
    const rec = new Recording(this, `rec_${randomBytes(8).toString('hex')}`, req.room, req.client, req.layer);
    this.active.set(rec.id, rec);
    try {
      for (const p of who) for (const entry of p.published.values()) rec.addTrack(p, entry);
    } catch (err) {
      rec.stop('failed');
      if (err instanceof ReplyError) throw err;
      throw new ReplyError('notAvailable', `sfu: recording could not start: ${(err as Error).message}`);
    }
    this.ticker ??= setInterval(() => this.tick(), TICK_MS);
    this.ticker.unref?.();
    return rec.info();
  }

  /** stop() on this thread: the files are complete when it returns. */
  stopNow(id: string): RecordingInfo {
    const rec = this.active.get(id) ?? this.stoppedList.find((r) => r.id === id);
    if (!rec) throw new ReplyError('badRequest', `sfu: no recording "${id.slice(0, 64)}"`);
    rec.stop('stopped');
    return rec.info();
  }

  listNow(): RecordingInfo[] {
    return [...this.active.values(), ...this.stoppedList].map((r) => r.info());
  }

  /** router.ts: a track was published; recordings of its room (or participant) take it. */
  trackAdded(router: Router, p: Participant, entry: Published): void {
    for (const r of this.active.values()) {
      if (!r.covers(router, p)) continue;
      try {
        r.addTrack(p, entry);
      } catch (err) {
        console.error(`switchboard: sfu: recording ${r.id}: adding ${entry.info.track} failed:`, err);
      }
    }
  }

  private tick(): void {
    const now = performance.now();
    const sync = now - this.lastSync >= SYNC_MS;
    if (sync) this.lastSync = now;
    for (const r of [...this.active.values()]) {
      try {
        r.tick();
        if (sync) r.sync();
      } catch (err) {
        console.error(`switchboard: sfu: recording ${r.id} failed:`, err);
        r.stop('failed');
      }
    }
  }

  stopped(r: Recording): void {
    if (this.active.get(r.id) !== r) return;
    this.active.delete(r.id);
    this.stoppedList.unshift(r);
    this.stoppedList.splice(KEEP_STOPPED);
    if (this.active.size === 0 && this.ticker) {
      clearInterval(this.ticker);
      this.ticker = undefined;
    }
  }

  /** Stops every recording (the SFU closes). */
  close(): void {
    for (const r of [...this.active.values()]) r.stop('shutdown');
  }
}

/** What {@link remuxDump} wrote. */
export interface RemuxResult {
  file: string;
  complete: boolean;
  trailingBytes: number;
  durationMs: number;
  frames: { video: number; audio: number };
  packets: number;
}

/**
 * Turns a raw dump (a crashed or finished recording's `.rtpdump`) into a WebM through the same
 * pipeline as the live recording, with the arrival times the dump recorded. The first video and
 * the first audio track are used. `out` defaults to the dump's path with `.remux.webm`.
 */
export function remuxDump(dumpPath: string, out?: string, parsed: ParsedDump = readDump(dumpPath)): RemuxResult {
  const file = out ?? dumpPath.replace(/\.rtpdump$/, '') + '.remux.webm';
  const writer = new WebmFileWriter(file);
  const muxer = new RecordingMuxer(writer);
  const pipeOf = new Map<number, number>();
  parsed.tracks.forEach((t, i) => {
    if (muxer.accepts(t.kind)) pipeOf.set(i, muxer.addTrack(t.kind));
  });
  let next = 0;
  let last = 0;
  let packets = 0;
  for (const r of parsed.records) {
    const pipe = pipeOf.get(r.track);
    if (pipe === undefined) continue;
    while (next <= r.atMs) {
      muxer.poll(next);
      next += TICK_MS;
    }
    last = r.atMs;
    const t = muxer.tracks[pipe]!;
    if (r.type === REC_RTP) {
      packets++;
      t.push(r, r.atMs);
    } else t.onSenderReport(ntpToMs(r.ntpHi, r.ntpLo), r.rtp, r.atMs);
  }
  muxer.finish(last + 1000);
  return { file, complete: parsed.complete, trailingBytes: parsed.trailingBytes, durationMs: muxer.durationMs, frames: { ...muxer.framesWritten }, packets };
}
