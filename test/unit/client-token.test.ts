import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TokenManager } from '../../src/client/token.ts';
import { ClientClosedError } from '../../src/client/errors.ts';

/** A getToken whose calls are resolved or rejected by the test. */
function controlled() {
  const calls: Array<{ resolve(t: string): void; reject(e: Error): void }> = [];
  const getToken = () => new Promise<string>((resolve, reject) => calls.push({ resolve, reject }));
  return { calls, getToken };
}

test('single flight: concurrent refreshes share one getToken call and its result', async () => {
  const g = controlled();
  const tm = new TokenManager({ getToken: g.getToken });
  const ps = Array.from({ length: 10 }, () => tm.refresh());
  assert.equal(tm.state, 'fetching');
  assert.equal(g.calls.length, 1);
  assert.ok(ps.every((p) => p === ps[0]), 'every caller gets the same promise');
  g.calls[0]!.resolve('t1');
  assert.deepEqual(await Promise.all(ps), new Array(10).fill('t1'));
  assert.equal(tm.state, 'idle');
  assert.equal(tm.token, 't1');
  // After it settled, a new refresh is a new call.
  const p2 = tm.refresh();
  assert.equal(g.calls.length, 2);
  g.calls[1]!.resolve('t2');
  assert.equal(await p2, 't2');
});

test('failure: every waiter gets the same error, state failed, next refresh retries', async () => {
  const g = controlled();
  const tm = new TokenManager({ getToken: g.getToken, retry: { minDelay: 1000, maxDelay: 8000 }, random: () => 0.999 });
  const a = tm.refresh();
  const b = tm.refresh();
  const boom = new Error('backend down');
  g.calls[0]!.reject(boom);
  await assert.rejects(a, (e) => e === boom);
  await assert.rejects(b, (e) => e === boom);
  assert.equal(tm.state, 'failed');
  assert.equal(tm.failures, 1);
  assert.equal(tm.retryDelay(), 999);

  const c = tm.refresh();
  g.calls[1]!.reject(boom);
  await assert.rejects(c);
  assert.equal(tm.failures, 2);
  assert.equal(tm.retryDelay(), 1998, 'retry window grows with failures');

  const d = tm.refresh();
  assert.equal(g.calls.length, 3);
  g.calls[2]!.resolve('ok');
  assert.equal(await d, 'ok');
  assert.equal(tm.failures, 0, 'success resets the failure count');
  assert.equal(tm.state, 'idle');
});

test('current(): the given token first; fetches only when invalidated or absent', async () => {
  const g = controlled();
  const tm = new TokenManager({ token: 'initial', getToken: g.getToken });
  assert.equal(await tm.current(), 'initial');
  assert.equal(g.calls.length, 0);
  tm.invalidate();
  const p = tm.current();
  const q = tm.current();
  assert.equal(g.calls.length, 1, 'current() is single-flight too');
  g.calls[0]!.resolve('fresh');
  assert.equal(await p, 'fresh');
  assert.equal(await q, 'fresh');
  assert.equal(await new TokenManager().current(), undefined, 'no token, no getToken: anonymous');
});

test('a non-string token is a failure, and refresh without getToken rejects clearly', async () => {
  const tm = new TokenManager({ getToken: async () => undefined as unknown as string });
  await assert.rejects(tm.refresh(), /getToken must resolve to a string/);
  assert.equal(tm.state, 'failed');
  await assert.rejects(new TokenManager({ token: 'x' }).refresh(), /no getToken/);
});

test('close(): an in-flight fetch resolving later does not revive the token; later calls reject', async () => {
  const g = controlled();
  const tm = new TokenManager({ getToken: g.getToken });
  const p = tm.refresh();
  tm.close();
  g.calls[0]!.resolve('late');
  await assert.rejects(p, ClientClosedError);
  assert.equal(tm.state, 'closed');
  assert.equal(tm.token, undefined);
  await assert.rejects(tm.refresh(), ClientClosedError);
  await assert.rejects(tm.current(), ClientClosedError);
});
