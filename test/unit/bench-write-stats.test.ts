import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseWriteCounts } from '../../bench/write-stats.ts';

test('frames and writes are read from a Prometheus exposition', () => {
  const text = [
    '# HELP switchboard_frames_sent_total Frames written to clients.',
    '# TYPE switchboard_frames_sent_total counter',
    'switchboard_frames_sent_total{node="a"} 13069056',
    '# TYPE switchboard_transport_writes_total counter',
    'switchboard_transport_writes_total 7.1071e4',
    'switchboard_frames_sent_total_other 1',
  ].join('\n');
  assert.deepEqual(parseWriteCounts(text), { frames: 13069056, writes: 71071 });
  assert.throws(() => parseWriteCounts('switchboard_frames_sent_total 1\n'), /transport_writes_total/);
});
