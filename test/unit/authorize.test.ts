/** authorize(): the pure policy function (issue 11 B); the full matrix runs against a server in test/integration/authz-matrix.test.ts. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReplyError } from '../../src/protocol/errors.ts';
import { authorize, clientIdentity, recoveryWarnings, SERVER_API, userListed, type Identity, type Operation } from '../../src/server/authorize.ts';
import { resolveOptions } from '../../src/server/options.ts';

const options = resolveOptions({
  allowAnonymous: true,
  defaultNamespace: { subscribe: 'anonymous', historyRead: 'authenticated', historySize: 10, recover: true },
  namespaces: {
    open: { subscribe: 'anonymous', publish: 'anonymous', historyRead: 'anonymous', presenceRead: 'anonymous', historySize: 5, presence: true },
    locked: { subscribe: 'none', publish: 'none', historyRead: 'none', presenceRead: 'none', historySize: 5, recover: true, presence: true, signaling: true },
    call: { subscribe: 'authenticated', signaling: true },
  },
});
Object.freeze(options);

function code(op: Operation, ch: string, who: Identity, member?: boolean): number | 'ok' {
  const r = authorize(op, ch, who, options, member === undefined ? {} : { member });
  return r instanceof ReplyError ? r.code : 'ok';
}

const anon = clientIdentity('');
const alice = clientIdentity('alice');
const bob = clientIdentity('bob');

test('checks run in order: name (112), namespace (102), feature (108), permission (103)', () => {
  assert.equal(code('publish', 'bad channel', SERVER_API), 112, 'the server API is checked for name validity too');
  assert.equal(code('publish', 'x'.repeat(300), SERVER_API), 112);
  assert.equal(code('publish', '$sb:signal:call:r', SERVER_API), 112, 'reserved names are unreachable');
  assert.equal(code('history', 'missing:1', SERVER_API), 102);
  assert.equal(code('presence', 'call:r', SERVER_API), 108, 'a feature that is off is off for the server API too');
  assert.equal(code('presence', 'call:r', anon), 108, 'feature before permission');
  assert.equal(code('history', 'locked:1', alice), 103);
  assert.equal(code('history', 'locked:1', SERVER_API), 'ok', 'the server API is always permitted');
});

test('recovery needs subscribe and history read; without recovery in the namespace a position is a plain subscribe', () => {
  assert.equal(code('subscribe', 'news', anon), 'ok');
  assert.equal(code('recover', 'news', anon), 103, 'anonymous may subscribe but not read history');
  assert.equal(code('recover', 'news', alice), 'ok');
  assert.equal(code('recover', 'open:1', anon), 'ok', 'open has no recovery: decided as subscribe');
  assert.equal(code('recover', 'locked:1', alice), 103);
});

test('user-limited channels admit only the listed users, for every operation', () => {
  for (const op of ['subscribe', 'publish', 'history', 'presence', 'presence_stats'] as const) {
    assert.equal(code(op, 'open:#alice', alice), 'ok', op);
    assert.equal(code(op, 'open:#bob,alice', alice), 'ok', op);
    assert.equal(code(op, 'open:#alice', bob), 103, op);
    assert.equal(code(op, 'open:#alice', anon), 103, `${op}: anonymous is never a listed user`);
    assert.equal(code(op, 'open:#alice', SERVER_API), 'ok', op);
  }
  assert.equal(code('subscribe', '#alice', bob), 103, 'in the default namespace too');
  assert.equal(code('subscribe', 'open:#', alice), 103, 'an empty list admits nobody');
  assert.equal(code('subscribe', 'open:#alicex', alice), 103, 'whole names, not prefixes');
});

test('userListed: the part after the last #, split on commas', () => {
  assert.equal(userListed('a:#x#alice', 'alice'), true);
  assert.equal(userListed('a:#alice#x', 'alice'), false);
  assert.equal(userListed('a:plain', ''), true);
  assert.equal(userListed('a:#alice,bob', 'alice,bob'), false);
});

test('signal needs a signaling namespace, subscribe permission and membership', () => {
  assert.equal(code('signal', 'open:1', alice, true), 108);
  assert.equal(code('signal', 'call:r', alice, false), 103, 'not a member');
  assert.equal(code('signal', 'call:r', alice, true), 'ok');
  assert.equal(code('signal', 'call:r', anon, true), 103, 'membership alone is not enough');
  assert.equal(code('signal', 'call:#bob', alice, true), 103);
});

test('namespaces named after Object.prototype members are unknown (issue 11 E4)', () => {
  for (const ns of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf']) {
    assert.equal(code('subscribe', `${ns}:x`, alice), 102, ns);
    assert.equal(code('publish', `${ns}:x`, SERVER_API), 102, ns);
  }
});

test('a namespace configured as `constructor` or `__proto__` is an ordinary namespace', () => {
  const o = resolveOptions(JSON.parse('{"namespaces":{"constructor":{"subscribe":"anonymous"},"__proto__":{"subscribe":"anonymous"}}}'));
  for (const ns of ['constructor', '__proto__']) assert.equal(authorize('subscribe', `${ns}:x`, anon, o) instanceof ReplyError, false, ns);
  assert.equal((authorize('subscribe', 'toString:x', anon, o) as ReplyError).code, 102);
});

test('recoveryWarnings names recoverable namespaces whose subscribers may not read history', () => {
  const w = recoveryWarnings(options);
  assert.equal(w.length, 1, w.join('\n'));
  assert.match(w[0]!, /namespace \(default\): recover is on and subscribe is "anonymous", but historyRead is "authenticated"/);
  const fine = resolveOptions({ namespaces: { a: { subscribe: 'anonymous', historyRead: 'anonymous', historySize: 1, recover: true }, b: { subscribe: 'anonymous', historySize: 1 } } });
  assert.deepEqual(recoveryWarnings(fine), []);
});
