/**
 * Dynacast (router.ts Participant.dynacast, forwarder.ts Producer availability) without I/O: a
 * publisher's three simulcast layers, consumers with requested and bandwidth-granted layers, a
 * clock passed in. Checks: a layer nobody wants is paused only after the hold and the publisher is
 * told once; a wanted layer comes back at once; the lowest layer is never paused; a paused layer
 * stays plannable for the downlink allocator at the rate it had (so bandwidth can bring it back),
 * or, if it never had one, at a guessed cost with a back-off after a resume that brought nothing
 * (the encoder may not have ramped up to it before the pause); paused consumers want nothing; the
 * option turns it off.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RtpPacket } from 'werift';
import type { SfuEvent } from '../../../src/protocol/sfu-contract.ts';
import { Consumer, DYNACAST_RETRY_MS, LAYER_LIVE_MS, Producer, UNPROVEN_LAYER_BPS, type RtpSink } from '../../../src/webrtc/sfu/forwarder.ts';
import { DYNACAST_HOLD_MS, Participant, type Router } from '../../../src/webrtc/sfu/router.ts';
import { SFU_DEFAULTS } from '../../../src/webrtc/sfu/options.ts';

const sink: RtpSink = { overhead: 16, sendRtp: () => {} };
const source = { requestKeyframe: () => {} };

function setup(dynacast = true) {
  const events: SfuEvent[] = [];
  const router = { options: { ...SFU_DEFAULTS, dynacast } } as unknown as Router;
  const p = new Participant(router, { room: 'r', user: 'u', client: 'c1' }, (ev) => events.push(ev));
  const layers = ['q', 'h', 'f'].map((rid) => new Producer(`c1:0/${rid}`, 'video', source, 1000));
  const entry = { producer: layers[0]!, layers, info: { track: 'c1:0', user: 'u', client: 'c1', kind: 'video' as const, codec: 'VP8', layers: [] } };
  p.published.set('c1:0', entry);
  const consumer = (): Consumer => {
    const c = new Consumer(sink, 5000, 96, layers[0]!);
    c.layers = layers;
    for (const l of layers) l.add(c);
    return c;
  };
  const active = () => (events.filter((e) => e.op === 'publish-layers') as Extract<SfuEvent, { op: 'publish-layers' }>[]).map((e) => e.layers.filter((l) => l.active).map((l) => l.rid).join(''));
  return { p, layers, consumer, events, active };
}

test('an unwanted layer is paused after the hold, the publisher told once; a wanted one resumes at once', () => {
  const { p, layers, consumer, active } = setup();
  const a = consumer();
  const b = consumer();
  a.targetSpatial = 0;
  b.targetSpatial = 1;
  p.dynacast(0);
  p.dynacast(DYNACAST_HOLD_MS - 1);
  assert.deepEqual(active(), [], 'nothing before the hold is over');
  p.dynacast(DYNACAST_HOLD_MS);
  assert.deepEqual(active(), ['qh'], 'f paused');
  assert.equal(layers[2]!.dynacastPaused, true);
  p.dynacast(DYNACAST_HOLD_MS + 500);
  assert.deepEqual(active(), ['qh'], 'told once');
  b.targetSpatial = Number.MAX_SAFE_INTEGER;
  p.dynacast(DYNACAST_HOLD_MS + 600);
  assert.deepEqual(active(), ['qh', 'qhf'], 'f back at once');
  assert.equal(layers[2]!.dynacastPaused, false);
  // h is now unwanted (a on q, b on f): paused a hold after it was last wanted (at HOLD + 500).
  p.dynacast(DYNACAST_HOLD_MS + 500 + DYNACAST_HOLD_MS - 1);
  assert.deepEqual(active(), ['qh', 'qhf']);
  p.dynacast(DYNACAST_HOLD_MS + 500 + DYNACAST_HOLD_MS);
  assert.deepEqual(active(), ['qh', 'qhf', 'qf']);
});

test('the bandwidth cap counts, the layer forwarded now counts, paused consumers do not, the lowest layer always stays', () => {
  const { p, layers, consumer, active } = setup();
  const a = consumer();
  a.bweSpatial = 1;
  // It still forwards f (the switch down waits for a keyframe of h): f is needed until it switches.
  a.current = layers[2];
  p.dynacast(0);
  p.dynacast(DYNACAST_HOLD_MS * 2);
  assert.deepEqual(active(), []);
  a.current = layers[1];
  p.dynacast(DYNACAST_HOLD_MS * 2 + 1);
  p.dynacast(DYNACAST_HOLD_MS * 4);
  assert.deepEqual(active(), ['qh']);
  a.setPaused(true);
  p.dynacast(DYNACAST_HOLD_MS * 4 + 1);
  p.dynacast(DYNACAST_HOLD_MS * 6 + 2);
  assert.deepEqual(active(), ['qh', 'q'], 'a paused consumer wants nothing; q stays');
  a.close();
  p.dynacast(DYNACAST_HOLD_MS * 10);
  assert.equal(layers[0]!.dynacastPaused, false, 'the lowest layer is never paused');
});

test('a paused layer stays available to the allocator at the rate it had; one that never had a rate is tried, with a back-off', () => {
  const { layers } = setup();
  const [q, , f] = layers;
  const now = 100_000;
  const push = (l: Producer, bytes: number) => l.push({ header: { sequenceNumber: 1, timestamp: 1, ssrc: 1000, marker: false, extensions: [] }, payload: Buffer.alloc(bytes) } as unknown as RtpPacket);
  // f had 1 Mbit/s before the pause.
  f!.updateRate(now - 2000);
  push(f!, 125_000);
  f!.updateRate(now - 1000);
  assert.equal(f!.bitrateSmoothed, 1_000_000);
  f!.setDynacastPaused(true, now);
  const later = Date.now() + 10 * LAYER_LIVE_MS;
  assert.equal(f!.available(later), true, 'planned on while paused');
  assert.equal(f!.allocationBitrate(later), 1_000_000, 'at its old rate');
  f!.setDynacastPaused(false, later);
  assert.equal(f!.available(later + LAYER_LIVE_MS), true, 'still available while its first packets are due');
  assert.equal(f!.available(later + 3 * LAYER_LIVE_MS), false, 'not once they should have come');
  // q never had packets (paused before the publisher's encoder ramped up to it): it is planned on
  // at a guessed cost, so a consumer that wants it gets it resumed...
  q!.setDynacastPaused(true, now);
  assert.equal(q!.available(later), true, 'a layer paused before it had a rate is tried');
  assert.equal(q!.allocationBitrate(later), UNPROVEN_LAYER_BPS);
  // ...but after a resume that brought no packets, not again before DYNACAST_RETRY_MS.
  q!.setDynacastPaused(false, later);
  q!.setDynacastPaused(true, later + 3 * LAYER_LIVE_MS);
  assert.equal(q!.available(later + 3 * LAYER_LIVE_MS + 1), false, 'resumed for nothing: not planned on');
  assert.equal(q!.available(later + 3 * LAYER_LIVE_MS + DYNACAST_RETRY_MS), true, 'tried again later');
});

test('dynacast: false leaves every layer on', () => {
  const { p, consumer, active } = setup(false);
  const a = consumer();
  a.targetSpatial = 0;
  p.dynacast(0);
  p.dynacast(DYNACAST_HOLD_MS * 3);
  assert.deepEqual(active(), []);
});
