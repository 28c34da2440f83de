/**
 * The forwarding core behind bench/sfu/server.ts's control API (`--system switchboard`): one
 * published stream, consumers added by offer/answer. The benchmark's view of the SFU, not its
 * product API (that is SfuService in contract.ts).
 */
import { Consumer, Producer } from './forwarder.ts';
import { VP8_PT, WeriftPeer } from './werift-adapter.ts';
import { nativeStatus } from './srtp/native.ts';
import { udpBatch } from './udp-batch.ts';

export interface BenchSystem {
  publish(sdp: string): Promise<string>;
  subscribe(): Promise<{ id: string; sdp: string }>;
  answer(id: string, sdp: string): Promise<void>;
  consumers(): number;
  /** The send path: "native" (with the batch's counts and how many consumers take it) or "js (why)". */
  mediaPath(): string;
}

export async function createBenchSystem(): Promise<BenchSystem> {
  let producer: Producer | undefined;
  const pending = new Map<string, { peer: WeriftPeer; ssrc: number }>();
  let next = 0;
  let live = 0;
  const peers: WeriftPeer[] = [];
  return {
    async publish(sdp) {
      const peer = new WeriftPeer();
      const answer = await peer.answer(sdp);
      const prod = new Producer('bench', 'video', peer);
      peer.onRtp((rtp) => prod.push(rtp));
      producer = prod;
      return answer;
    },
    async subscribe() {
      const peer = new WeriftPeer();
      const { sdp, ssrc } = await peer.offerVideo();
      const id = String(next++);
      pending.set(id, { peer, ssrc });
      return { id, sdp };
    },
    async answer(id, sdp) {
      const p = pending.get(id);
      if (!p || !producer) throw new Error(`unknown consumer ${id} or nothing published`);
      pending.delete(id);
      await p.peer.accept(sdp);
      const prod = producer;
      const start = (): void => {
        const c = new Consumer(p.peer, p.ssrc, VP8_PT, prod);
        p.peer.onRtcp((pkt) => c.handleRtcp(pkt));
        peers.push(p.peer);
        c.activate();
        prod.add(c);
        live++;
      };
      // A consumer whose transport never came up (the bench connects a new one): closed, not counted.
      void p.peer.ready().then(start, () => p.peer.close());
    },
    consumers: () => live,
    mediaPath() {
      const st = nativeStatus();
      const b = udpBatch();
      if (st.path !== 'native' || !b) return `js (${st.reason})`;
      return `native: ${peers.filter((p) => p.nativeSend).length}/${peers.length} consumers batched, ${b.sent} sent in ${b.flushes} calls, ${b.fallback} through dgram, ${b.errors} errors`;
    },
  };
}
