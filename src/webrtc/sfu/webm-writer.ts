/**
 * The WebM container writer of recordings: werift's `WebmBase` (EBML header, segment, tracks,
 * clusters with SimpleBlocks, cues; VP8 and Opus with its OpusHead) is the only werift code the
 * recorder uses, and this is the only module of the recorder that imports werift. Everything
 * before the container — jitter buffer, depacketizing, lip-sync, interleaving — is ours
 * (record-pipeline.ts). werift's own file output is asynchronous (a promise queue of appends);
 * this one writes synchronously to one descriptor, so a stop is complete when `close()` returns,
 * and patches the segment size, each finished cluster's size and the duration in place (werift
 * leaves clusters unknown-sized and its segment-size patch is off by the size field's length,
 * which ffmpeg reports as errors). A file cut off before the end still plays: the segment size
 * stays "unknown", the duration is the 24 h placeholder.
 */
import { closeSync, fdatasyncSync, openSync, writeSync } from 'node:fs';
import { DurationPosition, SegmentSizePosition, WebmBase, type WebmOutput } from 'werift/nonstandard';
import type { FrameSink, RecordKind, SinkTrack } from './record-pipeline.ts';

/** Placeholder duration written in the header until the end patches the real one (werift's default). */
const PLACEHOLDER_DURATION_MS = 24 * 3600 * 1000;
/** EBML id of a Cluster. */
const CLUSTER_ID = 0x1f43b675;

/** An EBML size as an 8-byte vint (marker 0x01, 56 bits of value). */
function vint8(size: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(0x01000000 + Math.floor(size / 0x100000000), 0);
  b.writeUInt32BE(size >>> 0, 4);
  return b;
}

/** A WebM file written through werift's WebmBase, synchronously. */
export class WebmFileWriter implements FrameSink {
  private fd: number | undefined;
  private webm: WebmBase | undefined;
  bytes = 0;
  /** Offset of the cluster being written (-1: none). */
  private clusterAt = -1;
  /** Duration the end patched in (ms), once closed. */
  durationMs: number | undefined;

  /** `path` is created when the sink opens (never overwritten). */
  constructor(readonly path: string) {}

  open(tracks: SinkTrack[]): void {
    if (this.webm) return;
    this.fd = openSync(this.path, 'wx', 0o640);
    const webm = new WebmBase(
      tracks.map((t, i) => (t.kind === 'video' ? { kind: 'video', codec: 'VP8', clockRate: 90000, trackNumber: i + 1, width: t.width ?? 640, height: t.height ?? 360 } : { kind: 'audio', codec: 'OPUS', clockRate: 48000, trackNumber: i + 1 })),
      (o) => this.output(o),
      { duration: PLACEHOLDER_DURATION_MS },
    );
    this.webm = webm;
    // `start()` is protected in werift's typings (WebmCallback calls it from `pipe`).
    (webm as unknown as { start(): void }).start();
  }

  private output(o: WebmOutput): void {
    if (this.fd === undefined) return;
    if (o.saveToFile) {
      // werift writes clusters of unknown size; a finished cluster gets its size (ffmpeg refuses
      // an unknown-sized element inside the finite segment the end patches in).
      if (o.kind === 'cluster' || o.kind === 'cuePoints') this.closeCluster();
      if (o.kind === 'cluster' && o.saveToFile.length >= 12 && o.saveToFile.readUInt32BE(0) === CLUSTER_ID && o.saveToFile[4] === 0x01) this.clusterAt = this.bytes;
      writeSync(this.fd, o.saveToFile);
      this.bytes += o.saveToFile.length;
    } else if (o.eol) {
      const d = Buffer.from(o.eol.durationElement);
      writeSync(this.fd, d, 0, d.length, DurationPosition);
      // The segment's size as an 8-byte vint over the 8-byte "unknown" werift left (werift's
      // replaceSegmentSize counts from the size field's start, 3+ bytes too many: ffmpeg then
      // reports the file as ended prematurely).
      writeSync(this.fd, vint8(this.bytes - (SegmentSizePosition + 8)), 0, 8, SegmentSizePosition);
      this.durationMs = o.eol.duration;
    }
  }

  /** Writes the size of the open cluster (it ends where the file ends now) as an 8-byte vint. */
  private closeCluster(): void {
    if (this.clusterAt < 0 || this.fd === undefined) return;
    writeSync(this.fd, vint8(this.bytes - (this.clusterAt + 12)), 0, 8, this.clusterAt + 4);
    this.clusterAt = -1;
  }

  write(kind: RecordKind, data: Buffer, keyframe: boolean, timeMs: number): void {
    const input = { frame: { data, isKeyframe: keyframe, time: timeMs } };
    if (kind === 'video') this.webm?.processVideoInput(input);
    else this.webm?.processAudioInput(input);
  }

  /** Writes cues, patches size and duration, syncs and closes. Idempotent. */
  close(): void {
    if (this.fd === undefined) return;
    this.webm?.stop();
    try {
      fdatasyncSync(this.fd);
    } catch {
      // as in rtp-dump.ts
    }
    closeSync(this.fd);
    this.fd = undefined;
  }
}
