/**
 * Five participants joining one SFU room at the same moment (werift peers, SDK SfuCall): each
 * publishes while the others' tracks arrive, so the SFU's subscribe offers overlap with new
 * tracks. Every participant must end up receiving the other four. Before the fix, a transceiver
 * added to a subscribe transport between werift's offer and the answer got a transport of its
 * own that never connected; the connection stayed "connecting" and the SFU dropped all five
 * after 20 s (also seen with Chromium pages joining the demo at once).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startNode } from '../../src/app/index.ts';
import { SfuRouterService } from '../../src/webrtc/sfu/router.ts';
import { Member, until } from './sfu-member.ts';

test('five participants joining an SFU room at once each receive the other four', { timeout: 120_000 }, async () => {
  const sfu = new SfuRouterService();
  const node = await startNode({ port: 0, host: '127.0.0.1', allowAnonymous: true, namespaces: { sfu: { sfu: true, subscribe: 'anonymous', publish: 'anonymous' } }, sfu });
  const members = ['alic', 'bobb', 'caro', 'dave', 'erin'].map((n) => new Member(node.wsUrl, n, 'sfu:rush'));
  try {
    for (const m of members) m.start();
    await Promise.all(members.map((m) => m.call.join()));
    const ids = members.map((m) => m.client.id!);
    await until(
      () => members.every((m, i) => ids.every((id, j) => i === j || (m.got.get(id)?.packets ?? 0) > 20)),
      60_000,
      () => `${members.map((m) => `${m.name}: ${[...m.got].map(([k, v]) => `${k}=${v.packets}`).join(' ')}`).join('; ')}; ${JSON.stringify(sfu.stats())}`,
    );
    for (const [i, m] of members.entries()) {
      for (const [j, other] of members.entries()) if (i !== j) assert.deepEqual([...m.got.get(ids[j]!)!.marks], [other.name]);
    }
    const st = sfu.stats();
    assert.deepEqual([st.participants, st.producers, st.consumers], [5, 5, 20]);
  } finally {
    for (const m of members) m.stop();
    await node.close();
  }
});
