/**
 * The recorder's crash-safe raw dump (`.rtpdump`, our own format; not the rtptools one): every RTP
 * packet and sender report of the recorded tracks as it arrived, appended one record at a time
 * with a synchronous write (a crashed process loses nothing it wrote; `sync()` — every second
 * from the recorder — makes it durable on disk too). A reader stops cleanly at a torn last record,
 * so a dump cut off anywhere is still usable; `remux` (recorder.ts, scripts/sfu-remux.ts) turns it
 * into the same WebM as the live recording, through the same pipeline.
 *
 * Layout: the magic `SBRTPD01`, then records of an 8-byte header
 *
 *     u8 type | u8 track | u16 body length (BE) | u32 arrival ms since the dump started (BE)
 *
 * and the body: type 1 the dump's JSON header (track 255), 2 a track's JSON description,
 * 3 an RTP packet (12-byte RFC 3550 header without extensions + payload), 4 a sender report
 * (NTP seconds, NTP fraction, RTP timestamp: 3 × u32 BE), 5 end (a clean stop, empty body).
 */
import { closeSync, fdatasyncSync, openSync, readFileSync, writeSync } from 'node:fs';

export const DUMP_MAGIC = Buffer.from('SBRTPD01', 'latin1');
export const REC_HEADER = 1;
export const REC_TRACK = 2;
export const REC_RTP = 3;
export const REC_SR = 4;
export const REC_END = 5;
/** Tracks one dump may describe. */
export const MAX_DUMP_TRACKS = 8;
/** Largest RTP record body (an RTP packet over a 1500-byte MTU). */
export const MAX_DUMP_RTP = 1500;
/** Largest JSON record body. */
export const MAX_DUMP_JSON = 4096;

export interface DumpHeader {
  version: 1;
  room: string;
  participant: string;
  user?: string;
  /** Wall-clock start, ISO 8601. */
  startedAt: string;
}

export interface DumpTrack {
  kind: 'audio' | 'video';
  codec: 'VP8' | 'opus';
  clockRate: number;
  /** The producer (track id, `/rid` for a simulcast layer). */
  producer: string;
  ssrc?: number;
}

export type DumpRecord =
  | { type: typeof REC_RTP; track: number; atMs: number; seq: number; timestamp: number; marker: boolean; payloadType: number; ssrc: number; payload: Buffer }
  | { type: typeof REC_SR; track: number; atMs: number; ntpHi: number; ntpLo: number; rtp: number };

export interface ParsedDump {
  header: DumpHeader;
  tracks: DumpTrack[];
  records: DumpRecord[];
  /** An end record was found (the recording stopped cleanly). */
  complete: boolean;
  /** Bytes after the last whole record (a torn write at a crash). */
  trailingBytes: number;
}

/** A refused dump (not ours, or a record that breaks the format). */
export class DumpFormatError extends Error {
  override readonly name = 'DumpFormatError';
}

/** Appends records to a dump file, one synchronous write each. */
export class DumpWriter {
  private fd: number | undefined;
  private readonly t0 = performance.now();
  bytes = 0;
  private tracks = 0;
  private dirty = false;

  /** Creates `path` (never overwrites: `wx`) and writes the magic and the header record. */
  constructor(
    readonly path: string,
    header: DumpHeader,
  ) {
    this.fd = openSync(path, 'wx', 0o640);
    this.put(DUMP_MAGIC);
    this.json(REC_HEADER, 255, header);
  }

  /** Milliseconds since the dump started (the arrival times the records carry). */
  now(): number {
    return performance.now() - this.t0;
  }

  private put(b: Buffer): void {
    if (this.fd === undefined) return;
    writeSync(this.fd, b);
    this.bytes += b.length;
    this.dirty = true;
  }

  private record(type: number, track: number, body: Buffer | undefined, bodyLen: number, atMs: number): Buffer {
    const b = Buffer.allocUnsafe(8 + bodyLen);
    b[0] = type;
    b[1] = track;
    b.writeUInt16BE(bodyLen, 2);
    b.writeUInt32BE(Math.max(0, Math.min(0xffffffff, Math.floor(atMs))) >>> 0, 4);
    if (body) body.copy(b, 8);
    return b;
  }

  private json(type: number, track: number, v: unknown): void {
    const body = Buffer.from(JSON.stringify(v), 'utf8');
    if (body.length > MAX_DUMP_JSON) throw new DumpFormatError('dump: JSON record too large');
    this.put(this.record(type, track, body, body.length, this.now()));
  }

  /** Describes the next track; returns its index. */
  addTrack(t: DumpTrack): number {
    if (this.tracks >= MAX_DUMP_TRACKS) throw new DumpFormatError(`dump: at most ${MAX_DUMP_TRACKS} tracks`);
    this.json(REC_TRACK, this.tracks, t);
    return this.tracks++;
  }

  /** One RTP packet (written as a plain 12-byte header + payload). */
  rtp(track: number, p: { seq: number; timestamp: number; marker: boolean; payloadType: number; ssrc: number; payload: Buffer }, atMs = this.now()): void {
    if (p.payload.length + 12 > MAX_DUMP_RTP) return;
    const b = this.record(REC_RTP, track, undefined, 12 + p.payload.length, atMs);
    b[8] = 0x80;
    b[9] = (p.marker ? 0x80 : 0) | (p.payloadType & 0x7f);
    b.writeUInt16BE(p.seq & 0xffff, 10);
    b.writeUInt32BE(p.timestamp >>> 0, 12);
    b.writeUInt32BE(p.ssrc >>> 0, 16);
    p.payload.copy(b, 20);
    this.put(b);
  }

  /** One sender report's clock pair. */
  senderReport(track: number, ntpHi: number, ntpLo: number, rtp: number, atMs = this.now()): void {
    const b = this.record(REC_SR, track, undefined, 12, atMs);
    b.writeUInt32BE(ntpHi >>> 0, 8);
    b.writeUInt32BE(ntpLo >>> 0, 12);
    b.writeUInt32BE(rtp >>> 0, 16);
    this.put(b);
  }

  /** Flushes to disk (fdatasync) if anything was written since the last call. */
  sync(): void {
    if (this.fd === undefined || !this.dirty) return;
    this.dirty = false;
    try {
      fdatasyncSync(this.fd);
    } catch {
      // A file system without fdatasync: the writes are still in the kernel.
    }
  }

  /** Writes the end record, syncs and closes. Idempotent. */
  close(): void {
    if (this.fd === undefined) return;
    this.put(this.record(REC_END, 255, undefined, 0, this.now()));
    this.sync();
    closeSync(this.fd);
    this.fd = undefined;
  }
}

function parseJson(body: Buffer, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch {
    throw new DumpFormatError(`dump: ${what} is not JSON`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new DumpFormatError(`dump: ${what} is not an object`);
  return v as Record<string, unknown>;
}

/** Parses a dump (validated: magic, record types, track indexes, lengths). A torn last record is left out. */
export function parseDump(buf: Buffer): ParsedDump {
  if (buf.length < DUMP_MAGIC.length || !buf.subarray(0, DUMP_MAGIC.length).equals(DUMP_MAGIC)) throw new DumpFormatError('dump: not a Switchboard RTP dump (magic SBRTPD01 missing)');
  let off = DUMP_MAGIC.length;
  let header: DumpHeader | undefined;
  const tracks: DumpTrack[] = [];
  const records: DumpRecord[] = [];
  let complete = false;
  while (off + 8 <= buf.length) {
    const type = buf[off]!;
    const track = buf[off + 1]!;
    const len = buf.readUInt16BE(off + 2);
    const atMs = buf.readUInt32BE(off + 4);
    if (off + 8 + len > buf.length) break;
    const body = buf.subarray(off + 8, off + 8 + len);
    off += 8 + len;
    if (type === REC_HEADER) {
      if (header || len > MAX_DUMP_JSON) throw new DumpFormatError('dump: a second or oversized header');
      const h = parseJson(body, 'the header');
      if (h.version !== 1 || typeof h.room !== 'string' || typeof h.participant !== 'string' || typeof h.startedAt !== 'string') throw new DumpFormatError('dump: header fields missing');
      header = { version: 1, room: h.room, participant: h.participant, startedAt: h.startedAt, ...(typeof h.user === 'string' ? { user: h.user } : {}) };
      continue;
    }
    if (!header) throw new DumpFormatError('dump: records before the header');
    if (type === REC_TRACK) {
      if (track !== tracks.length || tracks.length >= MAX_DUMP_TRACKS || len > MAX_DUMP_JSON) throw new DumpFormatError('dump: bad track record');
      const t = parseJson(body, 'a track');
      if ((t.kind !== 'audio' && t.kind !== 'video') || (t.codec !== 'VP8' && t.codec !== 'opus') || typeof t.clockRate !== 'number' || !(t.clockRate > 0) || typeof t.producer !== 'string') throw new DumpFormatError('dump: track fields missing');
      tracks.push({ kind: t.kind, codec: t.codec, clockRate: t.clockRate, producer: t.producer, ...(typeof t.ssrc === 'number' ? { ssrc: t.ssrc } : {}) });
    } else if (type === REC_RTP) {
      if (track >= tracks.length) throw new DumpFormatError('dump: RTP record of an unknown track');
      if (len < 12 || len > MAX_DUMP_RTP || body[0]! >> 6 !== 2) throw new DumpFormatError('dump: bad RTP record');
      records.push({ type: REC_RTP, track, atMs, marker: (body[1]! & 0x80) !== 0, payloadType: body[1]! & 0x7f, seq: body.readUInt16BE(2), timestamp: body.readUInt32BE(4), ssrc: body.readUInt32BE(8), payload: body.subarray(12) });
    } else if (type === REC_SR) {
      if (track >= tracks.length || len !== 12) throw new DumpFormatError('dump: bad sender report record');
      records.push({ type: REC_SR, track, atMs, ntpHi: body.readUInt32BE(0), ntpLo: body.readUInt32BE(4), rtp: body.readUInt32BE(8) });
    } else if (type === REC_END) {
      complete = true;
      break;
    } else throw new DumpFormatError(`dump: unknown record type ${type}`);
  }
  if (!header) throw new DumpFormatError('dump: no header');
  return { header, tracks, records, complete, trailingBytes: complete ? 0 : buf.length - off };
}

/** Reads and parses a dump file. */
export function readDump(path: string): ParsedDump {
  return parseDump(readFileSync(path));
}
