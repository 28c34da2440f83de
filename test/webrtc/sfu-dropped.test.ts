/**
 * A participant whose transport never connects is dropped by the SFU and told so (`dropped`
 * event): the SDK's SfuCall reports an error naming the reason and ends in state `left`, instead
 * of staying `joined` without media. The participant here is a werift peer that closes itself
 * once the SFU's answer is applied, so the SFU's ICE checks go unanswered. (A peer that merely
 * filtered out every candidate pair still connected sometimes, through a peer-reflexive pair.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MediaStream, MediaStreamTrack, RTCPeerConnection } from 'werift';
import { Client } from '../../src/client/index.ts';
import { SfuCall } from '../../src/client/sfu-call.ts';
import { startNode } from '../../src/app/index.ts';
import { SfuRouterService } from '../../src/webrtc/sfu/router.ts';
import { peerConfig } from '../../src/webrtc/sfu/werift-adapter.ts';
import { until } from './sfu-member.ts';

test('a participant whose transport does not connect is told it was dropped; its call ends in "left" with the reason', { timeout: 60_000 }, async () => {
  const sfu = new SfuRouterService({ connectTimeoutMs: 1500 });
  const node = await startNode({ port: 0, host: '127.0.0.1', allowAnonymous: true, namespaces: { sfu: { sfu: true, subscribe: 'anonymous', publish: 'anonymous' } }, sfu });
  const client = new Client(node.wsUrl, { transports: ['websocket'] });
  const track = new MediaStreamTrack({ kind: 'video' });
  const call = new SfuCall(client, 'sfu:doomed', {
    localStream: new MediaStream([track]) as never,
    simulcast: false,
    // Closes itself once the SFU's answer is applied: nothing answers the SFU's ICE checks.
    createPeerConnection: () => {
      const pc = new RTCPeerConnection(peerConfig());
      const apply = pc.setRemoteDescription.bind(pc);
      pc.setRemoteDescription = (async (d: Parameters<typeof apply>[0]) => {
        const r = await apply(d);
        if (d.type === 'answer') await pc.close();
        return r;
      }) as typeof pc.setRemoteDescription;
      return pc as never;
    },
  });
  const errors: string[] = [];
  call.on('error', ({ error }) => errors.push(error.message));
  try {
    await call.join();
    assert.equal(call.state, 'joined');
    await until(() => call.state === 'left', 20_000, () => `state ${call.state}, errors ${JSON.stringify(errors)}`);
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, /the SFU dropped this call: publish transport did not connect/);
    assert.equal(sfu.stats().participants, 0);
  } finally {
    client.close();
    await node.close();
  }
});
