import { test } from 'node:test';
import assert from 'node:assert/strict';
import { admissionReason, Logger } from '../../src/util/log.ts';
import { closest, didYouMean, editDistance } from '../../src/util/suggest.ts';

function capture(opts: ConstructorParameters<typeof Logger>[0] = {}): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: new Logger({ format: 'json', sink: (l) => lines.push(l), ...opts }), lines };
}

test('levels: records below the level are dropped; silent drops all', () => {
  const { logger, lines } = capture({ level: 'warn' });
  logger.debug('d');
  logger.info('i');
  logger.warn('w', { a: 1 });
  logger.error('e');
  assert.deepEqual(lines.map((l) => JSON.parse(l).msg), ['w', 'e']);
  assert.equal(JSON.parse(lines[0]!).a, 1);
  assert.ok(lines.every((l) => l.endsWith('\n')));
  logger.configure({ level: 'silent' });
  logger.error('e2');
  logger.refused('x', 'r');
  assert.equal(lines.length, 2);
});

test('secrets in fields are masked; errors become {name, message, stack}; pretty lines are key=value', () => {
  const { logger, lines } = capture();
  logger.info('m', { token: 'abc.def', apiKey: 'k', authorization: 'apikey k', ip: '1.2.3.4', err: new TypeError('boom') });
  const r = JSON.parse(lines[0]!);
  assert.equal(r.token, '***');
  assert.equal(r.apiKey, '***');
  assert.equal(r.authorization, '***');
  assert.equal(r.ip, '1.2.3.4');
  assert.equal(r.err.name, 'TypeError');
  assert.equal(r.err.message, 'boom');
  logger.configure({ format: 'pretty' });
  logger.warn('refused', { reason: 'origin_not_allowed', origin: 'https://a b' });
  assert.match(lines[1]!, /^\d{4}-\d\d-\d\dT[\d:.]+Z WARN  refused reason=origin_not_allowed origin="https:\/\/a b"\n$/);
});

test('refused(): a burst per reason code, then held back and counted; another code has its own bucket; the sink cannot throw', async () => {
  const { logger, lines } = capture({ refusalBurst: 3, refusalsPerSecond: 10 });
  for (let i = 0; i < 10; i++) logger.refused('token_invalid', 'bad token', { i });
  logger.refused('origin_not_allowed', 'bad origin');
  const recs = () => lines.map((l) => JSON.parse(l));
  assert.deepEqual(recs().map((r) => [r.reason, r.i]), [['token_invalid', 0], ['token_invalid', 1], ['token_invalid', 2], ['origin_not_allowed', undefined]]);
  await new Promise((r) => setTimeout(r, 150)); // one token back at 10/s
  logger.refused('token_invalid', 'bad token', { i: 10 });
  assert.equal(recs().at(-1).suppressed, 7);
  assert.equal(recs().at(-1).i, 10);
  for (let i = 0; i < 4; i++) logger.refused('token_invalid', 'bad token');
  logger.flushSuppressed();
  assert.equal(recs().at(-1).suppressed, 4);
  assert.match(recs().at(-1).msg, /4 more refusals like the last "token_invalid"/);
  const broken = new Logger({ sink: () => { throw new Error('EPIPE'); } });
  broken.error('still fine');
});

test('admission reasons', () => {
  assert.equal(admissionReason('node is draining'), 'node_draining');
  assert.equal(admissionReason('connection limit reached'), 'connection_limit');
  assert.equal(admissionReason('too many connections from this address (limit 3)'), 'per_ip_connection_limit');
  assert.equal(admissionReason('too many sessions waiting for connect (limit 10)'), 'pending_session_limit');
  assert.equal(admissionReason('too many new sessions from this address (5/s)'), 'session_rate_limit');
  assert.equal(admissionReason('something else'), 'connection_refused');
});

test('did you mean: case-only differences first, typos within a third of the length, nothing for far names', () => {
  assert.equal(editDistance('apikey', 'apiKey'), 0.5);
  assert.equal(editDistance('kitten', 'sitting'), 3);
  assert.equal(closest('apikey', ['apiKey', 'adminSecret', 'port']), 'apiKey');
  assert.equal(closest('pingIntervall', ['pingInterval', 'pongTimeout']), 'pingInterval');
  assert.equal(closest('--prot', ['--port', '--host']), '--port');
  assert.equal(closest('zzzz', ['port', 'host']), undefined);
  assert.equal(didYouMean('hots', ['host', 'port']), '; did you mean "host"?');
  assert.equal(didYouMean('x'.repeat(500), ['host']), '');
});
