/**
 * Frames per write of Switchboard servers over the flood, from their /metrics
 * (`switchboard_frames_sent_total ÷ switchboard_transport_writes_total`): how many frames each
 * socket write carried, i.e. how well the per-socket write coalescing worked. Fewer frames per
 * write means more `write(2)` calls per delivery, the dominant server cost under fan-out.
 */
const FRAMES = /^switchboard_frames_sent_total(?:\{[^}]*\})? (\d+(?:\.\d+)?(?:e[+-]?\d+)?)$/m;
const WRITES = /^switchboard_transport_writes_total(?:\{[^}]*\})? (\d+(?:\.\d+)?(?:e[+-]?\d+)?)$/m;

export interface WriteCounts {
  frames: number;
  writes: number;
}

/** Parses the two counters from a Prometheus text exposition (pure). */
export function parseWriteCounts(text: string): WriteCounts {
  const f = FRAMES.exec(text);
  const w = WRITES.exec(text);
  if (!f || !w) throw new Error('switchboard_frames_sent_total / switchboard_transport_writes_total not in /metrics');
  return { frames: Number(f[1]), writes: Number(w[1]) };
}

async function read(port: number): Promise<WriteCounts> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  return parseWriteCounts(await res.text());
}

/** Reads the counters of `ports` before and after the flood and adds a note. */
export function writeObserver(ports: number[], notes: string[], label = 'frames per socket write over the flood') {
  let before: WriteCounts[] = [];
  return {
    before: async (): Promise<void> => {
      before = await Promise.all(ports.map(read));
    },
    after: async (): Promise<void> => {
      const after = await Promise.all(ports.map(read));
      const parts = after.map((a, i) => {
        const frames = a.frames - before[i]!.frames;
        const writes = a.writes - before[i]!.writes;
        return `${(frames / Math.max(1, writes)).toFixed(1)} (${frames} frames in ${writes} writes)`;
      });
      notes.push(`${label}: ${parts.join('; ')}`);
    },
  };
}
