/**
 * The pure parts of SFU recording: VP8 frame assembly from RTP, the sender-report clock (NTP ↔
 * RTP, wrap, resync), lip-sync of two tracks through the muxer, the jitter buffer's loss handling
 * as the recorder sees it, the raw dump format (round trip, torn tails, hostile records), file
 * naming, and a remux of a synthetic dump into a WebM that ffprobe reads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assembleVp8, ntpToMs, RecordingMuxer, SenderClock, vp8FrameSize, type FrameSink, type RecordKind, type SinkTrack } from '../../../src/webrtc/sfu/record-pipeline.ts';
import { DumpFormatError, DumpWriter, parseDump, REC_RTP, REC_SR } from '../../../src/webrtc/sfu/rtp-dump.ts';
import { recordingBase, remuxDump, safeNamePart } from '../../../src/webrtc/sfu/recorder.ts';
import { Producer } from '../../../src/webrtc/sfu/forwarder.ts';
import { senderReportOf } from '../../../src/webrtc/sfu/werift-adapter.ts';
import { RtcpPacketConverter, RtcpSenderInfo, RtcpSrPacket, RtpHeader, RtpPacket } from 'werift';

/** A VP8 RTP payload: descriptor (X, I with a 15-bit picture id; S on the first packet) + bytes. */
function vp8Payload(pictureId: number, first: boolean, body: Buffer): Buffer {
  const d = Buffer.from([0x80 | (first ? 0x10 : 0), 0x80, 0x80 | ((pictureId >> 8) & 0x7f), pictureId & 0xff]);
  return Buffer.concat([d, body]);
}

/** A fake VP8 frame: keyframes carry the uncompressed header with their size (RFC 6386 §9.1). */
function vp8Frame(key: boolean, n: number, size = 1000): Buffer {
  const b = Buffer.alloc(size, n & 0xff);
  if (key) {
    b[0] = 0x10; // P bit 0: keyframe
    b[1] = 0;
    b[2] = 0;
    b.set([0x9d, 0x01, 0x2a], 3);
    b.writeUInt16LE(640, 6);
    b.writeUInt16LE(360, 8);
  } else b[0] = 0x01;
  return b;
}

interface Pkt {
  kind: RecordKind;
  seq: number;
  timestamp: number;
  marker: boolean;
  payload: Buffer;
  atMs: number;
}

/** Video at 30 fps (3 packets a frame, keyframe every 30) and Opus at 50/s over `seconds`. */
function synthStream(seconds: number, o: { vBase: number; aBase: number; vSeq?: number; aSeq?: number }): { packets: Pkt[]; videoFrames: number } {
  const packets: Pkt[] = [];
  let vSeq = o.vSeq ?? 100;
  let aSeq = o.aSeq ?? 5000;
  const frames = Math.round(seconds * 30);
  for (let f = 0; f < frames; f++) {
    const t = (f * 1000) / 30;
    const frame = vp8Frame(f % 30 === 0, f, 2400);
    for (let i = 0; i < 3; i++) {
      packets.push({ kind: 'video', seq: vSeq++ & 0xffff, timestamp: (o.vBase + f * 3000) >>> 0, marker: i === 2, payload: vp8Payload(f, i === 0, frame.subarray(i * 800, (i + 1) * 800)), atMs: t + 5 + i * 0.3 });
    }
  }
  for (let k = 0; k < seconds * 50; k++) packets.push({ kind: 'audio', seq: aSeq++ & 0xffff, timestamp: (o.aBase + k * 960) >>> 0, marker: k === 0, payload: Buffer.from([0xfc, k & 0xff, 1, 2, 3]), atMs: k * 20 + 2 });
  packets.sort((a, b) => a.atMs - b.atMs);
  return { packets, videoFrames: frames };
}

class MemorySink implements FrameSink {
  tracks: SinkTrack[] | undefined;
  frames: { kind: RecordKind; data: Buffer; keyframe: boolean; timeMs: number }[] = [];
  closed = false;
  bytes = 0;
  open(tracks: SinkTrack[]): void {
    this.tracks = tracks;
  }
  write(kind: RecordKind, data: Buffer, keyframe: boolean, timeMs: number): void {
    this.frames.push({ kind, data, keyframe, timeMs });
    this.bytes += data.length;
  }
  close(): void {
    this.closed = true;
  }
}

/** Drives a muxer as the live recorder does: packets at their arrival times, polls every 20 ms. */
function drive(m: RecordingMuxer, packets: Pkt[], pipes: Record<RecordKind, number>, srs: { kind: RecordKind; atMs: number; ntpMs: number; rtp: number }[] = []): void {
  const events = [...packets.map((p) => ({ at: p.atMs, p })), ...srs.map((s) => ({ at: s.atMs, s }))].sort((a, b) => a.at - b.at);
  let next = 0;
  for (const e of events) {
    while (next <= e.at) {
      m.poll(next);
      next += 20;
    }
    if ('p' in e) m.tracks[pipes[e.p.kind]]!.push(e.p, e.at);
    else m.tracks[pipes[e.s.kind]]!.onSenderReport(e.s.ntpMs, e.s.rtp, e.at);
  }
  m.finish(next + 1000);
}

test('VP8 frames are assembled from their packets without descriptors; a frame not starting partition 0 is refused', () => {
  const frame = vp8Frame(true, 1, 2000);
  const packets = [0, 1, 2].map((i) => ({ payload: vp8Payload(7, i === 0, frame.subarray(i * 700, Math.min(2000, (i + 1) * 700))) }));
  const a = assembleVp8(packets);
  assert.ok(a);
  assert.equal(a.keyframe, true);
  assert.deepEqual(a.data, frame);
  assert.deepEqual(vp8FrameSize(a.data), { width: 640, height: 360 });
  const delta = assembleVp8([{ payload: vp8Payload(8, true, vp8Frame(false, 2, 100)) }]);
  assert.equal(delta?.keyframe, false);
  assert.equal(vp8FrameSize(delta!.data), undefined);
  assert.equal(assembleVp8(packets.slice(1)), undefined, 'the middle of a frame');
  assert.equal(assembleVp8([{ payload: Buffer.alloc(0) }]), undefined, 'empty payload');
  assert.equal(assembleVp8([]), undefined);
});

test('SenderClock: RTP → NTP from a sender report, across the 32-bit wrap; small SR jitter keeps the anchor, a jump resyncs', () => {
  const c = new SenderClock(90000);
  assert.equal(c.toNtpMs(1), undefined);
  const base = 0xffffffff - 45000; // wraps 0.5 s later
  c.onSenderReport(1_000_000, base);
  assert.equal(c.toNtpMs(base), 1_000_000);
  assert.equal(c.toNtpMs((base + 90000) >>> 0), 1_001_000, 'one second later, after the wrap');
  assert.equal(c.toNtpMs((base + 180000) >>> 0), 1_002_000);
  c.onSenderReport(1_003_010, (base + 270000) >>> 0); // 10 ms off: rounding, kept
  assert.equal(c.resyncs, 0);
  assert.equal(c.toNtpMs((base + 270000) >>> 0), 1_003_000);
  c.onSenderReport(1_004_500, (base + 360000) >>> 0); // 500 ms off: the sender's clock jumped
  assert.equal(c.resyncs, 1);
  assert.equal(c.toNtpMs((base + 360000) >>> 0), 1_004_500);
  assert.equal(ntpToMs(1, 0x80000000), 1500);
});

test('lip-sync: audio and video with unrelated RTP bases land on one timeline from their sender reports; video starts on a keyframe', () => {
  const vBase = 123_456_789;
  const aBase = 4_000_000_000; // wraps during the stream
  const { packets, videoFrames } = synthStream(4, { vBase, aBase });
  const sink = new MemorySink();
  const m = new RecordingMuxer(sink);
  const pipes = { video: m.addTrack('video'), audio: m.addTrack('audio') };
  assert.throws(() => m.addTrack('video'), /already/);
  const ntp0 = 3_900_000_000_000; // sender's NTP ms at stream time 0
  // The sender reports say audio sample 0 was captured 100 ms after video frame 0 (the packets
  // arrive 3 ms apart: only the reports can place them).
  const srs = [
    { kind: 'video' as const, atMs: 1, ntpMs: ntp0 + 0, rtp: vBase },
    { kind: 'audio' as const, atMs: 1, ntpMs: ntp0 + 1100, rtp: (aBase + 48000) >>> 0 },
  ];
  drive(m, packets, pipes, srs);
  assert.ok(sink.closed);
  assert.deepEqual(sink.tracks, [{ kind: 'video', width: 640, height: 360 }, { kind: 'audio' }]);
  const video = sink.frames.filter((f) => f.kind === 'video');
  const audio = sink.frames.filter((f) => f.kind === 'audio');
  assert.equal(video[0]!.keyframe, true);
  assert.equal(video.length, videoFrames);
  assert.equal(audio.length, 200);
  // Video frame 30 (1 s) and audio frame 45 (100 ms + 0.9 s) are the same instant on the sender.
  assert.equal(video[0]!.timeMs, 0);
  assert.equal(video[30]!.timeMs, 1000);
  assert.equal(audio[0]!.timeMs, 100);
  assert.equal(audio[45]!.timeMs, 1000);
  for (let i = 1; i < sink.frames.length; i++) assert.ok(sink.frames[i]!.timeMs >= sink.frames[i - 1]!.timeMs, 'interleaved in time order');
  assert.equal(m.tracks[pipes.audio]!.stats.timeFixups, 0);
});

test('through the jitter buffer: reordering is repaired; a lost packet drops its frame and the deltas until the next keyframe, and asks for one', () => {
  const { packets } = synthStream(3, { vBase: 1000, aBase: 2000, vSeq: 65500 }); // sequence wrap
  // Swap neighbours (reorder) everywhere, and lose the second packet of video frame 40.
  const video = packets.filter((p) => p.kind === 'video');
  for (let i = 0; i + 1 < video.length; i += 7) [video[i]!.atMs, video[i + 1]!.atMs] = [video[i + 1]!.atMs, video[i]!.atMs];
  const lost = video[40 * 3 + 1]!;
  const input = packets.filter((p) => p !== lost).sort((a, b) => a.atMs - b.atMs);
  const sink = new MemorySink();
  const m = new RecordingMuxer(sink);
  const pipes = { video: m.addTrack('video'), audio: m.addTrack('audio') };
  let askedKeyframe = false;
  const events = input.map((p) => ({ at: p.atMs, p }));
  let next = 0;
  for (const e of events) {
    while (next <= e.at) {
      m.poll(next);
      if (next > 1500 && next < 2000 && m.keyframeNeeded) askedKeyframe = true;
      next += 20;
    }
    m.tracks[pipes[e.p.kind]]!.push(e.p, e.at);
  }
  m.finish(next + 1000);
  const v = sink.frames.filter((f) => f.kind === 'video');
  // Frames 0..39 and 60..89: frame 40 lost, 41..59 undecodable without it, 60 is a keyframe.
  assert.equal(v.length, 40 + 30);
  assert.equal(v[40]!.keyframe, true);
  assert.equal(v[40]!.timeMs - v[39]!.timeMs, 700);
  assert.ok(askedKeyframe, 'keyframeNeeded after the loss');
  const st = m.tracks[pipes.video]!.stats;
  assert.equal(st.lost > 0, true);
});

test('without any sender report a track is mapped by arrival after srWaitMs', () => {
  const { packets } = synthStream(5, { vBase: 777, aBase: 999 });
  const sink = new MemorySink();
  const m = new RecordingMuxer(sink, { srWaitMs: 1000 });
  const pipes = { video: m.addTrack('video'), audio: m.addTrack('audio') };
  drive(m, packets, pipes);
  const v = sink.frames.filter((f) => f.kind === 'video');
  const a = sink.frames.filter((f) => f.kind === 'audio');
  assert.equal(v.length, 150);
  assert.ok(a.length >= 240);
  // Both anchored by arrival: frames about the same instant within a few ms.
  assert.ok(Math.abs(v[60]!.timeMs - a.find((f) => f.timeMs >= v[60]!.timeMs - 30)!.timeMs) <= 30);
});

test('raw dump: records round-trip; a torn tail parses to the last whole record; hostile dumps are refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-dump-'));
  try {
    const path = join(dir, 'a.rtpdump');
    const w = new DumpWriter(path, { version: 1, room: 'r', participant: 'p', startedAt: new Date(0).toISOString() });
    assert.throws(() => new DumpWriter(path, { version: 1, room: 'r', participant: 'p', startedAt: '' }), /EEXIST/, 'never overwrites');
    const v = w.addTrack({ kind: 'video', codec: 'VP8', clockRate: 90000, producer: 'c:1/f', ssrc: 42 });
    const a = w.addTrack({ kind: 'audio', codec: 'opus', clockRate: 48000, producer: 'c:0' });
    const sent: { track: number; seq: number; timestamp: number; marker: boolean; payload: Buffer; atMs: number }[] = [];
    for (let i = 0; i < 300; i++) {
      const track = i % 3 === 0 ? a : v;
      const p = { track, seq: (65400 + i) & 0xffff, timestamp: (0xfffff000 + i * 3000) >>> 0, marker: i % 2 === 0, payload: Buffer.alloc(1 + (i % 1200), i & 0xff), atMs: i * 7 };
      sent.push(p);
      w.rtp(track, { ...p, payloadType: 96, ssrc: 42 }, p.atMs);
      if (i === 150) w.senderReport(v, 0xe0000000, 0x80000000, 12345, 1050);
    }
    w.rtp(v, { seq: 1, timestamp: 1, marker: false, payloadType: 96, ssrc: 1, payload: Buffer.alloc(1600) }); // too large: skipped
    w.sync();
    const torn = readFileSync(path);
    w.close();
    const d = parseDump(readFileSync(path));
    assert.equal(d.complete, true);
    assert.deepEqual(d.header, { version: 1, room: 'r', participant: 'p', startedAt: '1970-01-01T00:00:00.000Z' });
    assert.deepEqual(d.tracks.map((t) => t.producer), ['c:1/f', 'c:0']);
    const rtp = d.records.filter((r) => r.type === REC_RTP);
    assert.equal(rtp.length, 300);
    for (const [i, r] of rtp.entries()) {
      const s = sent[i]!;
      assert.deepEqual([r.track, r.seq, r.timestamp, r.marker, r.atMs, r.payloadType, r.ssrc], [s.track, s.seq, s.timestamp, s.marker, s.atMs, 96, 42]);
      assert.ok(r.payload.equals(s.payload));
    }
    const sr = d.records.find((r) => r.type === REC_SR);
    assert.deepEqual(sr, { type: REC_SR, track: v, atMs: 1050, ntpHi: 0xe0000000, ntpLo: 0x80000000, rtp: 12345 });
    // Cut anywhere (a crash mid-write): whole records before the cut, no end record.
    assert.throws(() => parseDump(torn.subarray(0, 30)), /no header/, 'cut inside the header record');
    for (const cut of [torn.length, torn.length - 1, torn.length - 500, 200]) {
      const t = parseDump(torn.subarray(0, cut));
      assert.equal(t.complete, false);
      assert.ok(t.records.length <= 301);
      if (cut === torn.length) assert.equal(t.trailingBytes, 0);
    }
    assert.throws(() => parseDump(Buffer.from('RIFFxxxxxxxx')), DumpFormatError);
    // An RTP record naming a track that was never described.
    const headerEnd = 8 + 8 + torn.readUInt16BE(10);
    const rtp12 = Buffer.alloc(12, 0x80);
    assert.equal(parseDump(Buffer.concat([torn.subarray(0, headerEnd)])).tracks.length, 0);
    assert.throws(() => parseDump(Buffer.concat([torn.subarray(0, headerEnd), Buffer.from([REC_RTP, 9, 0, 12, 0, 0, 0, 0]), rtp12])), /unknown track/);
    assert.throws(() => parseDump(Buffer.concat([torn.subarray(0, headerEnd), Buffer.from([77, 0, 0, 0, 0, 0, 0, 0])])), /unknown record type/);
    assert.throws(() => parseDump(Buffer.concat([torn.subarray(0, headerEnd), Buffer.from([2, 0, 0, 2, 0, 0, 0, 0]), Buffer.from('{}')])), /track fields/);
    assert.throws(() => parseDump(Buffer.concat([torn.subarray(0, 8), Buffer.from([REC_RTP, 0, 0, 12, 0, 0, 0, 0]), rtp12])), /before the header/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('file names: room and participant ids cannot leave the recording directory', () => {
  assert.equal(safeNamePart('../../etc/passwd'), '______etc_passwd');
  assert.equal(safeNamePart('sfu:room 1'), 'sfu_room_1');
  assert.equal(safeNamePart(''), '_');
  assert.equal(safeNamePart('x'.repeat(300)).length, 64);
  const base = recordingBase('/tmp/rec-dir', '../..', '/etc/x', new Date(Date.UTC(2026, 11, 4, 6, 23, 41, 123)));
  assert.equal(base, '/tmp/rec-dir/_____-_etc_x-2026-12-04T06-23-41.123Z');
});

test('remux: a synthetic dump becomes a WebM with one VP8 and one Opus track that ffprobe counts', { skip: existsSync('/usr/bin/ffprobe') ? undefined : 'ffprobe not installed' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-remux-'));
  try {
    const path = join(dir, 'r-p-t.rtpdump');
    const w = new DumpWriter(path, { version: 1, room: 'r', participant: 'p', startedAt: new Date().toISOString() });
    const tr = { video: w.addTrack({ kind: 'video', codec: 'VP8', clockRate: 90000, producer: 'p:1' }), audio: w.addTrack({ kind: 'audio', codec: 'opus', clockRate: 48000, producer: 'p:0' }) };
    const { packets } = synthStream(3, { vBase: 5, aBase: 7 });
    w.senderReport(tr.video, 3_900_000_000, 0, 5, 0);
    w.senderReport(tr.audio, 3_900_000_000, 0, 7, 0);
    for (const p of packets) w.rtp(tr[p.kind], { ...p, payloadType: p.kind === 'video' ? 96 : 111, ssrc: 1 }, p.atMs);
    // No close(): as after a crash, the dump has no end record.
    const r = remuxDump(path);
    assert.equal(r.complete, false);
    assert.deepEqual(r.frames, { video: 90, audio: 150 });
    const out = execFileSync('ffprobe', ['-v', 'error', '-count_packets', '-show_entries', 'stream=codec_name,nb_read_packets,width,height', '-of', 'json', r.file], { encoding: 'utf8' });
    const streams = (JSON.parse(out) as { streams: { codec_name: string; nb_read_packets: string; width?: number }[] }).streams;
    assert.deepEqual(
      streams.map((s) => [s.codec_name, Number(s.nb_read_packets)]),
      [
        ['vp8', 90],
        ['opus', 150],
      ],
    );
    assert.equal(streams[0]!.width, 640);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('werift pins: a sender report as werift parses it gives its clock pair (senderReportOf); the producer hands it and every packet to the recorder taps', () => {
  const sr = new RtcpSrPacket({ ssrc: 0x1234, senderInfo: new RtcpSenderInfo({ ntpTimestamp: (0xe1234567n << 32n) | 0x80000000n, rtpTimestamp: 0xfedcba98, packetCount: 1, octetCount: 2 }) });
  const parsed = RtcpPacketConverter.deSerialize(sr.serialize());
  assert.deepEqual(senderReportOf(parsed[0]!), { ssrc: 0x1234, ntpHi: 0xe1234567, ntpLo: 0x80000000, rtp: 0xfedcba98 });
  assert.equal(senderReportOf(parsed[0]!) && ntpToMs(0xe1234567, 0x80000000) % 1000, 500);
  const p = new Producer('c:1', 'video', { requestKeyframe: () => {} }, 0x1234);
  const seen: number[] = [];
  const srs: number[] = [];
  p.taps.add((rtp) => seen.push(rtp.header.sequenceNumber));
  p.srTaps.add((s) => srs.push(s.rtp));
  p.push(new RtpPacket(new RtpHeader({ sequenceNumber: 7, timestamp: 1, ssrc: 0x1234, payloadType: 96 }), Buffer.from([0x10, 0x00])));
  p.onSenderReport(1, 2, 3);
  assert.deepEqual([seen, srs, p.senderReport?.rtp], [[7], [3], 3]);
});
