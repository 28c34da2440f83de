/**
 * Per-packet cost of the SFU packet layer (src/webrtc/sfu/rtp/): what the forwarding path pays
 * per received packet (parse, extension lookups, VP8 descriptor) and per consumer (copy-rewrite,
 * VP8 munger), beside werift's RtpPacket.deSerialize on the same bytes (what the forwarder uses
 * now), plus the RTCP side (TWCC feedback build/parse, NACK generator).
 *
 *     npx tsx bench/sfu-rtp.ts [--packets 1000000] [--json]
 *
 * ns per operation, wall clock on one core (CPU-bound loop, nothing else in the process).
 */
import { RtpPacket } from 'werift';
import { NackGenerator } from '../src/webrtc/sfu/rtp/nack-generator.ts';
import { parseRtcp } from '../src/webrtc/sfu/rtp/rtcp.ts';
import { ExtensionBlock, RtpView, buildRtp, readSdesId, rewriteInto, rewriteWithExtensions } from '../src/webrtc/sfu/rtp/rtp-packet.ts';
import { TwccGenerator } from '../src/webrtc/sfu/rtp/twcc-generator.ts';
import { Vp8Descriptor, Vp8Munger } from '../src/webrtc/sfu/rtp/vp8.ts';

const i = process.argv.indexOf('--packets');
const N = i >= 0 ? Number(process.argv[i + 1]) : 1_000_000;
const json = process.argv.includes('--json');
const rows: Array<{ scenario: string; op: string; nsPerOp: number }> = [];

let sink = 0;
function time(op: string, n: number, fn: (k: number) => void): void {
  for (let k = 0; k < Math.min(n, 20_000); k++) fn(k); // warm-up (JIT)
  const t0 = process.hrtime.bigint();
  for (let k = 0; k < n; k++) fn(k);
  const ns = Number(process.hrtime.bigint() - t0) / n;
  rows.push({ scenario: 'sfu-rtp', op, nsPerOp: Math.round(ns * 10) / 10 });
}

// A Chromium-shaped simulcast VP8 packet: abs-send-time (2), twcc (3), mid (4), rid (10), 1,100 bytes.
const vp8Payload = Buffer.alloc(1100 - 12 - 24, 0xaa);
Buffer.from([0x90, 0xe0, 0x81, 0x23, 0x05, 0x40, 0x9c]).copy(vp8Payload);
const pkt = buildRtp({
  payloadType: 96,
  sequenceNumber: 1000,
  timestamp: 90000,
  ssrc: 0x11223344,
  marker: false,
  extensions: [
    [2, Buffer.from([1, 2, 3])],
    [3, Buffer.from([0, 7])],
    [4, Buffer.from('0')],
    [10, Buffer.from('f')],
  ],
  payload: vp8Payload,
});
const view = new RtpView();
const desc = new Vp8Descriptor();

time('RtpView.parse (1,100 B, 4 one-byte extensions)', N, (k) => {
  pkt[3] = k & 0xff;
  sink += view.parse(pkt).sequenceNumber;
});
time('parse + twcc seq + rid lookup + VP8 descriptor', N, () => {
  const v = view.parse(pkt);
  sink += v.transportSeq(3);
  sink += v.findExtension(10);
  sink += desc.parse(pkt, v.payloadOffset, v.payloadLength).pictureId;
});
time('readSdesId (string for a new SSRC → rid map)', N, () => {
  sink += readSdesId(pkt, view.findExtension(10), view.extValueLength).length;
});
time('werift RtpPacket.deSerialize (same bytes, for comparison)', Math.min(N, 300_000), () => {
  sink += RtpPacket.deSerialize(pkt).header.sequenceNumber;
});

const slab = Buffer.alloc(256 * 1500);
view.parse(pkt);
desc.parse(pkt, view.payloadOffset, view.payloadLength);
const munger = new Vp8Munger();
time('rewriteInto slab (copy 1,100 B + ssrc/seq/ts/pt)', N, (k) => {
  sink += rewriteInto(pkt, pkt.length, slab, (k & 255) * 1500, 0xabcdef, k & 0xffff, k * 3000, 100);
});
time('rewriteInto + twcc seq write + VP8 munger', N, (k) => {
  const off = (k & 255) * 1500;
  rewriteInto(pkt, pkt.length, slab, off, 0xabcdef, k & 0xffff, k * 3000, 100);
  const e = view.findExtension(3);
  slab[off + e] = (k >> 8) & 0xff;
  slab[off + e + 1] = k & 0xff;
  munger.rewrite(slab, off + view.payloadOffset, desc);
});
const ext = new ExtensionBlock();
time('rewriteWithExtensions (subscriber ids: twcc seq + abs-send-time) + munger', N, (k) => {
  const off = (k & 255) * 1500;
  ext.clear().setU16(5, k & 0xffff);
  ext.set(2, pkt, view.findExtension(2), 3);
  rewriteWithExtensions(view, slab, off, 0xabcdef, k & 0xffff, k * 3000, 100, ext);
  munger.rewrite(slab, off + 12 + ext.wireLength, desc);
});
time('Buffer.allocUnsafe(1,116) + copy (what a fresh-buffer send costs)', N, () => {
  const b = Buffer.allocUnsafe(pkt.length + 16);
  sink += pkt.copy(b);
});

// Receive-side generators, per packet.
const twcc = new TwccGenerator();
let fbBytes = 0;
time('TwccGenerator.onPacket (+ buildFeedback every 50 packets)', N, (k) => {
  twcc.onPacket(k & 0xffff, k * 1000 + (k % 7) * 90);
  if (k % 50 === 49) for (const b of twcc.buildFeedback(k * 1000)) fbBytes += b.length;
});
const nack = new NackGenerator();
time('NackGenerator.onPacket + poll (lossless)', N, (k) => {
  nack.onPacket(k & 0xffff, k);
  sink += nack.poll(k).length;
});
const g2 = new TwccGenerator();
for (let k = 0; k < 50; k++) g2.onPacket(k, k * 1000 + (k % 3 === 0 ? 0 : 400));
const fb = g2.buildFeedback(0)[0]!;
time('parseRtcp (TWCC feedback of 50 packets)', Math.min(N, 300_000), () => {
  sink += parseRtcp(fb).length;
});

if (json) console.log(JSON.stringify(rows));
else {
  console.log(`| operation | ns/op |\n|---|---|`);
  for (const r of rows) console.log(`| ${r.op} | ${r.nsPerOp} |`);
  console.log(`\n(${N.toLocaleString()} packets per row; sink ${sink % 10}, feedback bytes ${fbBytes})`);
}
