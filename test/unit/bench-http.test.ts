/**
 * The bench's HTTP subscriber parsers (bench/loadgen/http/): responses split at every byte, so a
 * read boundary anywhere (inside the head, a chunk-size line, a CRLF, a frame) neither loses nor
 * repeats a byte; poll batches, engine.io payloads and the payload marker.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpResponseError, HttpResponseReader, type ResponseSink } from '../../bench/loadgen/http/response.ts';
import { findMarker, forEachEioPacket, LineReader, readBatch } from '../../bench/loadgen/http/framing.ts';
import { makePayload, readSentMicros } from '../../bench/loadgen/payload.ts';
import { parseArgs } from '../../bench/cli.ts';

interface Got {
  status: number;
  body: string;
  lastFlags: boolean[];
  ended: boolean;
}

function recorder(): { sink: ResponseSink; got: Got } {
  const got: Got = { status: 0, body: '', lastFlags: [], ended: false };
  return {
    got,
    sink: {
      head: (status) => {
        got.status = status;
      },
      body: (buf, start, end, last) => {
        got.body += buf.toString('latin1', start, end);
        got.lastFlags.push(last);
      },
      end: () => {
        got.ended = true;
      },
    },
  };
}

/** Feeds `wire` in pieces cut at `cuts`, each piece inside a larger buffer (as reads land in a shared one). */
function feed(reader: HttpResponseReader, wire: Buffer, cuts: number[]): void {
  let at = 0;
  for (const cut of [...cuts, wire.length]) {
    const piece = wire.subarray(at, cut);
    const big = Buffer.alloc(piece.length + 20, 0x40); // junk ('@') on both sides must stay unread
    piece.copy(big, 10);
    reader.push(big, 10, 10 + piece.length);
    at = cut;
  }
}

const SSE_STREAM =
  'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n' +
  '2e\r\nevent: session\ndata: {"session":"abc","x":0}\n\n\r\n' +
  '1f\r\nid: 1\ndata: {"t":"pub","n":1}\n\n\r\n';

const POLL_RESPONSES =
  'HTTP/1.1 200 OK\r\nContent-Length: 30\r\n\r\n{"seq":1,"frames":[{"t":"x"}]}' +
  'HTTP/1.1 204 No Content\r\nDate: x\r\n\r\n' +
  'HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello' +
  'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nX-Trailer: y\r\n\r\n';

test('chunked SSE stream: same body whatever the read boundaries', () => {
  const wire = Buffer.from(SSE_STREAM, 'latin1');
  const expected = 'event: session\ndata: {"session":"abc","x":0}\n\nid: 1\ndata: {"t":"pub","n":1}\n\n';
  for (let a = 0; a <= wire.length; a++) {
    for (let b = a; b <= wire.length; b += 7) {
      const reader = new HttpResponseReader();
      const { sink, got } = recorder();
      reader.expect(sink);
      feed(reader, wire, [a, b]);
      assert.equal(got.status, 200);
      assert.equal(got.body, expected, `cuts ${a},${b}`);
      assert.equal(got.ended, false, 'the stream has not ended');
      assert.ok(got.lastFlags.every((f) => !f));
    }
  }
});

test('keep-alive: Content-Length, 204, lower-case headers, chunked with extension and trailer', () => {
  const wire = Buffer.from(POLL_RESPONSES, 'latin1');
  for (let a = 0; a <= wire.length; a++) {
    const reader = new HttpResponseReader();
    const recs = [recorder(), recorder(), recorder(), recorder()];
    for (const r of recs) reader.expect(r.sink);
    feed(reader, wire, [a]);
    assert.deepEqual(
      recs.map((r) => [r.got.status, r.got.body, r.got.ended]),
      [
        [200, '{"seq":1,"frames":[{"t":"x"}]}', true],
        [204, '', true],
        [200, 'hello', true],
        [200, 'abc', true],
      ],
      `cut at ${a}`,
    );
    // A Content-Length body announces its last slice, so it can be used in place.
    assert.equal(recs[0]!.got.lastFlags.at(-1), true);
    assert.equal(reader.pending, 0);
  }
});

test('malformed responses are refused', () => {
  const bad = [
    'HTTP/1.1 200 OK\r\n\r\nbody', // neither length nor chunked
    'SPDY 200\r\n\r\n',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY',
  ];
  for (const text of bad) {
    const reader = new HttpResponseReader();
    reader.expect(recorder().sink);
    assert.throws(() => reader.push(Buffer.from(text)), HttpResponseError, text);
  }
  assert.throws(() => new HttpResponseReader().push(Buffer.from('HTTP/1.1 204 No Content\r\n\r\n')), /without a request/);
});

test('LineReader: lines cut anywhere, CRLF and LF, nothing read past end', () => {
  const text = 'event: session\r\ndata: {"a":1}\n\n:\nid: 7\ndata: x\n';
  const wire = Buffer.from(text);
  for (let a = 0; a <= wire.length; a++) {
    const lines: string[] = [];
    const r = new LineReader((buf, s, e) => lines.push(buf.toString('utf8', s, e)));
    feedLines(r, wire, a);
    assert.deepEqual(lines, ['event: session', 'data: {"a":1}', '', ':', 'id: 7', 'data: x'], `cut at ${a}`);
  }
  assert.throws(() => new LineReader(() => {}, 4).push(Buffer.from('abcdef'), 0, 6), RangeError);
});

function feedLines(r: LineReader, wire: Buffer, cut: number): void {
  for (const [s, e] of [
    [0, cut],
    [cut, wire.length],
  ] as const) {
    const big = Buffer.alloc(e - s + 8, 0x0a); // newlines around the slice must not count
    wire.copy(big, 4, s, e);
    r.push(big, 4, 4 + e - s);
  }
}

test('readBatch: seq and frames of a Switchboard poll batch', () => {
  const p = makePayload(123);
  const body = Buffer.from(`{"seq":42,"frames":[{"t":"pub","ch":"bench:x","data":"${p}","o":1},{"t":"ping"},{"t":"ok","id":2}]}`);
  const frames: Array<[number, string]> = [];
  const padded = Buffer.concat([body, Buffer.from(',{"t":"junk"}]}')]); // bytes past `end` are not read
  assert.equal(
    readBatch(padded, 0, body.length, (seq, buf, s, e) => frames.push([seq, buf.toString('utf8', s, e)])),
    42,
  );
  assert.deepEqual(frames, [
    [42, `{"t":"pub","ch":"bench:x","data":"${p}","o":1}`],
    [42, '{"t":"ping"}'],
    [42, '{"t":"ok","id":2}'],
  ]);
  assert.equal(readBatch(Buffer.from('{"seq":0,"frames":[]}'), 0, 21, () => assert.fail('no frames')), 0);
  for (const bad of ['{"session":"k","seq":0,"frames":[]}', '{"seq":,"frames":[]}', '{"seq":1,"frames":[', '']) {
    assert.throws(() => readBatch(Buffer.from(bad), 0, Buffer.byteLength(bad), () => {}), RangeError, bad);
  }
});

test('forEachEioPacket splits on 0x1e; findMarker finds the payload and its timestamp', () => {
  const p = makePayload(987654321);
  const payload = Buffer.from(`42["m","${p}"]\x1e2\x1e431[]`);
  const packets: string[] = [];
  forEachEioPacket(payload, 0, payload.length, (buf, s, e) => packets.push(buf.toString('utf8', s, e)));
  assert.deepEqual(packets, [`42["m","${p}"]`, '2', '431[]']);
  const first = payload.indexOf(0x1e);
  const m = findMarker(payload, 0, first, 8);
  assert.equal(m, 8);
  assert.equal(readSentMicros(payload, m), 987654321);
  // Not at the usual place: searched, but only up to `end`.
  const shifted = Buffer.from(`42["m", "${p}"]`);
  assert.equal(findMarker(shifted, 0, shifted.length, 8), 9);
  assert.equal(findMarker(shifted, 0, 8, 8), -1);
});

test('cli: fallback scenario, its own subscriber default, --subscribers sets both', () => {
  const o = parseArgs(['fallback']);
  assert.deepEqual(o.scenarios, ['fallback']);
  assert.equal(o.fallbackSubscribers, 100);
  assert.equal(o.subscribers, 1000);
  const p = parseArgs(['fallback', '--subscribers', '20']);
  assert.equal(p.fallbackSubscribers, 20);
  assert.equal(p.subscribers, 20);
  assert.deepEqual(parseArgs([]).scenarios, ['fanout', 'memory', 'fallback']);
});
