/**
 * The files in deploy/ (issue 13 item 6), checked with what runs on this machine:
 * - the compose topology without Docker: two `switchboard start` processes with the shipped
 *   example config and the compose file's environment names, on Redis, behind the shipped
 *   haproxy.cfg unchanged (its addresses from the environment, as compose sets them), under this
 *   machine's 20,000 file-descriptor limit: /readyz through the balancer, an API publish reaching
 *   a WebSocket subscriber through it;
 * - the systemd unit with `systemd-analyze verify` (it warns on stderr but exits 0 on bad
 *   directives, so the test requires silence, and a mangled copy proves the check speaks);
 * - the Kubernetes manifests and the compose file parsed as YAML and checked for what breaks a
 *   deployment silently: selectors that match labels, probes on /healthz and /readyz on a
 *   declared port, a grace period longer than the drain window, configs Switchboard accepts.
 * Not exercised here (deploy/README.md says so): building the image, `docker compose up`, a
 * Kubernetes API server.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { Client, type Publication } from '../../src/client/index.ts';
import { loadConfig } from '../../src/cli/config.ts';
import { resolveOptions } from '../../src/server/options.ts';
import { freePort } from '../helpers/net.ts';
import { requireService, SHARED_REDIS_URL } from '../helpers/cluster-redis.ts';
import { haveBinary } from '../helpers/cluster-lb.ts';

const deploy = fileURLToPath(new URL('../../deploy/', import.meta.url));
const root = fileURLToPath(new URL('../../', import.meta.url));
const u = new URL(SHARED_REDIS_URL);
const redisUp = await requireService('Redis', u.hostname, Number(u.port || 6379));
const haproxy = haveBinary('haproxy');
if (!haproxy && process.env.CI === 'true') throw new Error('haproxy is not installed and CI=true: .ci/run must install it');
const systemdAnalyze = haveBinary('systemd-analyze');
const procs: ChildProcess[] = [];
after(() => {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
});

async function waitFor(cond: () => Promise<boolean> | boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const get = async (url: string): Promise<number> => {
  try {
    return (await fetch(url)).status;
  } catch {
    return 0;
  }
};

test('compose topology on the host: two nodes with the example config on Redis behind the shipped haproxy.cfg', { skip: !redisUp ? 'no Redis (not CI)' : !haproxy ? 'haproxy not installed (not CI)' : false }, async () => {
  const compose = parseYaml(readFileSync(join(deploy, 'docker-compose.yml'), 'utf8')) as { services: Record<string, { environment?: Record<string, string> }> };
  const nodeEnv = compose.services.node1!.environment!;
  const [p1, p2, lbPort] = [await freePort(), await freePort(), await freePort()];
  const prefix = `sbit-deploy-${process.pid}`;
  const secrets = { SWITCHBOARD_JWT_SECRET: 'deploy-test-jwt-secret', SWITCHBOARD_API_KEY: 'deploy-test-api-key', SWITCHBOARD_CLUSTER_SECRET: 'deploy-test-cluster-secret' };
  const startNode = (name: string, port: number): ChildProcess => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    // The compose file's variables, with host addresses instead of compose service names.
    for (const k of Object.keys(nodeEnv)) env[k] = nodeEnv[k]!;
    Object.assign(env, secrets, {
      SWITCHBOARD_NAME: name,
      SWITCHBOARD_ADVERTISE_URL: `http://127.0.0.1:${port}`,
      SWITCHBOARD_REDIS_URL: SHARED_REDIS_URL,
      SWITCHBOARD_BROKER_PREFIX: prefix,
      SWITCHBOARD_HOST: '127.0.0.1',
    });
    const p = spawn(process.execPath, ['bin/switchboard.mjs', 'start', '--config', join(deploy, 'switchboard.example.json'), '--port', String(port)], { cwd: root, env, stdio: ['ignore', 'ignore', 'pipe'] });
    procs.push(p);
    return p;
  };
  startNode('deploy-1', p1);
  startNode('deploy-2', p2);
  await waitFor(async () => (await get(`http://127.0.0.1:${p1}/readyz`)) === 200 && (await get(`http://127.0.0.1:${p2}/readyz`)) === 200, 30_000, 'both nodes ready');

  const dir = mkdtempSync(join(tmpdir(), 'sb-deploy-'));
  try {
    // The shipped file as is; its addresses come from the environment, as in docker-compose.yml.
    const haproxyEnv = compose.services.haproxy!.environment!;
    assert.deepEqual(Object.keys(haproxyEnv).sort(), ['SWITCHBOARD_LB_BIND', 'SWITCHBOARD_NODE1', 'SWITCHBOARD_NODE2']);
    const cfgText = readFileSync(join(deploy, 'haproxy.cfg'), 'utf8');
    for (const k of Object.keys(haproxyEnv)) assert.ok(cfgText.includes(`\${${k}-`), `haproxy.cfg reads ${k}`);
    const lbEnv = { ...process.env, SWITCHBOARD_LB_BIND: `127.0.0.1:${lbPort}`, SWITCHBOARD_NODE1: `127.0.0.1:${p1}`, SWITCHBOARD_NODE2: `127.0.0.1:${p2}` };
    const lb = spawn('haproxy', ['-db', '-f', join(deploy, 'haproxy.cfg')], { env: lbEnv, stdio: ['ignore', 'ignore', 'pipe'] });
    procs.push(lb);
    let lbErr = '';
    lb.stderr!.on('data', (b: Buffer) => (lbErr += b.toString()));
    await waitFor(async () => (await get(`http://127.0.0.1:${lbPort}/readyz`)) === 200 || lb.exitCode !== null, 15_000, 'readyz through HAProxy');
    assert.equal(lb.exitCode, null, `haproxy exited: ${lbErr}`);
    assert.doesNotMatch(lbErr, /ALERT/, 'no HAProxy alert (e.g. "Cannot raise FD limit") under this machine\'s fd limit');

    const client = new Client(`ws://127.0.0.1:${lbPort}/connection/websocket`, { getToken: async () => mintToken('deploy-user', secrets.SWITCHBOARD_JWT_SECRET) });
    const got: Publication[] = [];
    const sub = client.subscribe('chat:deploy', { onPublication: (p) => void got.push(p) });
    try {
      await client.connect();
      await waitFor(() => sub.state === 'subscribed', 10_000, 'subscribed through HAProxy');
      const res = await fetch(`http://127.0.0.1:${lbPort}/api/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `apikey ${secrets.SWITCHBOARD_API_KEY}` },
        body: JSON.stringify({ channel: 'chat:deploy', data: { text: 'through the balancer' } }),
      });
      assert.equal(res.status, 200, await res.text());
      await waitFor(() => got.length === 1, 10_000, 'the publication');
      assert.deepEqual(got[0]!.data, { text: 'through the balancer' });
    } finally {
      client.disconnect();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** An HS256 token for `user` (the CLI's `token` command does the same). */
async function mintToken(user: string, secret: string): Promise<string> {
  const { SignJWT } = await import('jose');
  return new SignJWT({ sub: user }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('10m').sign(new TextEncoder().encode(secret));
}

test('the systemd unit passes systemd-analyze verify without a warning; a mangled copy does not', { skip: systemdAnalyze ? false : 'systemd-analyze not installed' }, () => {
  const unit = join(deploy, 'systemd', 'switchboard.service');
  const ok = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(ok.stderr.trim(), '', 'no warnings');
  const text = readFileSync(unit, 'utf8');
  assert.match(text, /^LimitNOFILE=\d+/m);
  assert.match(text, /^TimeoutStopSec=(\d+)/m);
  assert.ok(Number(/^TimeoutStopSec=(\d+)/m.exec(text)![1]) > resolveOptions().drainWindow, 'stop timeout longer than the drain window');
  const dir = mkdtempSync(join(tmpdir(), 'sb-unit-'));
  try {
    const bad = join(dir, 'switchboard.service');
    writeFileSync(bad, text.replace('KillMode=mixed', 'KillMode=sideways'));
    const r = spawnSync('systemd-analyze', ['verify', bad], { encoding: 'utf8' });
    assert.match(r.stderr, /kill mode/i, 'the check reports a bad directive');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

interface K8sDoc {
  kind: string;
  apiVersion: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
}

test('Kubernetes manifests: selectors match, probes on /healthz and /readyz, grace period over the drain window, config accepted', () => {
  const kust = parseYaml(readFileSync(join(deploy, 'kubernetes', 'kustomization.yaml'), 'utf8')) as { resources: string[] };
  const docs: K8sDoc[] = kust.resources.flatMap((f) => parseAllDocuments(readFileSync(join(deploy, 'kubernetes', f), 'utf8')).map((d) => d.toJS() as K8sDoc));
  for (const d of docs) assert.ok(d.apiVersion && d.kind && d.metadata?.name, `${d.kind} has apiVersion, kind and a name`);
  const byKind = (k: string): K8sDoc => docs.find((d) => d.kind === k) ?? assert.fail(`no ${k}`);
  const dep = byKind('Deployment').spec as {
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string> }; spec: { terminationGracePeriodSeconds: number; containers: Array<{ ports: Array<{ name: string }>; livenessProbe: { httpGet: { path: string; port: string } }; readinessProbe: { httpGet: { path: string; port: string } } }> } };
  };
  const labels = dep.template.metadata.labels;
  const matches = (sel: Record<string, string>): boolean => Object.entries(sel).every(([k, v]) => labels[k] === v);
  assert.ok(matches(dep.selector.matchLabels), 'Deployment selector matches its pod labels');
  assert.ok(matches((byKind('Service').spec as { selector: Record<string, string> }).selector), 'Service selects the pods');
  assert.ok(matches((byKind('PodDisruptionBudget').spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels), 'PDB selects the pods');
  const c = dep.template.spec.containers[0]!;
  assert.equal(c.livenessProbe.httpGet.path, '/healthz');
  assert.equal(c.readinessProbe.httpGet.path, '/readyz');
  for (const p of [c.livenessProbe, c.readinessProbe]) assert.ok(c.ports.some((x) => x.name === p.httpGet.port), `probe port ${p.httpGet.port} is declared`);
  assert.ok(dep.template.spec.terminationGracePeriodSeconds > resolveOptions().drainWindow, 'grace period longer than the drain window');
  const dir = mkdtempSync(join(tmpdir(), 'sb-k8s-'));
  try {
    const cfg = join(dir, 'switchboard.json');
    writeFileSync(cfg, byKind('ConfigMap').data!['switchboard.json']!);
    assert.equal(loadConfig(cfg, {}, {}).options.port, 8000);
    assert.equal(loadConfig(join(deploy, 'switchboard.example.json'), {}, {}).options.httpTransports.sessionRate, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('docker-compose.yml: two nodes sharing secrets and Redis, HAProxy publishing the only port', () => {
  const compose = parseYaml(readFileSync(join(deploy, 'docker-compose.yml'), 'utf8')) as { services: Record<string, { environment?: Record<string, string>; ports?: string[]; depends_on?: unknown }> };
  const s = compose.services;
  assert.deepEqual(Object.keys(s).sort(), ['haproxy', 'node1', 'node2', 'redis']);
  for (const n of ['node1', 'node2']) {
    const env = s[n]!.environment!;
    for (const k of ['SWITCHBOARD_JWT_SECRET', 'SWITCHBOARD_API_KEY', 'SWITCHBOARD_CLUSTER_SECRET']) assert.match(env[k]!, /^\$\{\w+:\?/, `${n} requires ${k}`);
    assert.equal(env.SWITCHBOARD_BROKER, 'redis');
    assert.equal(s[n]!.ports, undefined, `${n} is reached through HAProxy only`);
  }
  assert.notEqual(s.node1!.environment!.SWITCHBOARD_NAME, s.node2!.environment!.SWITCHBOARD_NAME);
  assert.deepEqual(s.haproxy!.ports, ['8000:8000']);
  assert.match(readFileSync(join(deploy, 'Dockerfile'), 'utf8'), /^USER node$/m, 'the image runs as a non-root user');
});
