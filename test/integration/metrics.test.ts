/**
 * /metrics: every metric docs/operations.md lists is exported with the documented labels, and the
 * values move when the matching thing happens (frames by type, transports, namespaces, recovery,
 * broker latency through the InstrumentedBroker, slow consumers).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBroker } from '../../src/broker/memory.ts';
import { InstrumentedBroker } from '../../src/metrics/instrumented-broker.ts';
import { startNode, type SwitchboardNode } from '../../src/app/index.ts';
import { RawClient } from '../helpers/raw-client.ts';

/** Parses the text exposition format into `name{labels}` → value (the node label dropped). */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels = (m[2] ?? '')
      .split(/,(?=\w+=")/)
      .filter((l) => l !== '' && !l.startsWith('node='))
      .join(',');
    out.set(labels ? `${m[1]}{${labels}}` : m[1]!, Number(m[3]));
  }
  return out;
}

describe('metrics', () => {
  let node: SwitchboardNode;
  let text = '';
  let m: Map<string, number>;
  const get = (key: string): number => {
    const v = m.get(key);
    assert.notEqual(v, undefined, `${key} missing; have ${[...m.keys()].filter((k) => k.startsWith(key.split('{')[0]!)).join(' ')}`);
    return v!;
  };
  const scrape = async () => {
    text = await (await fetch(`${node.httpUrl}/metrics`)).text();
    m = parse(text);
  };

  before(async () => {
    node = await startNode({
      port: 0,
      host: '127.0.0.1',
      insecure: true,
      name: 'metrics-node',
      maxConnections: 1234,
      broker: new InstrumentedBroker(new MemoryBroker()),
      namespaces: { chat: { subscribe: 'anonymous', publish: 'anonymous', historyRead: 'anonymous', historySize: 100, recover: true } },
    });
  });
  after(() => node.close());

  test('names, labels and values after some traffic', async () => {
    const a = await RawClient.connect(node.wsUrl);
    const b = await RawClient.connect(node.wsUrl, { format: 'msgpack' });
    const { epoch } = await a.request({ t: 'sub', ch: 'chat:room' });
    await b.request({ t: 'sub', ch: 'news' });
    for (let i = 0; i < 5; i++) await b.request({ t: 'pub', ch: 'chat:room', data: { i } });
    await a.waitCount((f) => f.t === 'pub', 5);
    // A reconnecting client: subscribe with a position (recovered), and one from another epoch (gap).
    const c = await RawClient.connect(node.wsUrl);
    const first = await c.request({ t: 'sub', ch: 'chat:room', recover: { epoch, offset: 2 } });
    assert.equal(first.recovered, true);
    const gap = await c.request({ t: 'sub', ch: 'chat:other', recover: { epoch: 'gone', offset: 7 } });
    assert.equal(gap.recovered, false);
    assert.equal((await c.request({ t: 'teleport' })).code, 104);
    await scrape();

    assert.equal(get('switchboard_connections{transport="websocket"}'), 3);
    assert.equal(get('switchboard_connections{transport="sse"}'), 0);
    assert.equal(get('switchboard_max_connections'), 1234);
    assert.equal(get('switchboard_subscriptions{namespace="chat"}'), 3);
    assert.equal(get('switchboard_subscriptions{namespace="default"}'), 1);
    assert.ok(get('switchboard_frames_received_total{type="pub"}') >= 5);
    assert.ok(get('switchboard_frames_received_total{type="connect"}') >= 3);
    assert.ok(get('switchboard_frames_queued_total{type="pub"}') >= 5, 'live pubs (a recovery page rides in the ok reply)');
    assert.ok(get('switchboard_frames_queued_bytes_total{type="pub"}') > 0);
    assert.ok(get('switchboard_frames_queued_total{type="ok"}') >= 10);
    assert.equal(get('switchboard_frames_queued_total{type="err"}'), 1);
    assert.ok(get('switchboard_messages_received_total{transport="websocket"}') >= 10);
    assert.ok(get('switchboard_bytes_received_total{transport="websocket"}') > 100);
    assert.equal(get('switchboard_resubscriptions_total{result="recovered"}'), 1);
    assert.equal(get('switchboard_resubscriptions_total{result="gap"}'), 1);
    assert.equal(get('switchboard_errors_total{code="104"}'), 1);
    assert.ok(get('switchboard_broker_latency_seconds_count{op="publish",broker="memory"}') >= 5);
    assert.ok(get('switchboard_broker_latency_seconds_count{op="history",broker="memory"}') >= 3);
    assert.equal(get('switchboard_broker_errors_total{op="publish",broker="memory"}'), 0);
    assert.equal(get('switchboard_broker_info{broker="memory"}'), 1);
    assert.equal(get('switchboard_rebalanced_connections_total'), 0);
    assert.equal(get('switchboard_cluster_nodes'), 1);
    assert.equal(get('switchboard_draining'), 0);
    assert.ok(get('switchboard_memory_per_connection_bytes') > 0);
    get('switchboard_outbound_queue_bytes');
    get('switchboard_outbound_queue_max_bytes');
    // Event-loop lag and process memory come from prom-client's default metrics.
    assert.ok(get('switchboard_nodejs_eventloop_lag_p99_seconds') >= 0);
    get('switchboard_nodejs_eventloop_lag_seconds');
    get('switchboard_process_resident_memory_bytes');
    // Every series carries the node label.
    assert.match(text, /^switchboard_connections\{(node="metrics-node",transport="websocket"|transport="websocket",node="metrics-node")\} 3$/m);

    for (const x of [a, b, c]) x.close();
    await Promise.all([a.closed, b.closed, c.closed]);
    await new Promise((r) => setTimeout(r, 50));
    await scrape();
    assert.equal(get('switchboard_connections{transport="websocket"}'), 0);
    assert.ok(get('switchboard_connection_duration_seconds_count') >= 3);
    assert.ok((m.get('switchboard_disconnects_total{code="1000"}') ?? 0) + (m.get('switchboard_disconnects_total{code="1005"}') ?? 0) >= 3);
  });

  test('a slow consumer shows in the disconnect counters and the disconnect frame count', async () => {
    await scrape();
    const before = m.get('switchboard_slow_consumer_disconnects_total') ?? 0;
    const slow = await RawClient.connect(node.wsUrl);
    await slow.request({ t: 'sub', ch: 'flood' });
    // Stop reading: the kernel buffers fill and the node's queue passes maxQueueBytes (1 MiB).
    (slow.ws as unknown as { _socket: import('node:net').Socket })._socket.pause();
    const big = 'x'.repeat(60_000);
    for (let i = 0; i < 400 && node.stats.slowDisconnects === before; i++) {
      await node.publish('flood', big);
      if (i % 20 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    await scrape();
    assert.equal(get('switchboard_slow_consumer_disconnects_total'), before + 1);
    assert.ok(get('switchboard_frames_queued_total{type="disconnect"}') >= 1);
    slow.terminate();
  });
});
