/**
 * The body of one SFU worker thread (issue 12 item 7: media must not stall the messaging event
 * loop). It runs a whole SfuRouterService — its rooms' transports, producers and consumers —
 * and speaks the small message protocol of worker-pool.ts with the node's main thread, which
 * only signals. Nothing here is imported by the main thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ReplyError } from '../../protocol/errors.ts';
import type { SfuOptions } from './options.ts';
import { SfuRouterService } from './router.ts';
import type { FromWorker, ToWorker } from './worker-pool.ts';

const port = parentPort;
if (!port) throw new Error('worker-main.ts runs only as a worker thread');

const { options, statsIntervalMs } = workerData as { options: Partial<SfuOptions>; statsIntervalMs: number };
const sfu = new SfuRouterService(options);
const post = (m: FromWorker): void => port.postMessage(m);

const stats = setInterval(() => post({ t: 'stats', stats: sfu.stats() }), statsIntervalMs);
stats.unref();

/** Posts the outcome of one request: its result, or the ReplyError's code and message. */
function answer(id: number, work: Promise<Extract<FromWorker, { t: 'reply'; ok: true }>['result']>): void {
  work.then(
    (result) => post({ t: 'reply', id, ok: true, result }),
    (err: unknown) => {
      const e = err instanceof ReplyError ? err : undefined;
      post({ t: 'reply', id, ok: false, code: e?.code ?? 0, message: e ? e.message : `sfu worker: ${(err as Error)?.message ?? String(err)}` });
    },
  );
}

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'handle':
      answer(m.id, sfu.handle(m.peer, m.req, (ev) => post({ t: 'event', room: m.peer.room, client: m.peer.client, ev })));
      return;
    case 'record': {
      const r = m.req;
      answer(m.id, r.op === 'start' ? sfu.recorder.start({ room: r.room, ...(r.client !== undefined ? { client: r.client } : {}), ...(r.layer !== undefined ? { layer: r.layer } : {}) }) : r.op === 'stop' ? sfu.recorder.stop(r.id) : sfu.recorder.list());
      return;
    }
    case 'snapshot':
      answer(m.id, sfu.snapshot(m.limits));
      return;
    case 'leave':
      sfu.leave(m.peer);
      return;
    case 'close':
      clearInterval(stats);
      void sfu.close().then(() => post({ t: 'closed', stats: sfu.stats() }));
      return;
  }
});
post({ t: 'ready' });
