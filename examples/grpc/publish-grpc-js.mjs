// Publish to Switchboard over gRPC with @grpc/grpc-js, the client generated at run time from the
// shipped .proto by @grpc/proto-loader (docs/api.md "gRPC server API").
//
//   npm install switchboard-rt @grpc/grpc-js @grpc/proto-loader
//   SWITCHBOARD_GRPC=127.0.0.1:8001 SWITCHBOARD_API_KEY=secret node publish-grpc-js.mjs
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const address = process.env.SWITCHBOARD_GRPC ?? '127.0.0.1:8001';
const proto = process.env.SWITCHBOARD_PROTO ?? fileURLToPath(import.meta.resolve('switchboard-rt/package.json').replace(/package\.json$/, 'proto/switchboard/v1/api.proto'));

// longs: String keeps uint64 offsets exact; oneofs: true names the set case of BroadcastResult.
const def = protoLoader.loadSync(proto, { longs: String, defaults: true, oneofs: true });
const { switchboard } = grpc.loadPackageDefinition(def);
const api = new switchboard.v1.ApiService(address, grpc.credentials.createInsecure());

const md = new grpc.Metadata();
md.set('authorization', `apikey ${process.env.SWITCHBOARD_API_KEY ?? ''}`);
const json = (v) => Buffer.from(JSON.stringify(v));
const deadline = () => ({ deadline: Date.now() + 5000 });

function unary(method, req) {
  return new Promise((resolve, reject) => {
    api[method](req, md, deadline(), (err, res) => {
      if (err) {
        // err.code is the gRPC status; the Switchboard code is in the trailers.
        err.switchboardCode = err.metadata?.get('switchboard-error-code')[0];
        reject(err);
      } else resolve(res);
    });
  });
}

// One publication; the idempotency key makes a retry after a timeout safe.
const one = await unary('Publish', { channel: 'news', data: json({ text: 'hello over gRPC' }), idempotencyKey: 'example-1' });

// Client streaming: many publications in one call; a bad message is reported, not fatal.
const stream = await new Promise((resolve, reject) => {
  const s = api.PublishStream(md, deadline(), (err, res) => (err ? reject(err) : resolve(res)));
  for (let i = 0; i < 3; i++) s.write({ channel: 'news', data: json({ i }) });
  s.write({ channel: 'not a channel', data: json('refused') });
  s.end();
});

const history = await unary('History', { channel: 'news', limit: 10 });
let refused;
try {
  await unary('Publish', { channel: 'news', data: Buffer.from('{not json') });
} catch (err) {
  refused = { status: grpc.status[err.code], switchboardCode: err.switchboardCode, message: err.details };
}
api.close();
console.log(
  JSON.stringify({
    published: one,
    stream: { published: stream.published, failed: stream.failed, failures: stream.failures.map((f) => ({ index: f.index, code: f.error.code })) },
    history: history.publications.map((p) => JSON.parse(p.data.toString())),
    refused,
  }),
);
