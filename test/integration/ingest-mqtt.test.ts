/**
 * The MQTT bridge against the real Mosquitto (and Redis), with mosquitto_pub / mosquitto_sub as
 * the devices and the SDK as the web side: topic routes into channels (MQTT 3.1.1 and 5), the
 * idempotency key from the packet, poison messages to the dead-letter topic with their reason,
 * retained messages as the channel's latest value, channels out to topics, no loops either way,
 * and 5,000 QoS 1 messages from a device reaching a web subscriber exactly once, in order, across
 * a SIGKILL of the bridging node (its persistent session keeps what it had not acked).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import mqtt from 'mqtt';
import { MemoryBroker } from '../../src/broker/memory.ts';
import { RedisBroker } from '../../src/broker/redis.ts';
import { Client, type Publication } from '../../src/client/index.ts';
import { startNode, type SwitchboardNode } from '../../src/app/index.ts';
import { deletePrefix, SHARED_REDIS_URL } from '../helpers/cluster-redis.ts';
import { startNodeProcess, TEST_CLUSTER_SECRET, type NodeProcess } from '../helpers/cluster-nodes.ts';
import { metricSum, MQTT_URL, mqttArgs, mosquittoPub, mosquittoSub, readAll, requireMosquittoClients, requireUrl, scrape, uniqueName, waitUntil } from '../helpers/ingest.ts';
import { mqttRouteChannel } from '../../src/ingest/mqtt.ts';

const mqttUp = await requireUrl('Mosquitto', MQTT_URL, 1883);
const cliUp = requireMosquittoClients();
const redisUp = await requireUrl('Redis', SHARED_REDIS_URL, 6379);
const skip = !mqttUp ? 'no MQTT broker (not CI)' : !cliUp ? 'no mosquitto_pub (not CI)' : false;
const skipRedis = skip || (!redisUp ? 'no Redis (not CI)' : false);

const sessions: string[] = [];
const procs: NodeProcess[] = [];
const prefixes: string[] = [];
const clients: Client[] = [];
const webNodes: SwitchboardNode[] = [];
after(async () => {
  for (const c of clients) c.close();
  await Promise.all(webNodes.map((n) => n.close()));
  await Promise.all(procs.map((p) => p.kill()));
  // The bridges' persistent sessions: a clean connect with each client id removes it.
  if (mqttUp) for (const id of sessions) await clearSession(id);
  for (const p of prefixes) await deletePrefix(SHARED_REDIS_URL, p);
});

async function clearSession(clientId: string): Promise<void> {
  const c = await mqtt.connectAsync(MQTT_URL, { clientId, clean: true, reconnectPeriod: 0 });
  await c.endAsync();
}

function clientId(): string {
  const id = uniqueName('sbt-mqtt');
  sessions.push(id);
  return id;
}

const NAMESPACES = {
  sensors: { historySize: 100, subscribe: 'anonymous' as const, historyRead: 'anonymous' as const },
  dev: { historySize: 100 },
  cmd: { historySize: 100 },
  other: { historySize: 100 },
};

async function bridgeNode(broker: MemoryBroker, bridge: Record<string, unknown>): Promise<SwitchboardNode> {
  const node = await startNode({ port: 0, host: '127.0.0.1', insecure: true, broker, namespaces: NAMESPACES, consumers: [{ type: 'mqtt', name: 'mq', url: MQTT_URL, ...bridge }] });
  await waitUntil(async () => metricSum(await scrape(node.httpUrl), 'switchboard_consumer_up', { consumer: 'mq' }) === 1, 10_000, 'bridge up');
  // The SUBACK follows the CONNACK by a round trip.
  await new Promise((r) => setTimeout(r, 200));
  return node;
}

async function data(node: SwitchboardNode, channel: string): Promise<unknown[]> {
  return (await node.broker.history(channel, { limit: 100 })).publications.map((p) => p.data);
}

test('topic filters map to channels with their wildcard captures', () => {
  const routes = [
    { levels: ['sensors', '+', 'temp'], channel: 'sensors:{1}' },
    { levels: ['a', '+', 'b', '#'], channel: 'x:{1}-{2}' },
    { levels: ['#'], channel: 'all:{1}' },
  ];
  assert.equal(mqttRouteChannel(routes, 'sensors/kitchen/temp'), 'sensors:kitchen');
  assert.equal(mqttRouteChannel(routes, 'a/1/b/c/d'), 'x:1-c/d');
  assert.equal(mqttRouteChannel(routes, 'a/1/b'), 'x:1-', '# matches the parent level too');
  assert.equal(mqttRouteChannel(routes, 'sensors/kitchen/temp/x'), 'all:sensors/kitchen/temp/x', 'more levels: the next route');
  assert.equal(mqttRouteChannel(routes, '$SYS/broker'), null, 'wildcards never match $ topics at the first level');
  assert.equal(mqttRouteChannel(routes.slice(0, 1), 'sensors/temp'), null);
});

for (const protocolVersion of [4, 5]) {
  test(`MQTT ${protocolVersion === 5 ? '5' : '3.1.1'}: routes, the idempotency key, poison messages to the dead-letter topic`, { skip }, async () => {
    const p = uniqueName('sbt');
    const V = protocolVersion === 5 ? ['-V', 'mqttv5'] : ['-V', 'mqttv311'];
    const dead = await mosquittoSub([`${p}/dead/#`], V);
    const broker = new MemoryBroker();
    const node = await bridgeNode(broker, {
      protocolVersion,
      clientId: clientId(),
      sessionExpiry: 60,
      maxBytes: 1000,
      namespaces: ['sensors', 'dev'],
      deadLetterTopic: `${p}/dead`,
      routes: [
        { topic: `${p}/sensors/+/temp`, channel: 'sensors:{1}' },
        { topic: `${p}/ns/+/v`, channel: '{1}:v' },
      ],
    });
    try {
      const pub = (topic: string, payload: string, extra: string[] = []) => mosquittoPub([...V, '-q', '1', '-t', `${p}/${topic}`, '-m', payload, ...extra]);
      await pub('sensors/a/temp', '{"t":1}');
      await pub('sensors/a/temp', '{"t":');
      await pub('sensors/a/temp', JSON.stringify({ big: 'x'.repeat(2000) }));
      await pub('ns/nope/v', '{}');
      await pub('ns/other/v', '{}');
      await pub('ns/bad!/v', '{}');
      await pub('sensors/b/temp', '{"t":5}');
      await pub('sensors/a/temp', '{"t":2}');
      // Without an identity a redelivery-like copy (same topic and payload) is stored once.
      await pub('sensors/a/temp', '{"t":2}');
      if (protocolVersion === 5) {
        // With one (user property message-id), equal payloads are kept apart and a copy of one id is dropped.
        await pub('sensors/a/temp', '{"t":3}', ['-D', 'publish', 'user-property', 'message-id', 'm1']);
        await pub('sensors/a/temp', '{"t":3}', ['-D', 'publish', 'user-property', 'message-id', 'm2']);
        await pub('sensors/a/temp', '{"t":3}', ['-D', 'publish', 'user-property', 'message-id', 'm2']);
      }
      const expected = protocolVersion === 5 ? [{ t: 1 }, { t: 2 }, { t: 3 }, { t: 3 }] : [{ t: 1 }, { t: 2 }];
      await waitUntil(async () => (await data(node, 'sensors:a')).length === expected.length && dead.lines.length === 5, 10_000, 'published and dead-lettered');
      assert.deepEqual(await data(node, 'sensors:a'), expected);
      assert.deepEqual(await data(node, 'sensors:b'), [{ t: 5 }]);
      const pubs = (await node.broker.history('sensors:b', { limit: 1 })).publications;
      assert.deepEqual(pubs[0]!.info, { user: '', client: 'mqtt:mq', info: { topic: `${p}/sensors/b/temp` } }, 'the publisher is the bridge, with the topic');
      const reasons = dead.lines.map((l) => l.slice(`${p}/dead/`.length, l.indexOf(' ')));
      assert.deepEqual(reasons.sort(), [`bad_json/${p}/sensors/a/temp`, `invalid_channel/${p}/ns/bad!/v`, `not_allowed/${p}/ns/other/v`, `too_large/${p}/sensors/a/temp`, `unknown_namespace/${p}/ns/nope/v`].sort());
      assert.ok(dead.lines.some((l) => l.endsWith(' {"t":')), 'the dead letter carries the original payload');
      const m = await scrape(node.httpUrl);
      assert.equal(metricSum(m, 'switchboard_consumer_dead_letters_total', { consumer: 'mq', kind: 'mqtt' }), 5);
      assert.equal(metricSum(m, 'switchboard_consumer_dead_letters_total', { consumer: 'mq', reason: 'too_large' }), 1);
      assert.ok(metricSum(m, 'switchboard_consumer_published_total', { consumer: 'mq', kind: 'mqtt' }) >= expected.length + 1);
      assert.equal(metricSum(m, 'switchboard_consumer_lag_seconds', { consumer: 'mq' }), 0);
    } finally {
      await node.close();
      await broker.close();
      await dead.stop();
    }
  });

  test(`MQTT ${protocolVersion === 5 ? '5' : '3.1.1'}: channels out to topics, retained as the latest value, no loops`, { skip }, async () => {
    const p = uniqueName('sbt');
    const V = protocolVersion === 5 ? ['-V', 'mqttv5'] : ['-V', 'mqttv311'];
    // A retained value published before the bridge exists.
    await mosquittoPub([...V, '-q', '1', '-r', '-t', `${p}/sensors/r/temp`, '-m', '{"t":20}']);
    const seen = await mosquittoSub([`${p}/#`], V);
    const broker = new MemoryBroker();
    const id = clientId();
    const bridge = {
      protocolVersion,
      clientId: id,
      sessionExpiry: 60,
      routes: [
        { topic: `${p}/sensors/+/temp`, channel: 'sensors:{1}' },
        { topic: `${p}/dev/+/state`, channel: 'dev:{1}' },
      ],
      outbound: [
        { channel: 'cmd:lamp', topic: `${p}/cmd/{name}` },
        { channel: 'dev:lamp', topic: `${p}/dev/lamp/state`, retain: true },
      ],
    };
    let node = await bridgeNode(broker, bridge);
    try {
      await waitUntil(async () => (await data(node, 'sensors:r')).length === 1, 10_000, 'retained value');
      assert.deepEqual(await data(node, 'sensors:r'), [{ t: 20 }]);
      // Channel → topic.
      await node.publish('cmd:lamp', { on: true });
      // Loop 1: a channel publication goes out to a topic the bridge also takes in; it must not come back in.
      await node.publish('dev:lamp', { on: 1 });
      // Loop 2: a device message comes in to a channel the bridge also sends out; it must not go back out.
      await mosquittoPub([...V, '-q', '1', '-t', `${p}/dev/lamp/state`, '-m', '{"on":2}']);
      await waitUntil(async () => (await data(node, 'dev:lamp')).length === 2, 10_000, 'device message in');
      await waitUntil(async () => metricSum(await scrape(node.httpUrl), 'switchboard_consumer_forwarded_total', { consumer: 'mq' }) === 2, 10_000, 'forwarded');
      await new Promise((r) => setTimeout(r, 500));
      assert.deepEqual(await data(node, 'dev:lamp'), [{ on: 1 }, { on: 2 }], 'the forwarded publication was not taken in again');
      const lines = seen.lines.filter((l) => !l.startsWith(`${p}/sensors/`));
      assert.deepEqual(lines, [`${p}/cmd/lamp {"on":true}`, `${p}/dev/lamp/state {"on":1}`, `${p}/dev/lamp/state {"on":2}`], 'each once: the device message was not sent back out');

      // A restart (same session), and a new session: the retained value is the latest already, not appended again.
      await node.close();
      node = await bridgeNode(broker, bridge);
      await new Promise((r) => setTimeout(r, 500));
      await node.close();
      node = await bridgeNode(broker, { ...bridge, clientId: clientId() });
      await new Promise((r) => setTimeout(r, 500));
      assert.deepEqual(await data(node, 'sensors:r'), [{ t: 20 }], 'the retained value stored once');
      // The forward to dev/lamp/state was retained: it is the topic's latest value for devices, and
      // for the new session it is also already the channel's latest, so nothing is appended.
      assert.deepEqual(await data(node, 'dev:lamp'), [{ on: 1 }, { on: 2 }]);
      const retained = await mosquittoSub([`${p}/dev/lamp/state`], [...V, '-C', '1', '-W', '5']);
      await waitUntil(() => retained.lines.length === 1, 5000, 'retained forward');
      assert.deepEqual(retained.lines, [`${p}/dev/lamp/state {"on":1}`]);
      await retained.stop();
      // A new retained value does go in.
      await mosquittoPub([...V, '-q', '1', '-r', '-t', `${p}/sensors/r/temp`, '-m', '{"t":21}']);
      await waitUntil(async () => (await data(node, 'sensors:r')).length === 2, 10_000, 'new retained value');
      // A web subscriber reads the latest value from history.
      const c = new Client(node.httpUrl.replace('http', 'ws') + '/connection/websocket', { minDelay: 20, maxDelay: 200 });
      clients.push(c);
      const s = c.subscribe('sensors:r');
      await c.connect();
      await waitUntil(() => s.state === 'subscribed', 10_000, 'web subscriber');
      const h = await s.history({ limit: 1, reverse: true });
      assert.deepEqual(h.publications.map((x) => x.data), [{ t: 21 }]);
      c.close();
    } finally {
      await node.close();
      await broker.close();
      await seen.stop();
      // Remove the retained messages this test left.
      await mosquittoPub([...V, '-r', '-n', '-t', `${p}/sensors/r/temp`]);
      await mosquittoPub([...V, '-r', '-n', '-t', `${p}/dev/lamp/state`]);
    }
  });
}

test('5,000 QoS 1 messages from a device reach a web subscriber exactly once, in order, across a SIGKILL of the bridging node', { skip: skipRedis }, async (ctx) => {
  const p = uniqueName('sbt');
  const run = uniqueName('m');
  const prefix = uniqueName('sbt-mqtt');
  prefixes.push(prefix);
  const channel = `feed:${run}-d1`;
  const broker = { type: 'redis', url: SHARED_REDIS_URL, prefix };
  const id = clientId();
  const bridge = { consumers: [{ type: 'mqtt', name: 'mq', url: MQTT_URL, clientId: id, sessionExpiry: 120, routes: [{ topic: `${p}/dev/+/seq`, channel: `feed:${run}-{1}` }] }] };
  // The web side: a node of its own on the same Redis, and an SDK client on it.
  const webBroker = new RedisBroker({ url: SHARED_REDIS_URL, prefix });
  const web = await startNode({ port: 0, host: '127.0.0.1', insecure: true, clusterSecret: TEST_CLUSTER_SECRET, broker: webBroker, namespaces: { feed: { subscribe: 'anonymous', historyRead: 'anonymous', historySize: 20_000, historyTtl: 600, recover: true } } });
  webNodes.push(web);
  const c = new Client(web.httpUrl.replace('http', 'ws') + '/connection/websocket', { minDelay: 20, maxDelay: 200 });
  clients.push(c);
  const got: Publication[] = [];
  const sub = c.subscribe(channel, { onPublication: (x) => void got.push(x) });
  await c.connect();
  await waitUntil(() => sub.state === 'subscribed', 10_000, 'web subscriber');
  const up = async (n: NodeProcess) => metricSum(await scrape(n.httpUrl), 'switchboard_consumer_up', { consumer: 'mq' }) === 1;
  const a = await startNodeProcess('mq-a', broker, bridge);
  procs.push(a);
  await waitUntil(() => up(a), 10_000, 'bridge a up');
  await new Promise((r) => setTimeout(r, 200));

  // The device: mosquitto_pub -l sends each stdin line as one QoS 1 message. The writer keeps at
  // most 400 messages ahead of the web subscriber, under Mosquitto's default queue of 1,000 per
  // offline session (max_queued_messages; past it the broker drops QoS 1 messages).
  const N = 5000;
  const device = spawn('mosquitto_pub', [...mqttArgs(), '-V', 'mqttv5', '-q', '1', '-l', '-t', `${p}/dev/d1/seq`], { stdio: ['pipe', 'ignore', 'inherit'] });
  const deviceDone = new Promise<number | null>((resolve) => device.once('exit', (code) => resolve(code)));
  let written = 0;
  let killed = false;
  let b: NodeProcess | null = null;
  try {
    while (written < N) {
      if (written - got.length < 400) {
        const k = Math.min(N - written, 50);
        let s = '';
        for (let i = 0; i < k; i++) s += `{"seq":${written + i}}\n`;
        device.stdin!.write(s);
        written += k;
      } else await new Promise((r) => setTimeout(r, 5));
      if (!killed && got.length >= 1500) {
        killed = true;
        await a.kill('SIGKILL');
        ctx.diagnostic(`killed the bridge at ${got.length} delivered, ${written} written`);
        b = await startNodeProcess('mq-b', broker, bridge);
        procs.push(b);
      }
    }
    device.stdin!.end();
    assert.equal(await deviceDone, 0, 'mosquitto_pub sent everything');
    await waitUntil(() => got.length >= N, 20_000, `${N} at the web subscriber (have ${got.length})`);
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(killed && b);
    const seqs = got.map((x) => (x.data as { seq: number }).seq);
    assert.equal(seqs.length, N, `exactly ${N} (got ${seqs.length})`);
    seqs.forEach((s, i) => assert.equal(s, i, `position ${i} holds seq ${s}: order or exactly-once broken`));
    assert.deepEqual(got.map((x) => x.offset), Array.from({ length: N }, (_, i) => i + 1), 'offsets without gaps');
    const rb = new RedisBroker({ url: SHARED_REDIS_URL, prefix });
    try {
      assert.equal((await readAll(rb, channel)).length, N, 'history holds each once');
    } finally {
      await rb.close();
    }
    const mb = await scrape(b.httpUrl);
    ctx.diagnostic(`bridge b published ${metricSum(mb, 'switchboard_consumer_published_total', { consumer: 'mq' })} (redeliveries it stored once are counted too)`);
  } finally {
    if (device.exitCode === null) device.kill('SIGKILL');
    c.close();
    await web.close();
    await webBroker.close();
  }
});
