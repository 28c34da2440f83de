/**
 * Active speakers through the SFU with Chromium (issue 12 "speaker events"): two pages publish
 * audio made with WebAudio — one a 440 Hz tone, one silence (the same graph at gain 0) — and a
 * third page only listens. Chromium writes the RFC 6464 audio level of what it encodes into each
 * Opus packet; the SFU's meters turn that into `speakers` events. The listener must see the tone's
 * publisher alone in the list, an empty list once the tone stops, and the other publisher once it
 * starts its own tone.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import type { SfuRouterService } from '../../src/webrtc/sfu/router.ts';
import { browserUnavailable, launch, MEDIA_ARGS, openWith, startSfuNode, type Browser } from './browser.ts';

const skip = browserUnavailable();
const cleanup: Array<() => unknown> = [];
after(async () => {
  for (const f of cleanup.reverse()) await Promise.race([f(), new Promise((r) => setTimeout(r, 10_000).unref())]);
});

/** In the page: joins; publishes a WebAudio tone (gain `gain`) when `publish`. */
const JOIN = `async ({ room, publish, gain }) => {
  const { Client, SfuCall } = await import(location.origin + '/sdk/switchboard.js');
  const client = new Client(location.origin, { transports: ['websocket'] });
  let localStream;
  const state = { speakers: [], errors: [] };
  if (publish) {
    const ctx = new AudioContext();
    await ctx.resume();
    const osc = ctx.createOscillator();
    osc.frequency.value = 440;
    const g = ctx.createGain();
    g.gain.value = gain;
    const dest = ctx.createMediaStreamDestination();
    osc.connect(g).connect(dest);
    osc.start();
    state.gain = g;
    localStream = dest.stream;
  }
  const call = new SfuCall(client, room, { localStream });
  state.call = call;
  window.__sfu = state;
  call.on('speakers', (ev) => state.speakers.push(ev.speakers.map((s) => s.client + '@' + s.level)));
  call.on('error', ({ error }) => state.errors.push(String(error)));
  await call.join();
  return client.id;
}`;

const speakerEvents = (page: Page): Promise<string[][]> => page.evaluate('window.__sfu.speakers.slice()') as Promise<string[][]>;

async function waitSpeakers(page: Page, want: string[], ms: number, what: string): Promise<number> {
  const start = Date.now();
  for (;;) {
    const evs = await speakerEvents(page);
    const last = evs[evs.length - 1]?.map((s) => s.split('@')[0]) ?? [];
    if (JSON.stringify(last) === JSON.stringify(want)) return Date.now() - start;
    if (Date.now() - start > ms) throw new Error(`${what}: last speakers ${JSON.stringify(last)}, want ${JSON.stringify(want)} (events ${JSON.stringify(evs.slice(-5))})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('active speakers: the publisher of a tone is the speaker, a silent one is not; the list follows when the tone moves', { skip, timeout: 120_000 }, async () => {
  const { node, sfu: sfuNode } = await startSfuNode();
  const sfu = sfuNode as SfuRouterService;
  const meters = (): string => {
    const out: string[] = [];
    for (const r of sfu.routers.values()) for (const p of r.participants.values()) for (const e of p.published.values()) out.push(`${e.info.track} ${e.producer.kind} rx=${e.producer.received} levels=${e.producer.audioLevel?.observed ?? '-'} now=${e.producer.audioLevel?.level(Date.now()) ?? '-'}`);
    for (const r of sfu.routers.values()) out.push(`room speakers ${JSON.stringify(r.speakers)} levels ${[...r.participants.values()].map((p) => p.speechLevel(Date.now())).join(',')}`);
    return out.join('; ');
  };
  cleanup.push(() => node.close());
  const browser: Browser = await launch([...MEDIA_ARGS, '--autoplay-policy=no-user-gesture-required']);
  cleanup.push(() => browser.close());
  const room = 'sfu:speakers';
  const loud = await openWith(browser, node.httpUrl, JOIN, { room, publish: true, gain: 0.8 });
  const quiet = await openWith(browser, node.httpUrl, JOIN, { room, publish: true, gain: 0 });
  const listener = await openWith(browser, node.httpUrl, JOIN, { room, publish: false, gain: 0 });
  const loudId = loud.result as string;
  const quietId = quiet.result as string;

  const first = await waitSpeakers(listener.page, [loudId], 15_000, 'the tone is the speaker').catch((err: Error) => {
    throw new Error(`${err.message}; SFU: ${meters()}`);
  });
  const level = Number((await speakerEvents(listener.page)).at(-1)![0]!.split('@')[1]);
  assert.ok(level > 0.05 && level <= 1, `a speech level in (0, 1]: ${level}`);
  // Everyone in the room gets the list, the speaker too.
  await waitSpeakers(loud.page, [loudId], 5_000, 'the speaker sees itself');
  await loud.page.evaluate('window.__sfu.gain.gain.value = 0');
  const silent = await waitSpeakers(listener.page, [], 5_000, 'nobody speaks once the tone stops');
  await quiet.page.evaluate('window.__sfu.gain.gain.value = 0.8');
  const moved = await waitSpeakers(listener.page, [quietId], 5_000, 'the other publisher speaks');
  const events = await speakerEvents(listener.page);
  assert.ok(!events.some((e) => e.some((s) => s.startsWith(quietId)) && e.some((s) => s.startsWith(loudId))), 'never both at once');
  for (const p of [loud.page, quiet.page, listener.page]) assert.deepEqual(await p.evaluate('window.__sfu.errors'), []);
  console.log(`# speakers: tone found after ${first} ms (level ${level}), silence after ${silent} ms, moved after ${moved} ms; ${events.length} events`);
});
