/**
 * HTTP server API for backends: POST /api/{publish,broadcast,presence,presence_stats,history,
 * disconnect,connections,channels,info,sfu_record_start,sfu_record_stop,sfu_recordings}
 * with a JSON body and `Authorization: apikey KEY`. Bodies are size-limited and validated; every
 * failure is a 4xx with `{"error": {"code", "message"}}`. The operations themselves (and their
 * validation) live in operations.ts, shared with the gRPC API.
 */
import { log } from '../util/log.ts';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { checkDepth } from '../protocol/codec.ts';
import { ErrorCode } from '../protocol/codes.ts';
import { ProtocolError, ReplyError } from '../protocol/errors.ts';
import { sendJson, type NodeCore } from '../server/core.ts';
import { ApiError, brokerUnavailableMessage, checkApiKey, needsBroker, OPERATIONS, type Body } from './operations.ts';

/** Largest accepted API body. */
export const MAX_API_BODY = 1 << 20;

export async function handleApi(node: NodeCore, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  try {
    const method = url.pathname.slice('/api/'.length);
    // Own entries only: `valueOf`, `constructor`, `__proto__` are not methods (issue 11 E4).
    const op = OPERATIONS.get(method);
    if (!op) throw new ApiError(404, `unknown API method "${method.slice(0, 64)}"; methods: ${[...OPERATIONS.keys()].join(', ')}`);
    if (req.method !== 'POST') throw new ApiError(405, 'use POST');
    checkApiKey(node, req.headers.authorization, { api: 'http', ip: req.socket.remoteAddress, method });
    // Fail fast while the broker is down: a retryable 503 with error 114 now, not a 500 after the
    // broker client's own retries. `info` reads only this node's registry copy and still answers.
    if (needsBroker(method) && !node.broker.connected) return brokerUnavailable(node, res);
    const body = await readJson(req);
    const result = await op(node, body);
    sendJson(res, 200, { result });
  } catch (err) {
    if ((err instanceof ApiError && err.status !== 401 && err.status !== 403) || err instanceof ReplyError) {
      const code = err instanceof ApiError ? err.status : err.code;
      log.refused('api_call_refused', `HTTP API call refused: ${err.message.slice(0, 200)}`, { api: 'http', ip: req.socket.remoteAddress, path: url.pathname.slice(0, 64), code }, 'info');
    }
    if (err instanceof ApiError) return sendJson(res, err.status, { error: { code: err.status, message: err.message } });
    if (err instanceof ReplyError) return sendJson(res, 400, { error: { code: err.code, message: err.message } });
    // The broker went away during the call: the same retryable answer as before it.
    if (!node.broker.connected && !res.headersSent) return brokerUnavailable(node, res);
    throw err;
  }
}

/** 503 with error 114 (temporary) and Retry-After: the broker is not connected. */
function brokerUnavailable(node: NodeCore, res: ServerResponse): void {
  res.setHeader('Retry-After', '1');
  sendJson(res, 503, { error: { code: ErrorCode.brokerUnavailable.code, message: brokerUnavailableMessage(node), temporary: true } });
}

async function readJson(req: IncomingMessage): Promise<Body> {
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json\b/i.test(type)) throw new ApiError(415, 'Content-Type must be application/json');
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_API_BODY) throw new ApiError(413, `body over ${MAX_API_BODY} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_API_BODY) {
      req.destroy();
      throw new ApiError(413, `body over ${MAX_API_BODY} bytes`);
    }
    chunks.push(chunk);
  }
  let v: unknown;
  try {
    v = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    checkDepth(v);
  } catch (err) {
    if (err instanceof ProtocolError) throw new ApiError(400, err.message);
    throw new ApiError(400, `malformed JSON: ${(err as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ApiError(400, 'body must be a JSON object');
  return v as Body;
}

/** Serves the HTTP server API under `/api/` on `node`. */
export function installHttpApi(node: NodeCore): void {
  node.route(async (req, res, url) => {
    if (!url.pathname.startsWith('/api/')) return false;
    await handleApi(node, req, res, url);
    return true;
  });
}
