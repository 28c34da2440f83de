/**
 * Replies are charged against the connection's outbound budget before they are built
 * (DESIGN.md principle 3, docs/protocol.md "Outbound budget"): one small message of hundreds of
 * `history` frames, from a client that never reads, must not make the node hold more than
 * maxQueueBytes plus one page; the connection ends as a slow consumer (3004).
 *
 * The server runs in a child process (`node --expose-gc`) so its peak memory (maxRSS) is its own.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { RawClient } from '../helpers/raw-client.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAX_QUEUE = 1 << 20;
const PUBS = 1000;
/** ~1 KB per publication: one full history page is ~1 MB encoded. */
const PAYLOAD = 'x'.repeat(1000);

const SERVER = `
import { startNode } from ${JSON.stringify(join(ROOT, 'src/app/index.ts'))};
const node = await startNode({
  port: 0, host: '127.0.0.1', name: 'budget', insecure: true,
  maxQueueBytes: ${MAX_QUEUE}, pingInterval: 30, pongTimeout: 2,
});
for (let i = 0; i < ${PUBS}; i++) await node.publish('big', { i, s: ${JSON.stringify(PAYLOAD)} });
// 100 publications of 20 KB: a full page (2 MB) is larger than the whole budget.
for (let i = 0; i < 100; i++) await node.publish('huge', { i, s: ${JSON.stringify(PAYLOAD)}.repeat(20) });
process.send({ port: node.port });
process.on('message', (m) => {
  if (m.cmd !== 'state') return;
  for (let i = 0; i < 3; i++) globalThis.gc();
  const mu = process.memoryUsage();
  process.send({ id: m.id, rss: mu.rss, maxRss: process.resourceUsage().maxRSS * 1024, heap: mu.heapUsed + mu.external,
    sessions: node.sessions.size, slow: node.stats.slowDisconnects });
});
process.on('disconnect', () => node.close().then(() => process.exit(0)));
`;

interface State {
  rss: number;
  maxRss: number;
  heap: number;
  sessions: number;
  slow: number;
}

let child: ChildProcess;
let port = 0;
let seq = 0;

function state(): Promise<State> {
  const id = ++seq;
  return new Promise((resolve) => {
    const on = (m: State & { id: number }) => {
      if (m.id !== id) return;
      child.off('message', on);
      resolve(m);
    };
    child.on('message', on);
    child.send({ cmd: 'state', id });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mb = (n: number) => `${(n / 1048576).toFixed(1)} MB`;

before(async () => {
  child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', SERVER], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m: { port: number }) => resolve(m.port));
    child.once('exit', (code) => reject(new Error(`server exited with ${code} before listening`)));
  });
});

after(async () => {
  const exited = new Promise((r) => child.once('exit', r));
  child.disconnect();
  await Promise.race([exited, sleep(3000)]);
  if (child.exitCode === null) child.kill('SIGKILL');
});

test('hundreds of history frames from a client that never reads stay within the outbound budget', async () => {
  // Warm up: one ordinary client reads one full page, so the baseline includes the code paths.
  const warm = await RawClient.connect(`ws://127.0.0.1:${port}/connection/websocket`);
  const page = await warm.request({ t: 'history', ch: 'big', limit: PUBS });
  assert.equal(page.pubs.length, PUBS);
  warm.close();
  await sleep(200);
  const base = await state();

  const ws = new WebSocket(`ws://127.0.0.1:${port}/connection/websocket`, 'switchboard.json');
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  // Never read: the kernel buffers fill and the server's queue is all that grows.
  (ws as unknown as { _socket: { pause(): void } })._socket.pause();
  // 251 frames: just under the codec's 256-frames-per-message bound.
  const frames = [{ t: 'connect', id: 1 }];
  for (let i = 0; i < 250; i++) frames.push({ t: 'history', id: i + 2, ch: 'big', limit: PUBS } as never);
  const message = frames.map((f) => JSON.stringify(f)).join('\n');
  assert.ok(message.length < 16_384, `one small message (${message.length} bytes)`);
  ws.send(message);

  let s = await state();
  const end = Date.now() + 15_000;
  while (s.sessions > 0 && Date.now() < end) {
    await sleep(200);
    s = await state();
  }
  ws.terminate();
  const grew = s.maxRss - base.maxRss;
  console.log(`reply budget: baseline rss ${mb(base.rss)} maxRss ${mb(base.maxRss)}; after: maxRss ${mb(s.maxRss)} (+${mb(grew)}), heap+external ${mb(s.heap)}, slow disconnects ${s.slow - base.slow}`);
  assert.equal(s.sessions, 0, 'the non-reading connection was closed');
  assert.equal(s.slow - base.slow, 1, 'closed as a slow consumer (3004)');
  // Budget (1 MB) + one page (~1 MB) + kernel socket buffers, encoder and GC slack.
  assert.ok(grew < 16 * 1048576, `peak RSS grew by ${mb(grew)}; the budget is ${mb(MAX_QUEUE)} plus one page`);
});

test('a client that reads gets every reply of a large batch, paced by its budget', async () => {
  const c = await RawClient.connect(`ws://127.0.0.1:${port}/connection/websocket`);
  // 100 replies of ~0.5 MB each: 50 MB in all, 50 times the budget, sent in one message.
  const frames = [];
  for (let i = 0; i < 100; i++) frames.push(JSON.stringify({ t: 'history', id: 1000 + i, ch: 'big', limit: 500 }));
  c.ws.send(frames.join('\n'));
  await c.waitCount((f) => f.t === 'ok' && f.id >= 1000, 100, 60_000);
  const replies = c.frames.filter((f) => f.t === 'ok' && f.id >= 1000);
  assert.deepEqual(replies.map((f) => f.id), frames.map((_, i) => 1000 + i), 'every reply, in order');
  assert.ok(replies.every((f) => f.pubs.length === 500));
  assert.equal(c.closeCode, 0, 'not disconnected');

  // A single page larger than the whole budget is refused with 106; a smaller limit pages on.
  const err = await c.request({ t: 'history', ch: 'huge', limit: 100 }).catch((e: Error) => e);
  assert.ok(!(err instanceof Error), String(err));
  assert.equal(err.t, 'err');
  assert.equal(err.code, 106);
  const ok = await c.request({ t: 'history', ch: 'huge', limit: 20 });
  assert.equal(ok.pubs.length, 20);
  c.close();
});
