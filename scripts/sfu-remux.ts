/**
 * `npx tsx scripts/sfu-remux.ts <recording.rtpdump> [out.webm]` — turns the SFU recorder's raw
 * dump (docs/sfu.md "Recording") into a WebM through the same jitter buffer, depacketizer and
 * lip-sync as the live recording. Works on the dump of a crashed recording (no end record; a torn
 * last record is ignored). Default output: `<dump without .rtpdump>.remux.webm` (never overwritten).
 * Exit code 1 when the dump is not one of ours or the output exists.
 */
import { DumpFormatError } from '../src/webrtc/sfu/rtp-dump.ts';
import { remuxDump } from '../src/webrtc/sfu/recorder.ts';

const [dump, out] = process.argv.slice(2);
if (!dump || dump === '--help' || dump === '-h') {
  console.error('usage: npx tsx scripts/sfu-remux.ts <recording.rtpdump> [out.webm]');
  process.exit(dump ? 0 : 1);
}
try {
  const r = remuxDump(dump, out);
  console.log(JSON.stringify(r));
  if (!r.complete) console.error(`note: the dump has no end record (the recording did not stop cleanly)${r.trailingBytes ? `; ${r.trailingBytes} bytes of a torn last record ignored` : ''}`);
} catch (err) {
  if (err instanceof DumpFormatError || (err as NodeJS.ErrnoException).code === 'EEXIST' || (err as NodeJS.ErrnoException).code === 'ENOENT') {
    console.error(`remux: ${(err as Error).message}`);
    process.exit(1);
  }
  throw err;
}
