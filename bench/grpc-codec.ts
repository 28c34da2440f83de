/**
 * The protobuf cost of one gRPC Publish (issue 15): decoding the request and encoding the response
 * with the generated @bufbuild/protobuf schemas (`fromBinary`, `create` + `toBinary`) beside the
 * hand-written PublishResponse encoder the native gRPC path uses (src/api/grpc-codec.ts), and
 * `JSON.parse` of the same data as the yardstick every publish pays anyway.
 *
 *     npx tsx bench/grpc-codec.ts [--n 300000]
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { performance } from 'node:perf_hooks';
import { PublishRequestSchema, PublishResponseSchema } from '../src/api/gen/switchboard/v1/api_pb.ts';
import { publishResponseFrame } from '../src/api/grpc-codec.ts';
import { frameMessage } from '../src/api/grpc-wire.ts';

const n = Number(process.argv[process.argv.indexOf('--n') + 1]) || 300_000;
const data = Buffer.from(JSON.stringify({ seq: 1, text: 'x'.repeat(80) }));
const bin = toBinary(PublishRequestSchema, create(PublishRequestSchema, { channel: 'bench:c17', data }));
const text = data.toString();

let sink: unknown;
function time(name: string, f: () => unknown): void {
  for (let i = 0; i < n / 5; i++) sink = f();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) sink = f();
  process.stdout.write(`| ${name} | ${(((performance.now() - t0) * 1000) / n).toFixed(3)} |\n`);
}

process.stdout.write(`${n} iterations, a ${bin.length}-byte PublishRequest\n\n| step | µs per call |\n|---|--:|\n`);
time('fromBinary(PublishRequest)', () => fromBinary(PublishRequestSchema, bin));
time('create + toBinary(PublishResponse), framed', () => frameMessage(toBinary(PublishResponseSchema, create(PublishResponseSchema, { epoch: 'Xk3v9QaZ', offset: 12345n }))));
time('publishResponseFrame (by hand, what the native path sends)', () => publishResponseFrame('Xk3v9QaZ', 12345n));
time('JSON.parse of the data (yardstick)', () => JSON.parse(text));
void sink;
