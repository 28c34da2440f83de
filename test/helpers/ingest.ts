/**
 * Helpers for the event-consumer tests (src/ingest): the PostgreSQL, RabbitMQ, NATS and Mosquitto the machine runs
 * (with the mosquitto_pub / mosquitto_sub clients),
 * whole-channel history reads, and metric reads from a node's /metrics.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { Broker } from '../../src/broker/broker.ts';
import { requireService } from './cluster-redis.ts';

export const PG_URL = process.env.SWITCHBOARD_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const AMQP_URL = process.env.SWITCHBOARD_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
export const NATS_URL = process.env.SWITCHBOARD_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';

/** requireService for a URL's host and port. */
export function requireUrl(what: string, url: string, defaultPort: number): Promise<boolean> {
  const u = new URL(url);
  return requireService(what, u.hostname, Number(u.port || defaultPort));
}

/** A name unique to this test run (tables, queues, channels). */
export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
}

/** Every publication's data of a channel, oldest first, read in pages through `since`. */
export async function readAll(broker: Broker, channel: string): Promise<unknown[]> {
  const top = await broker.history(channel, { limit: 0 });
  const out: unknown[] = [];
  let since = { epoch: top.position.epoch, offset: 0 };
  for (;;) {
    const page = await broker.history(channel, { since, limit: 1000 });
    if (page.publications.length === 0) return out;
    for (const p of page.publications) out.push(p.data);
    since = { epoch: since.epoch, offset: page.publications[page.publications.length - 1]!.offset };
  }
}

/** Sum of a metric's samples in /metrics text whose labels include every `labels` pair. */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

export async function scrape(httpUrl: string): Promise<string> {
  return (await fetch(`${httpUrl}/metrics`)).text();
}

/** Polls an async condition every 50 ms until it holds; throws naming `what` after `ms`. */
export async function waitUntil(cond: () => boolean | Promise<boolean>, ms = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const MQTT_URL = process.env.SWITCHBOARD_TEST_MQTT_URL ?? 'mqtt://127.0.0.1:1883';

/** The broker's host and port as mosquitto_pub / mosquitto_sub arguments. */
export function mqttArgs(url = MQTT_URL): string[] {
  const u = new URL(url);
  return ['-h', u.hostname, '-p', u.port || '1883'];
}

/** Whether the Mosquitto command-line clients are installed (Debian mosquitto-clients); under CI=true their absence fails the test run. */
export function requireMosquittoClients(): boolean {
  const ok = spawnSync('mosquitto_pub', ['--help'], { stdio: 'ignore' }).error === undefined;
  if (!ok && process.env.CI === 'true') throw new Error('mosquitto_pub is not installed (apt-get install mosquitto-clients) and CI=true');
  return ok;
}

/** Runs mosquitto_pub once (args after the host and port) and resolves when it exits 0. */
export function mosquittoPub(args: string[], stdin?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('mosquitto_pub', [...mqttArgs(), ...args], { stdio: [stdin === undefined ? 'ignore' : 'pipe', 'ignore', 'pipe'] });
    let err = '';
    p.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`mosquitto_pub ${args.join(' ')} exited ${code}: ${err}`))));
    if (stdin !== undefined) p.stdin!.end(stdin);
  });
}

/** A running mosquitto_sub printing `topic payload` lines (-v), collected. */
export interface MosquittoSub {
  lines: string[];
  stop(): Promise<void>;
}

/** Starts mosquitto_sub on `filters` (-v, and `extra` args) and resolves about when it is subscribed (300 ms: it prints nothing on its SUBACK). */
export async function mosquittoSub(filters: string[], extra: string[] = []): Promise<MosquittoSub> {
  const args = [...mqttArgs(), '-v', ...extra];
  for (const f of filters) args.push('-t', f);
  const p = spawn('mosquitto_sub', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let buf = '';
  p.stdout!.on('data', (b: Buffer) => {
    buf += b.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
  const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
  // mosquitto_sub prints nothing when subscribed; the SUBACK is quick on loopback.
  await new Promise((r) => setTimeout(r, 300));
  // (With -C it may be done already: exit code 0.)
  if (p.exitCode !== null && p.exitCode !== 0) throw new Error(`mosquitto_sub exited ${p.exitCode}`);
  return {
    lines,
    async stop() {
      if (p.exitCode === null) p.kill('SIGTERM');
      await exited;
    },
  };
}
