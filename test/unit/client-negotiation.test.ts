/** Pure parts of the SDK's fallback transports: the SSE parser, endpoint URLs, negotiation order. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { attemptOrder, builtinTransports, endpointUrl, SseParser, upgradeCandidates, type SseEvent } from '../../src/client/index.ts';
import { originKey } from '../../src/client/endpoint.ts';

function parse(chunks: string[]): SseEvent[] {
  const out: SseEvent[] = [];
  const p = new SseParser((e) => out.push(e));
  for (const c of chunks) p.push(c);
  return out;
}

test('SSE parser: named events, ids, multi-line data, comments, CRLF', () => {
  const text = 'event: session\ndata: {"session":"k"}\n\n:\nid: 7\ndata: {"t":"ping"}\ndata: {"t":"pub"}\n\r\nid: 8\r\ndata:x\r\n\r\ndata\n\n';
  assert.deepEqual(parse([text]), [
    { type: 'session', data: '{"session":"k"}', lastEventId: '' },
    { type: 'message', data: '{"t":"ping"}\n{"t":"pub"}', lastEventId: '7' },
    { type: 'message', data: 'x', lastEventId: '8' },
    { type: 'message', data: '', lastEventId: '8' },
  ]);
});

test('SSE parser: any chunking gives the same events', () => {
  const text = 'id: 1\ndata: a\r\n\r\nevent: session\r\ndata: {"s":1}\r\n\r\n: keepalive\n\nid: 2\rdata: b\rdata: c\r\r';
  const whole = parse([text]);
  assert.equal(whole.length, 3);
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: text.length }), { maxLength: 12 }), (cuts) => {
      const points = [...new Set(cuts)].sort((a, b) => a - b);
      const chunks: string[] = [];
      let last = 0;
      for (const p of points) {
        chunks.push(text.slice(last, p));
        last = p;
      }
      chunks.push(text.slice(last));
      assert.deepEqual(parse(chunks), whole);
    }),
  );
});

test('SSE parser: a line without end is bounded', () => {
  const p = new SseParser(() => {}, 100);
  assert.throws(() => p.push('data: ' + 'x'.repeat(200)), /longer than 100/);
});

test('endpoint URLs from any client URL', () => {
  assert.equal(endpointUrl('ws://h:8000/connection/websocket', 'sse'), 'http://h:8000/connection/sse');
  assert.equal(endpointUrl('wss://h/connection/websocket?format=json', 'poll'), 'https://h/connection/poll?format=json');
  assert.equal(endpointUrl('https://h', 'websocket'), 'wss://h/connection/websocket');
  assert.equal(endpointUrl('http://h/rt/', 'sse'), 'http://h/rt/connection/sse');
  assert.equal(originKey('ws://h:1/connection/websocket'), originKey('http://h:1'));
  assert.notEqual(originKey('http://h:1'), originKey('https://h:1'));
});

test('negotiation order: remembered first; upgrade candidates are the preferred ones', () => {
  const all = [builtinTransports.websocket, builtinTransports.sse, builtinTransports.poll];
  const names = (l: Array<{ name: string }>) => l.map((f) => f.name);
  assert.deepEqual(names(attemptOrder(all, undefined)), ['websocket', 'sse', 'poll']);
  assert.deepEqual(names(attemptOrder(all, 'poll')), ['poll', 'websocket', 'sse']);
  assert.deepEqual(names(attemptOrder(all, 'nope')), ['websocket', 'sse', 'poll']);
  assert.deepEqual(names(upgradeCandidates(all, 'poll')), ['websocket', 'sse']);
  assert.deepEqual(names(upgradeCandidates(all, 'websocket')), []);
});
