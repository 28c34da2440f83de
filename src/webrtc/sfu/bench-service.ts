/**
 * The whole SFU service behind bench/sfu/server.ts's control API (`--system switchboard-service`
 * and `switchboard-workers`): the benchmark's publisher and consumers join one room as
 * participants of the SfuService a node runs (signaling requests and events as the SDK would send
 * and get them, the router's feedback, reports, downlink estimation and dynacast included), on
 * this thread or in `workers` worker threads. With workers, the bench server's main loop is what
 * a node's messaging loop would be, so its lag shows what the SFU costs the messaging.
 */
import { createSfu } from './index.ts';
import type { SfuEvent, SfuPeerRef } from '../../protocol/sfu-contract.ts';
import type { BenchSystem } from './bench-adapter.ts';

const ROOM = 'bench:sfu';

export function createServiceBenchSystem(workers: number): BenchSystem {
  // Room limits of a node are for people; the benchmark puts hundreds of consumers in one room.
  const sfu = createSfu({ workers, maxParticipants: 1000 });
  let next = 0;
  let ids = 0;
  const waiting = new Map<string, (sdp: string) => void>();
  const peer = (client: string): SfuPeerRef => ({ room: ROOM, user: client, client });
  const req = () => `b${ids++}`;
  return {
    async publish(sdp) {
      const pub = peer('publisher');
      await sfu.handle(pub, { id: req(), op: 'join' }, () => {});
      const r = (await sfu.handle(pub, { id: req(), op: 'publish', sdp }, () => {})) as { sdp: string };
      return r.sdp;
    },
    async subscribe() {
      const id = `c${next++}`;
      const offered = new Promise<string>((resolve) => waiting.set(id, resolve));
      const send = (ev: SfuEvent): void => {
        if (ev.op === 'subscriber-offer') waiting.get(id)?.(ev.sdp);
      };
      await sfu.handle(peer(id), { id: req(), op: 'join' }, send);
      const sdp = await Promise.race([offered, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no subscriber offer for ${id} within 20 s`)), 20_000).unref())]);
      waiting.delete(id);
      return { id, sdp };
    },
    async answer(id, sdp) {
      await sfu.handle(peer(id), { id: req(), op: 'subscriber-answer', sdp }, () => {});
    },
    consumers: () => sfu.stats().consumers,
    mediaPath: () => (workers > 0 ? `service in ${workers} worker thread${workers > 1 ? 's' : ''}` : 'service on the main thread'),
  } as BenchSystem;
}
