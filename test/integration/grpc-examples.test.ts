/**
 * The generated-client examples of docs/api.md "gRPC server API" run as a user would run them,
 * with plain `node`, against a real node: examples/grpc/publish-grpc-js.mjs (grpc-js +
 * proto-loader on the shipped .proto) and examples/grpc/publish-connect.mjs (code generated here
 * by buf + protoc-gen-es with examples/grpc/buf.gen.yaml, then a Connect client over gRPC).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { startNode, type SwitchboardNode } from '../../src/app/index.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const EXAMPLES = join(ROOT, 'examples/grpc');
const KEY = 'grpc-examples-key';

describe('docs/api.md gRPC examples', () => {
  let node: SwitchboardNode;
  let scratch: string;
  before(async () => {
    node = await startNode({ port: 0, host: '127.0.0.1', allowAnonymous: true, apiKey: KEY, defaultNamespace: { historySize: 100 } });
    await node.startGrpc(0);
    // Inside the checkout (gitignored), so the generated code resolves @bufbuild/protobuf from node_modules.
    scratch = join(ROOT, '.scratch', `grpc-example-${process.pid}`);
    mkdirSync(scratch, { recursive: true });
  });
  after(async () => {
    await node.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  test('grpc-js + proto-loader: Publish, PublishStream with a refused message, History, a coded error', async () => {
    const { stdout } = await run(process.execPath, [join(EXAMPLES, 'publish-grpc-js.mjs')], {
      cwd: ROOT,
      env: { ...process.env, SWITCHBOARD_GRPC: node.grpc!.address, SWITCHBOARD_API_KEY: KEY, SWITCHBOARD_PROTO: join(ROOT, 'proto/switchboard/v1/api.proto') },
      timeout: 30_000,
    });
    const out = JSON.parse(stdout);
    assert.equal(out.published.offset, '1');
    assert.deepEqual(out.stream, { published: '3', failed: '1', failures: [{ index: '3', code: 112 }] });
    assert.deepEqual(out.history, [{ text: 'hello over gRPC' }, { i: 0 }, { i: 1 }, { i: 2 }]);
    assert.equal(out.refused.status, 'INVALID_ARGUMENT');
    assert.equal(out.refused.switchboardCode, '400');
  });

  test('buf generate + Connect client over gRPC: Publish, PublishStream, a coded error', async () => {
    const env = { ...process.env, PATH: `${join(ROOT, 'node_modules/.bin')}:${process.env.PATH ?? ''}` };
    await run(join(ROOT, 'node_modules/.bin/buf'), ['generate', join(ROOT, 'proto'), '--template', join(EXAMPLES, 'buf.gen.yaml'), '-o', scratch], { cwd: ROOT, env, timeout: 60_000 });
    assert.ok(existsSync(join(scratch, 'gen/switchboard/v1/api_pb.js')), 'buf wrote gen/switchboard/v1/api_pb.js');
    copyFileSync(join(EXAMPLES, 'publish-connect.mjs'), join(scratch, 'publish-connect.mjs'));
    const { stdout } = await run(process.execPath, [join(scratch, 'publish-connect.mjs')], {
      cwd: scratch,
      env: { ...process.env, SWITCHBOARD_GRPC_URL: node.grpc!.url, SWITCHBOARD_API_KEY: KEY },
      timeout: 30_000,
    });
    const out = JSON.parse(stdout);
    const before = Number(out.published.offset);
    assert.ok(before >= 1);
    assert.deepEqual(out.stream, { published: '3', last: String(before + 3) });
    // The default namespace has presence off: FAILED_PRECONDITION (108), not a crash.
    assert.deepEqual(out.presenceStats, { status: 'FailedPrecondition' });
    assert.deepEqual(out.refused, { status: 'NotFound', switchboardCode: '102', message: out.refused.message });
    assert.match(out.refused.message, /unknown channel namespace/);
  });
});
