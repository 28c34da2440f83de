/** Long polling at `/connection/poll` (in progress; see docs/protocol.md, "Long polling"). */
import type { HttpTransportHost } from '../sse/http.ts';

/** Serves long polling on `node` (not yet: the endpoint lands in the next commit). */
export function installPolling(_node: HttpTransportHost): void {}
