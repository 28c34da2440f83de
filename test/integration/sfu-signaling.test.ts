/**
 * SFU signaling through a real server over WebSocket (raw frames and the SDK): the dispatch of
 * `signal` frames to `$sfu` in `sfu: true` namespaces. The SfuService here is a small recorder
 * (the media plane has its own tests): it proves what reaches the service, with which identity,
 * and what comes back to whom.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '../../src/client/index.ts';
import { ReplyError } from '../../src/protocol/errors.ts';
import { startNode, type SwitchboardNode } from '../../src/app/index.ts';
import { MAX_PENDING_SFU, SFU_BURST } from '../../src/server/sfu-signaling.ts';
import type { SfuEvent, SfuPeerRef, SfuReplies, SfuRequest, SfuService } from '../../src/protocol/sfu-contract.ts';
import { RawClient, type Frame } from '../helpers/raw-client.ts';

const SDP = 'v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n';

type Reply = SfuReplies[keyof SfuReplies];

/** Records every call; `hold` makes handle() wait until released; `fail` rejects with a ReplyError. */
class RecordingSfu implements SfuService {
  readonly handled: { peer: SfuPeerRef; req: SfuRequest }[] = [];
  readonly left: SfuPeerRef[] = [];
  readonly senders = new Map<string, (ev: SfuEvent) => void>();
  hold = false;
  closed = false;
  private held: (() => void)[] = [];

  async handle(peer: SfuPeerRef, req: SfuRequest, send: (ev: SfuEvent) => void): Promise<Reply> {
    this.handled.push({ peer, req });
    this.senders.set(peer.client, send);
    if (this.hold) await new Promise<void>((resolve) => this.held.push(resolve));
    switch (req.op) {
      case 'join':
        return { tracks: [{ track: 'tr-1', user: 'u', client: 'c', kind: 'video', codec: 'VP8', layers: [{ rid: 'q' }] }] };
      case 'publish':
        if (req.sdp.includes('m=video')) throw new ReplyError('notAvailable', 'sfu: nothing to forward');
        return { sdp: SDP };
      default:
        return {};
    }
  }

  release(): void {
    const h = this.held;
    this.held = [];
    for (const r of h) r();
  }

  leave(peer: SfuPeerRef): void {
    this.left.push(peer);
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const isSfu = (id?: string) => (f: Frame) => f.t === 'signal' && f.from?.client === '$sfu' && (id === undefined || f.data?.id === id);

describe('SFU signaling', () => {
  let node: SwitchboardNode;
  let bare: SwitchboardNode;
  const sfu = new RecordingSfu();
  before(async () => {
    const namespaces = {
      sfu: { subscribe: 'anonymous', sfu: true },
      mesh: { subscribe: 'anonymous', signaling: true },
      chat: { subscribe: 'anonymous' },
    } as const;
    node = await startNode({ port: 0, host: '127.0.0.1', insecure: true, namespaces, sfu });
    bare = await startNode({ port: 0, host: '127.0.0.1', insecure: true, namespaces });
  });
  after(async () => {
    await node.close();
    await bare.close();
    assert.equal(sfu.closed, true, 'the node closes its SFU');
  });

  test('a request reaches the service with the session identity; the reply and events come back by id', async () => {
    const alice = await RawClient.connect(node.wsUrl);
    await alice.request({ t: 'sub', ch: 'sfu:r1' });
    const ok = await alice.request({ t: 'signal', ch: 'sfu:r1', to: '$sfu', data: { type: 'sfu', id: 'j1', op: 'join', user: 'mallory', client: 'forged', junk: [1] } });
    assert.equal(ok.t, 'ok');
    const reply = await alice.waitFor(isSfu('j1'));
    assert.deepEqual(reply, {
      t: 'signal',
      ch: 'sfu:r1',
      from: { user: '', client: '$sfu' },
      data: { type: 'sfu', op: 'reply', id: 'j1', ok: true, result: { tracks: [{ track: 'tr-1', user: 'u', client: 'c', kind: 'video', codec: 'VP8', layers: [{ rid: 'q' }] }] } },
    });
    const rec = sfu.handled.find((h) => h.peer.client === alice.clientId)!;
    assert.deepEqual(rec.peer, { room: 'sfu:r1', user: '', client: alice.clientId }, 'identity from the session');
    assert.deepEqual(rec.req, { id: 'j1', op: 'join' }, 'unknown fields dropped');
    // An event from the media plane goes to this member only, as a signal push.
    sfu.senders.get(alice.clientId)!({ op: 'layer', track: 'tr-1', spatial: 1, temporal: 2, bitrate: 500_000 });
    const ev = await alice.waitFor((f) => isSfu()(f) && f.data.op === 'layer');
    assert.deepEqual(ev.data, { type: 'sfu', op: 'layer', track: 'tr-1', spatial: 1, temporal: 2, bitrate: 500_000 });
    // A service error becomes an error reply with its code; the signal itself was accepted.
    const video = SDP + 'm=video 9 UDP/TLS/RTP/SAVPF 96\r\n';
    assert.equal((await alice.request({ t: 'signal', ch: 'sfu:r1', to: '$sfu', data: { type: 'sfu', id: 'p1', op: 'publish', sdp: video } })).t, 'ok');
    const err = await alice.waitFor(isSfu('p1'));
    assert.deepEqual(err.data, { type: 'sfu', op: 'reply', id: 'p1', ok: false, error: { code: 108, message: 'not available: sfu: nothing to forward' } });
    // set-layers keeps exactly its fields.
    await alice.request({ t: 'signal', ch: 'sfu:r1', to: '$sfu', data: { type: 'sfu', id: 's1', op: 'set-layers', track: 'tr-1', spatial: 0, temporal: 1, width: 320, height: 180, visible: true, x: 1 } });
    await alice.waitFor(isSfu('s1'));
    assert.deepEqual(sfu.handled.at(-1)!.req, { id: 's1', op: 'set-layers', track: 'tr-1', spatial: 0, temporal: 1, width: 320, height: 180, visible: true });
    alice.close();
  });

  test('non-members, other namespaces and nodes without an SFU are refused', async () => {
    const alice = await RawClient.connect(node.wsUrl);
    const code = async (c: RawClient, ch: string, data: unknown = { type: 'sfu', id: 'x', op: 'join' }) => (await c.request({ t: 'signal', ch, to: '$sfu', data })).code;
    const before = sfu.handled.length;
    assert.equal(await code(alice, 'sfu:r2'), 103, 'not a member');
    await alice.request({ t: 'sub', ch: 'mesh:r2' });
    assert.equal(await code(alice, 'mesh:r2'), 108, 'a signaling namespace without sfu');
    await alice.request({ t: 'sub', ch: 'chat:r2' });
    assert.equal(await code(alice, 'chat:r2'), 108, 'not a signaling namespace');
    assert.equal(await code(alice, 'nope:r2'), 102, 'unknown namespace');
    const onBare = await RawClient.connect(bare.wsUrl);
    await onBare.request({ t: 'sub', ch: 'sfu:r2' });
    const r = await onBare.request({ t: 'signal', ch: 'sfu:r2', to: '$sfu', data: { type: 'sfu', id: 'x', op: 'join' } });
    assert.equal(r.code, 108);
    assert.match(r.message, /no SFU/);
    // sfu data to an ordinary member, and other data to $sfu, are bad requests.
    await alice.request({ t: 'sub', ch: 'sfu:r2' });
    assert.equal((await alice.request({ t: 'signal', ch: 'sfu:r2', to: onBare.clientId, data: { type: 'sfu', id: 'x', op: 'join' } })).code, 107);
    assert.equal(await code(alice, 'sfu:r2', { type: 'bye' }), 107);
    assert.equal(sfu.handled.length, before, 'nothing refused reached the service');
    alice.close();
    onBare.close();
  });

  test('hostile request data is refused with 107 naming the field', async () => {
    const alice = await RawClient.connect(node.wsUrl);
    await alice.request({ t: 'sub', ch: 'sfu:r3' });
    const before = sfu.handled.length;
    const cases: [unknown, RegExp][] = [
      [{ type: 'sfu', op: 'join' }, /id must be/],
      [{ type: 'sfu', id: '', op: 'join' }, /id must be/],
      [{ type: 'sfu', id: 'x'.repeat(65), op: 'join' }, /id must be/],
      [{ type: 'sfu', id: 'a b', op: 'join' }, /id must be/],
      [{ type: 'sfu', id: 7, op: 'join' }, /id must be/],
      [{ type: 'sfu', id: 'a', op: 'teleport' }, /op must be one of/],
      [{ type: 'sfu', id: 'a', op: 'publish' }, /sdp must be/],
      [{ type: 'sfu', id: 'a', op: 'publish', sdp: 'x=1' }, /v=0/],
      [{ type: 'sfu', id: 'a', op: 'subscriber-answer', sdp: 'v=0\r\n<script>' }, /not <type>=<value>/],
      [{ type: 'sfu', id: 'a', op: 'publish', sdp: 'v=0\r\n' + 'a=x\r\n'.repeat(5000) }, /lines/],
      [{ type: 'sfu', id: 'a', op: 'pause' }, /track must be/],
      [{ type: 'sfu', id: 'a', op: 'resume', track: 't'.repeat(129) }, /track must be/],
      [{ type: 'sfu', id: 'a', op: 'set-layers', track: 't', spatial: 3 }, /spatial must be an integer 0–2/],
      [{ type: 'sfu', id: 'a', op: 'set-layers', track: 't', temporal: 1.5 }, /temporal/],
      [{ type: 'sfu', id: 'a', op: 'set-layers', track: 't', width: -1 }, /width/],
      [{ type: 'sfu', id: 'a', op: 'set-layers', track: 't', height: 1e9 }, /height/],
      [{ type: 'sfu', id: 'a', op: 'set-layers', track: 't', visible: 'yes' }, /visible/],
    ];
    for (const [data, msg] of cases) {
      const r = await alice.request({ t: 'signal', ch: 'sfu:r3', to: '$sfu', data });
      assert.equal(r.code, 107, JSON.stringify(data).slice(0, 80));
      assert.match(r.message, msg);
    }
    assert.equal(sfu.handled.length, before);
    alice.close();
  });

  test('pending requests are bounded per connection; ids must be unique while pending; replies keep their ids', async () => {
    const alice = await RawClient.connect(node.wsUrl);
    await alice.request({ t: 'sub', ch: 'sfu:r4' });
    sfu.hold = true;
    try {
      const frames = Array.from({ length: MAX_PENDING_SFU }, (_, i) => ({ t: 'signal', id: 100 + i, ch: 'sfu:r4', to: '$sfu', data: { type: 'sfu', id: `q${i}`, op: 'pause', track: 't' } }));
      alice.send(frames);
      const oks = await alice.waitCount((f) => f.t === 'ok' && f.id >= 100 && f.id < 100 + MAX_PENDING_SFU, MAX_PENDING_SFU);
      assert.equal(oks.length, MAX_PENDING_SFU);
      assert.equal(node.sfuSignals.pendingCount(node.findSession(alice.clientId)!), MAX_PENDING_SFU);
      const over = await alice.request({ t: 'signal', ch: 'sfu:r4', to: '$sfu', data: { type: 'sfu', id: 'q-over', op: 'pause', track: 't' } });
      assert.equal(over.code, 106);
      assert.match(over.message, /at most 16 requests pending/);
      sfu.release();
      const replies = await alice.waitCount((f) => isSfu()(f) && f.data.op === 'reply', MAX_PENDING_SFU);
      assert.deepEqual(replies.map((f) => f.data.id).sort(), frames.map((f) => f.data.id).sort());
      assert.ok(replies.every((f) => f.data.ok === true));
      // Released: a new request is accepted again; a duplicate id while pending is not.
      alice.send([
        { t: 'signal', id: 200, ch: 'sfu:r4', to: '$sfu', data: { type: 'sfu', id: 'dup', op: 'pause', track: 't' } },
        { t: 'signal', id: 201, ch: 'sfu:r4', to: '$sfu', data: { type: 'sfu', id: 'dup', op: 'pause', track: 't' } },
      ]);
      const dup = await alice.waitFor((f) => f.id === 201);
      assert.equal(dup.code, 107);
      assert.match(dup.message, /already pending/);
      assert.equal((await alice.waitFor((f) => f.id === 200)).t, 'ok');
      sfu.release();
      await alice.waitFor(isSfu('dup'));
    } finally {
      sfu.hold = false;
      sfu.release();
    }
    alice.close();
  });

  test('requests are rate limited per connection (111)', async () => {
    const alice = await RawClient.connect(node.wsUrl);
    await alice.request({ t: 'sub', ch: 'sfu:r5' });
    const n = SFU_BURST + 20;
    alice.send(Array.from({ length: n }, (_, i) => ({ t: 'signal', id: 300 + i, ch: 'sfu:r5', to: '$sfu', data: { type: 'sfu', id: `z${i}`, op: 'resume', track: 't' } })));
    const answers = await alice.waitCount((f) => (f.t === 'ok' || f.t === 'err') && f.id >= 300 && f.id < 300 + n, n);
    const limited = answers.filter((f) => f.code === 111).length;
    // Every attempt costs a token (those refused as over the pending bound too): past the burst, 111.
    assert.equal(answers.filter((f) => f.t === 'ok').length, MAX_PENDING_SFU);
    assert.ok(limited >= 10 && limited <= n - SFU_BURST, `${limited} of ${n} refused as too many`);
    alice.close();
  });

  test('leaving the room (unsubscribe) or disconnecting tells the SFU, and nothing more is delivered', async () => {
    const alice = await RawClient.connect(node.wsUrl);
    await alice.request({ t: 'sub', ch: 'sfu:r6' });
    await alice.request({ t: 'signal', ch: 'sfu:r6', to: '$sfu', data: { type: 'sfu', id: 'j', op: 'join' } });
    await alice.waitFor(isSfu('j'));
    const send = sfu.senders.get(alice.clientId)!;
    await alice.request({ t: 'unsub', ch: 'sfu:r6' });
    await until(() => sfu.left.some((p) => p.client === alice.clientId), 'leave after unsub');
    assert.deepEqual(sfu.left.find((p) => p.client === alice.clientId), { room: 'sfu:r6', user: '', client: alice.clientId });
    send({ op: 'track-removed', track: 'gone' });
    // A marker the session does receive, to show the stale event was dropped rather than slow.
    await alice.request({ t: 'sub', ch: 'sfu:r6' });
    await alice.request({ t: 'signal', ch: 'sfu:r6', to: '$sfu', data: { type: 'sfu', id: 'j2', op: 'join' } });
    await alice.waitFor(isSfu('j2'));
    assert.equal(alice.frames.filter((f) => isSfu()(f) && f.data.op === 'track-removed').length, 0, 'no event for the ended membership');

    const bob = await RawClient.connect(node.wsUrl);
    await bob.request({ t: 'sub', ch: 'sfu:r6' });
    await bob.request({ t: 'signal', ch: 'sfu:r6', to: '$sfu', data: { type: 'sfu', id: 'j', op: 'join' } });
    await bob.waitFor(isSfu('j'));
    const bobId = bob.clientId;
    bob.close();
    await until(() => sfu.left.some((p) => p.client === bobId), 'leave after disconnect');
    alice.close();
    await until(() => sfu.left.filter((p) => p.client === alice.clientId).length === 2, 'second leave for alice');
  });

  test('through the SDK: client.signal to $sfu, the reply arrives as a signal event from $sfu', async () => {
    const client = new Client(node.wsUrl, { transports: ['websocket'] });
    try {
      const replies: unknown[] = [];
      const sub = client.subscribe('sfu:r7', { onSignal: (ev) => ev.from.client === '$sfu' && replies.push(ev.data) });
      await client.connect();
      await until(() => sub.state === 'subscribed', 'subscribed');
      await client.signal('sfu:r7', '$sfu', { type: 'sfu', id: 'k1', op: 'join' });
      await until(() => replies.length === 1, 'reply');
      assert.deepEqual((replies[0] as { id: string; ok: boolean }).id, 'k1');
      assert.equal((replies[0] as { ok: boolean }).ok, true);
    } finally {
      client.close();
    }
  });
});
