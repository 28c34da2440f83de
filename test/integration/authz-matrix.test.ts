/**
 * Authorization matrix (issue 11 B): every operation × channel kind × identity against a real
 * server, over a real WebSocket for clients and real HTTP for the server API. The expected table
 * below is the policy (docs/protocol.md "Permissions"); a cell is `ok` or the reply error code.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { startNode, type SwitchboardNode } from '../../src/app/index.ts';
import { RawClient } from '../helpers/raw-client.ts';

const SECRET = 'authz-matrix-secret-authz-matrix-secret';
const KEY = 'authz-matrix-api-key';

/** The namespaces the table is about. */
const config = {
  port: 0,
  host: '127.0.0.1',
  jwt: { secret: SECRET },
  allowAnonymous: true,
  apiKey: KEY,
  // Default namespace: anyone subscribes and reads presence; history (and so recovery) needs a user; no client publishes.
  defaultNamespace: { subscribe: 'anonymous', publish: 'none', historyRead: 'authenticated', presenceRead: 'anonymous', historySize: 10, recover: true, presence: true },
  namespaces: {
    // Configured namespace: everything for authenticated users.
    room: { subscribe: 'authenticated', publish: 'authenticated', historyRead: 'authenticated', presenceRead: 'authenticated', historySize: 10, recover: true, presence: true },
    // Signaling rooms: members signal; no history, no presence, no client publish.
    call: { subscribe: 'authenticated', publish: 'none', signaling: true },
  },
} as const;

const OPS = ['subscribe', 'recover', 'publish', 'history', 'presence', 'presence_stats', 'signal'] as const;
type Op = (typeof OPS)[number];
const WHO = ['anonymous', 'owner', 'other', 'api'] as const;
type Who = (typeof WHO)[number];
/**
 * `ok`, a reply error code, or `-` where the identity has no such operation (the server API cannot
 * subscribe or signal). `no replay`: recovery without history read — the subscription is made
 * (it is permitted) but nothing is replayed and the reply says `recovered: false`.
 */
type Cell = 'ok' | 'no replay' | 102 | 103 | 108 | 112 | '-';
type Row = Record<Op, Cell>;

/** The owner is user `alice`; the other user is `carol`. */
const CHANNELS = {
  default: 'plain',
  configured: 'room:1',
  'user-limited #alice': 'room:#alice',
  'user-limited #bob,alice': 'room:#bob,alice',
  'reserved $sb:': '$sb:signal:call:r1',
  'unknown namespace': 'nope:1',
  signaling: 'call:r1',
} as const;
type Kind = keyof typeof CHANNELS;

//                      subscribe  recover   publish   history   presence  p_stats   signal
const r = (subscribe: Cell, recover: Cell, publish: Cell, history: Cell, presence: Cell, presence_stats: Cell, signal: Cell): Row => ({ subscribe, recover, publish, history, presence, presence_stats, signal });

const EXPECTED: Record<Kind, Record<Who, Row>> = {
  default: {
    anonymous: /**/ r('ok', 'no replay', 103, 103, 'ok', 'ok', 108),
    owner: /*    */ r('ok', 'ok', 103, 'ok', 'ok', 'ok', 108),
    other: /*    */ r('ok', 'ok', 103, 'ok', 'ok', 'ok', 108),
    api: /*      */ r('-', '-', 'ok', 'ok', 'ok', 'ok', '-'),
  },
  configured: {
    anonymous: /**/ r(103, 103, 103, 103, 103, 103, 108),
    owner: /*    */ r('ok', 'ok', 'ok', 'ok', 'ok', 'ok', 108),
    other: /*    */ r('ok', 'ok', 'ok', 'ok', 'ok', 'ok', 108),
    api: /*      */ r('-', '-', 'ok', 'ok', 'ok', 'ok', '-'),
  },
  'user-limited #alice': {
    anonymous: /**/ r(103, 103, 103, 103, 103, 103, 108),
    owner: /*    */ r('ok', 'ok', 'ok', 'ok', 'ok', 'ok', 108),
    other: /*    */ r(103, 103, 103, 103, 103, 103, 108),
    api: /*      */ r('-', '-', 'ok', 'ok', 'ok', 'ok', '-'),
  },
  'user-limited #bob,alice': {
    anonymous: /**/ r(103, 103, 103, 103, 103, 103, 108),
    owner: /*    */ r('ok', 'ok', 'ok', 'ok', 'ok', 'ok', 108),
    other: /*    */ r(103, 103, 103, 103, 103, 103, 108),
    api: /*      */ r('-', '-', 'ok', 'ok', 'ok', 'ok', '-'),
  },
  'reserved $sb:': {
    anonymous: /**/ r(112, 112, 112, 112, 112, 112, 112),
    owner: /*    */ r(112, 112, 112, 112, 112, 112, 112),
    other: /*    */ r(112, 112, 112, 112, 112, 112, 112),
    api: /*      */ r('-', '-', 112, 112, 112, 112, '-'),
  },
  'unknown namespace': {
    anonymous: /**/ r(102, 102, 102, 102, 102, 102, 102),
    owner: /*    */ r(102, 102, 102, 102, 102, 102, 102),
    other: /*    */ r(102, 102, 102, 102, 102, 102, 102),
    api: /*      */ r('-', '-', 102, 102, 102, 102, '-'),
  },
  // No recovery in `call`: a position is ignored, so recover is decided as subscribe.
  signaling: {
    anonymous: /**/ r(103, 103, 103, 108, 108, 108, 103),
    owner: /*    */ r('ok', 'ok', 103, 108, 108, 108, 'ok'),
    other: /*    */ r('ok', 'ok', 103, 108, 108, 108, 'ok'),
    api: /*      */ r('-', '-', 'ok', 108, 108, 108, '-'),
  },
};

function token(user: string): Promise<string> {
  return new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(user).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
}

function outcome(reply: Record<string, any>): Cell {
  if (reply.t === 'ok') return 'ok';
  assert.equal(reply.t, 'err', `reply ${JSON.stringify(reply)}`);
  return reply.code as Cell;
}

/** One client operation on a fresh subscription state: subscribing cells unsubscribe afterwards. */
async function clientOp(c: RawClient, op: Op, ch: string): Promise<Cell> {
  switch (op) {
    case 'subscribe': {
      const reply = await c.request({ t: 'sub', ch });
      if (reply.t === 'ok') await c.request({ t: 'unsub', ch });
      return outcome(reply);
    }
    case 'recover': {
      // Recover from the current top (so a permitted recovery succeeds), or from any position when
      // a plain subscribe is refused anyway.
      const plain = await c.request({ t: 'sub', ch });
      if (plain.t === 'ok') await c.request({ t: 'unsub', ch });
      const from = plain.t === 'ok' ? { epoch: plain.epoch, offset: plain.offset } : { epoch: 'some-epoch', offset: 0 };
      const reply = await c.request({ t: 'sub', ch, recover: from });
      if (reply.t === 'ok') await c.request({ t: 'unsub', ch });
      if (reply.t === 'ok' && reply.recovered === false) return 'no replay';
      return outcome(reply);
    }
    case 'publish':
      return outcome(await c.request({ t: 'pub', ch, data: { n: 1 } }));
    case 'history':
      return outcome(await c.request({ t: 'history', ch, limit: 5 }));
    case 'presence':
      return outcome(await c.request({ t: 'presence', ch }));
    case 'presence_stats':
      return outcome(await c.request({ t: 'presence_stats', ch }));
    case 'signal': {
      // Signaling is for members: join if the policy lets us, then signal.
      const joined = (await c.request({ t: 'sub', ch })).t === 'ok';
      const reply = await c.request({ t: 'signal', ch, to: 'some-client', data: { type: 'bye' } });
      if (joined) await c.request({ t: 'unsub', ch });
      return outcome(reply);
    }
  }
}

describe('authorization matrix: operation × channel kind × identity', () => {
  let node: SwitchboardNode;
  const clients = new Map<Who, RawClient>();
  before(async () => {
    node = await startNode(config);
    clients.set('anonymous', await RawClient.connect(node.wsUrl));
    clients.set('owner', await RawClient.connect(node.wsUrl, { token: await token('alice') }));
    clients.set('other', await RawClient.connect(node.wsUrl, { token: await token('carol') }));
  });
  after(async () => {
    for (const c of clients.values()) c.close();
    await node.close();
  });

  async function apiOp(op: Op, ch: string): Promise<Cell> {
    const method = op === 'publish' ? 'publish' : op;
    const body = op === 'publish' ? { channel: ch, data: { n: 1 } } : { channel: ch };
    const res = await fetch(`${node.httpUrl}/api/${method}`, { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `apikey ${KEY}` }, body: JSON.stringify(body) });
    const json = (await res.json()) as { result?: unknown; error?: { code: number } };
    if (res.status === 200) return 'ok';
    assert.equal(res.status, 400, JSON.stringify(json));
    return json.error!.code as Cell;
  }

  for (const kind of Object.keys(CHANNELS) as Kind[]) {
    test(`${kind} (${CHANNELS[kind]})`, async () => {
      const ch = CHANNELS[kind];
      const got: Record<string, Record<string, Cell>> = {};
      const want: Record<string, Record<string, Cell>> = {};
      for (const who of WHO) {
        got[who] = {};
        want[who] = { ...EXPECTED[kind][who] };
        for (const op of OPS) {
          if (who === 'api') got[who][op] = op === 'subscribe' || op === 'recover' || op === 'signal' ? '-' : await apiOp(op, ch);
          else got[who][op] = await clientOp(clients.get(who)!, op, ch);
        }
      }
      assert.deepEqual(got, want);
    });
  }

  test('a refused publish reaches nobody and a refused read reveals nothing', async () => {
    const alice = clients.get('owner')!;
    const carol = clients.get('other')!;
    await alice.request({ t: 'sub', ch: 'room:#alice' });
    await node.publish('room:#alice', 'secret');
    await alice.waitFor((f) => f.t === 'pub' && f.ch === 'room:#alice' && f.data === 'secret');
    const pub = await carol.request({ t: 'pub', ch: 'room:#alice', data: 'spoofed' });
    assert.equal(pub.code, 103);
    const hist = await carol.request({ t: 'history', ch: 'room:#alice', limit: 10 });
    assert.equal(hist.code, 103);
    assert.equal(hist.pubs, undefined);
    await new Promise((res) => setTimeout(res, 100));
    assert.equal(alice.frames.filter((f) => f.t === 'pub' && f.data === 'spoofed').length, 0);
    await alice.request({ t: 'unsub', ch: 'room:#alice' });
  });
});
