/**
 * Helpers for the event-consumer tests (src/ingest): the PostgreSQL and RabbitMQ the machine runs,
 * whole-channel history reads, and metric reads from a node's /metrics.
 */
import type { Broker } from '../../src/broker/broker.ts';
import { requireService } from './cluster-redis.ts';

export const PG_URL = process.env.SWITCHBOARD_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const AMQP_URL = process.env.SWITCHBOARD_TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

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
