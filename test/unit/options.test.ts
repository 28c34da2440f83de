import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { envName, loadConfig, maskSecrets, optionsFromEnv } from '../../src/cli/config.ts';
import { ConfigError, resolveOptions } from '../../src/server/options.ts';

test('resolveOptions: defaults, insecure defaults, and namespace defaults', () => {
  const o = resolveOptions({});
  assert.equal(o.port, 8000);
  assert.equal(o.allowAnonymous, false);
  assert.equal(o.defaultNamespace.subscribe, 'authenticated');
  const dev = resolveOptions({ insecure: true, namespaces: { chat: { historySize: 10 } } });
  assert.equal(dev.allowAnonymous, true);
  assert.equal(dev.defaultNamespace.recover, true);
  assert.equal(dev.namespaces.chat!.historySize, 10);
  assert.equal(dev.namespaces.chat!.subscribe, 'authenticated');
});

test('resolveOptions: rejects unknown keys and bad types, naming the field', () => {
  const input = Object.freeze({ prot: 1 });
  assert.throws(() => resolveOptions(input as never), /unknown option "prot"/);
  assert.throws(() => resolveOptions({ port: '80' as never }), /option "port" must be a number/);
  assert.throws(() => resolveOptions({ port: 70000 }), /port/);
  assert.throws(() => resolveOptions({ namespaces: { chat: { histroySize: 1 } as never } }), /unknown option "namespaces.chat.histroySize"/);
  assert.throws(() => resolveOptions({ namespaces: { chat: { subscribe: 'everyone' as never } } }), /namespaces.chat.subscribe" must be one of/);
  assert.throws(() => resolveOptions({ namespaces: { chat: { recover: true } } }), /needs historySize > 0/);
  assert.equal(resolveOptions({ namespaces: { cursor: { datagrams: true } } }).namespaces.cursor!.datagrams, true);
  assert.equal(resolveOptions({ namespaces: { chat: {} } }).namespaces.chat!.datagrams, false);
  assert.throws(() => resolveOptions({ namespaces: { cursor: { datagrams: 'yes' as never } } }), /namespaces.cursor.datagrams" must be a boolean/);
  assert.throws(() => resolveOptions({ namespaces: { 'bad name': {} } }), ConfigError);
  assert.throws(() => resolveOptions({ allowedOrigins: [1] as never }), /array of strings/);
  assert.throws(() => resolveOptions({ jwt: { secrt: 'x' } as never }), /unknown option "jwt.secrt"/);
});

test('resolveOptions does not mutate its input', () => {
  const input = Object.freeze({ insecure: true, namespaces: Object.freeze({ a: Object.freeze({ historySize: 5 }) }) });
  resolveOptions(input);
});

test('env: SWITCHBOARD_* names, typed parsing, PORT fallback, JSON namespaces', () => {
  assert.equal(envName('pingInterval'), 'SWITCHBOARD_PING_INTERVAL');
  const o = optionsFromEnv({
    PORT: '9000',
    SWITCHBOARD_PING_INTERVAL: '5',
    SWITCHBOARD_ALLOW_ANONYMOUS: 'true',
    SWITCHBOARD_ALLOWED_ORIGINS: 'https://a.example, https://b.example',
    SWITCHBOARD_JWT_SECRET: 's',
    SWITCHBOARD_NAMESPACES: '{"chat":{"historySize":5,"recover":true}}',
  });
  assert.deepEqual(o, {
    port: 9000,
    pingInterval: 5,
    allowAnonymous: true,
    allowedOrigins: ['https://a.example', 'https://b.example'],
    jwt: { secret: 's' },
    namespaces: { chat: { historySize: 5, recover: true } },
  });
  assert.throws(() => optionsFromEnv({ SWITCHBOARD_PING_INTERVAL: 'soon' }), /SWITCHBOARD_PING_INTERVAL must be a number/);
  assert.throws(() => optionsFromEnv({ SWITCHBOARD_INSECURE: 'maybe' }), /true or false/);
  assert.throws(() => optionsFromEnv({ SWITCHBOARD_NAMESPACES: '{' }), /must be JSON/);
});

test('config file < env < flags, extra sections passed through, secrets masked', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-config-'));
  const file = join(dir, 'switchboard.json');
  writeFileSync(file, JSON.stringify({ port: 1000, pingInterval: 7, jwt: { secret: 'file-secret' }, apiKey: 'k', turn: { port: 3478 } }));
  const cfg = loadConfig(file, { SWITCHBOARD_PORT: '2000' }, { host: '127.0.0.1' });
  assert.equal(cfg.options.port, 2000);
  assert.equal(cfg.options.pingInterval, 7);
  assert.equal(cfg.options.host, '127.0.0.1');
  assert.deepEqual(cfg.extra, { turn: { port: 3478 } });
  const masked = JSON.stringify(maskSecrets(cfg.options));
  assert.ok(!masked.includes('file-secret') && masked.includes('"apiKey":"***"'));
  writeFileSync(file, '{"port": 1,}');
  assert.throws(() => loadConfig(file, {}, {}), /not valid JSON/);
  assert.throws(() => loadConfig(join(dir, 'missing.json'), {}, {}), /cannot read config file/);
  writeFileSync(file, '{"bogus": 1}');
  assert.throws(() => loadConfig(file, {}, {}), /unknown option "bogus"/);
});

test('webtransport.datagramQueueLength: default 256, 1–65536, integer', async () => {
  const { resolveWebTransportOptions } = await import('../../src/transports/webtransport/options.ts');
  assert.equal(resolveWebTransportOptions({ port: 0 })!.datagramQueueLength, 256);
  assert.equal(resolveWebTransportOptions({ port: 0, datagramQueueLength: 4 })!.datagramQueueLength, 4);
  assert.throws(() => resolveWebTransportOptions({ port: 0, datagramQueueLength: 0 }), /datagramQueueLength" must be 1–65536/);
  assert.throws(() => resolveWebTransportOptions({ port: 0, datagramQueueLength: 1.5 }), /non-negative integer/);
});
