/**
 * Codec negotiation at the SFU's publish step (issue 12 "Codecs": refuse what the SFU cannot
 * forward with a clear signaling error): a video section must offer VP8 or H.264 in packetization
 * mode 0 or 1, audio must offer Opus; anything else is refused with 108 before any transport is
 * made.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SfuRouterService } from '../../src/webrtc/sfu/router.ts';
import { ReplyError } from '../../src/protocol/errors.ts';

function offer(kind: 'video' | 'audio', rtpmaps: string[], fmtps: string[] = []): string {
  const pts = rtpmaps.map((_, i) => 100 + i);
  return [
    'v=0',
    'o=- 1 2 IN IP4 127.0.0.1',
    's=-',
    't=0 0',
    'a=group:BUNDLE 0',
    `m=${kind} 9 UDP/TLS/RTP/SAVPF ${pts.join(' ')}`,
    'c=IN IP4 0.0.0.0',
    'a=mid:0',
    'a=sendonly',
    ...rtpmaps.map((r, i) => `a=rtpmap:${pts[i]} ${r}`),
    ...fmtps.map((f, i) => `a=fmtp:${pts[i]} ${f}`),
    'a=ssrc:1234 cname:x',
    '',
  ].join('\r\n');
}

for (const [what, sdp] of [
  ['VP9 only', offer('video', ['VP9/90000'])],
  ['AV1 only', offer('video', ['AV1/90000'])],
  ['H.264 in packetization mode 2 only', offer('video', ['H264/90000'], ['packetization-mode=2;profile-level-id=42e01f'])],
  ['audio without Opus', offer('audio', ['PCMU/8000'])],
] as const) {
  test(`a publish offer with ${what} is refused with 108 and says what the SFU forwards`, async () => {
    const sfu = new SfuRouterService();
    const peer = { room: 'sfu:codecs', user: 'u', client: 'c1' };
    try {
      await sfu.handle(peer, { id: 'j', op: 'join' }, () => {});
      await assert.rejects(
        sfu.handle(peer, { id: 'p', op: 'publish', sdp }, () => {}),
        (err: unknown) => err instanceof ReplyError && err.code === 108 && /VP8 and H\.264 video and Opus audio/.test(err.message),
      );
    } finally {
      await sfu.close();
    }
  });
}
