/**
 * Headless Chromium for the e2e tests: Debian's `/usr/bin/chromium` driven by playwright-core
 * (never a downloaded browser), a fresh profile per launch, and a demo node.
 *
 * When Chromium is missing the tests are skipped locally, but FAIL when `CI=true`: a CI run that
 * silently skips the browser tests would report green without having tested anything.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { randomBytes } from 'node:crypto';
import { iceFor, planTurn, startTurn } from '../../src/cli/turn.ts';
import { startNode } from '../../src/app/index.ts';
import { createSfu } from '../../src/webrtc/sfu/index.ts';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const ARTIFACTS = new URL('../../test-artifacts/', import.meta.url).pathname;

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
];

/** Why the browser tests cannot run here (undefined when they can). Throws in CI. */
export function browserUnavailable(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined;
  const why = `Chromium not found at ${CHROMIUM} (install Debian's "chromium" package, or set CHROMIUM_PATH)`;
  if (process.env.CI === 'true') throw new Error(`${why}; CI=true, so the e2e tests fail instead of skipping`);
  return why;
}

export interface Browser {
  /** A new isolated page (own context: own storage, own offline switch). */
  page(): Promise<{ page: Page; context: BrowserContext }>;
  close(): Promise<void>;
}

/**
 * Launches Chromium. Playwright gives every `launch()` a fresh temporary user data dir (and removes
 * it on close), so no state leaks between runs; each page gets its own context on top.
 */
export async function launch(extraArgs: readonly string[] = []): Promise<Browser> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: [...ARGS, ...extraArgs], headless: true });
  return {
    async page() {
      const context = await browser.newContext({ viewport: { width: 1200, height: 760 } });
      const page = await context.newPage();
      page.on('pageerror', (err) => console.error('[page error]', err.message));
      return { page, context };
    },
    close: () => browser.close(),
  };
}

/**
 * Chromium flags for WebRTC tests: a fake camera and microphone (test pattern and beep) granted
 * without a prompt, and loopback allowed as an ICE address; mDNS host-name obfuscation is off,
 * because `.local` names do not resolve here.
 */
export const MEDIA_ARGS = [
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--allow-loopback-in-peer-connection',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
] as const;

/** Saves a screenshot under test-artifacts/ and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path });
  return path;
}

/**
 * A node configured like `npm start` (dev mode, plus the demo's lossy `typing` namespace and its
 * `call` signaling namespace, as in src/cli/main.ts).
 */
export function startDemoNode(extra: Parameters<typeof startNode>[0] = {}) {
  return startNode({
    port: 0,
    host: '127.0.0.1',
    insecure: true,
    namespaces: {
      typing: { subscribe: 'anonymous', publish: 'anonymous', lossy: true },
      call: { subscribe: 'anonymous', publish: 'anonymous', presence: true, presenceRead: 'anonymous', joinLeave: true, signaling: true },
    },
    ...extra,
  });
}

/** Opens the demo at `base` and joins `room` as `name`; waits until the page is connected. */
export async function joinDemo(page: Page, base: string, name: string, room: string, transport = 'auto'): Promise<void> {
  await page.goto(`${base}/?transport=${transport}`);
  await page.fill('#name', name);
  await page.fill('#room', room);
  await page.click('#join-form button[type=submit]');
  await page.waitForFunction(() => {
    const d = (window as unknown as { __demo: { client: { state: string } } }).__demo;
    return d.client.state === 'connected';
  }, undefined, { timeout: 20_000 });
}

/** The transport the page's client uses. */
export function pageTransport(page: Page): Promise<string | undefined> {
  return page.evaluate(() => (window as unknown as { __demo: { client: { transport?: string } } }).__demo.client.transport);
}

/** Sends a chat message from the page's composer. */
export async function send(page: Page, text: string): Promise<void> {
  await page.fill('#text', text);
  await page.press('#text', 'Enter');
}

/** Waits until a message with exactly `text` is shown on `page`. */
export async function waitForMessage(page: Page, text: string, timeout = 15_000): Promise<void> {
  await page.waitForFunction((t) => [...document.querySelectorAll('.msg .bubble')].some((b) => b.textContent === t), text, { timeout });
}

/** Texts of the shown messages, in order. */
export function shownMessages(page: Page): Promise<string[]> {
  return page.evaluate(() => [...document.querySelectorAll('.msg .bubble')].map((b) => b.textContent ?? ''));
}

/**
 * Our TURN server as `switchboard start` runs it, on a free port of 127.0.0.1, loopback peers
 * allowed (the pages are on this host), and a relay port range of its own so that relay
 * candidates are recognisably ours; `ice` is what a node hands its clients.
 */
export async function startLoopbackTurn() {
  const relayMin = 40_000 + Math.floor(Math.random() * 200) * 100;
  const relayMax = relayMin + 99;
  const plan = planTurn(
    undefined,
    {
      SWITCHBOARD_TURN_PORT: '0',
      SWITCHBOARD_TURN_LISTEN: '127.0.0.1',
      SWITCHBOARD_TURN_SECRET: randomBytes(16).toString('base64url'),
      SWITCHBOARD_TURN_ALLOW_LOOPBACK: '1',
      SWITCHBOARD_TURN_RELAY_PORTS: `${relayMin}-${relayMax}`,
    },
    false,
  );
  if (!plan) throw new Error('no TURN plan');
  const turn = await startTurn(plan);
  if (!turn) throw new Error('TURN did not start');
  const turnPort = turn.addresses.find((a) => a.transport === 'udp')!.port;
  const ice = iceFor({ ...plan, options: { ...plan.options, port: turnPort } }, 3600);
  return { turn, ice, turnPort, relayMin, relayMax, relayAddress: turn.relayAddresses().get(4) };
}

/** A node with an `sfu` namespace (anonymous) and an SFU of its own. */
export async function startSfuNode(extra: Parameters<typeof startNode>[0] = {}) {
  const sfu = createSfu();
  const node = await startNode({ port: 0, host: '127.0.0.1', insecure: true, namespaces: { sfu: { sfu: true, subscribe: 'anonymous', publish: 'anonymous' } }, sfu, ...extra });
  return { node, sfu };
}

/**
 * A new page on the node's origin (`/healthz`, so the SDK imports same-origin) running `script`
 * (the source of an async function, see cluster-origin.test.ts for why a string) with `args`.
 */
export async function openWith(browser: Browser, origin: string, script: string, args: unknown): Promise<{ page: Page; result: unknown }> {
  const { page } = await browser.page();
  await page.goto(`${origin}/healthz`);
  const result = await page.evaluate(`(${script})(${JSON.stringify(args)})`);
  return { page, result };
}
