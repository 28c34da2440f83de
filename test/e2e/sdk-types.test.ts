/**
 * Keeps the hand-written bundle types (src/web/sdk/switchboard.d.ts) honest: `tsc` compiles this
 * file, and the real SDK's values must be assignable to what the d.ts declares. A member renamed or
 * removed in the SDK, or declared with another type, fails the type check.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as real from '../../src/client/index.ts';
import type * as declared from '../../src/web/sdk/switchboard.d.ts';

// Instances and options: the real ones must satisfy the declarations.
type Check<Real, Declared> = Real extends Declared ? true : never;
const checks: Array<true> = [
  true satisfies Check<real.Client, declared.Client>,
  true satisfies Check<real.Subscription, declared.Subscription>,
  true satisfies Check<real.ClientOptions, declared.ClientOptions>,
  true satisfies Check<real.ClientEvents['transport'], declared.TransportEvent>,
  true satisfies Check<real.Publication, declared.Publication>,
  true satisfies Check<real.GapEvent, declared.GapEvent>,
  true satisfies Check<real.TransportError, declared.TransportError>,
  true satisfies Check<real.ClientEvents['signal'], declared.SignalEvent>,
  true satisfies Check<real.SignalData, declared.SignalData>,
  true satisfies Check<real.IceServer, declared.IceServer>,
  true satisfies Check<real.Call, declared.Call>,
  true satisfies Check<real.CallPeer, declared.CallPeer>,
  true satisfies Check<real.CallOptions, declared.CallOptions>,
  true satisfies Check<real.CallEvents['track'], declared.CallEvents['track']>,
  true satisfies Check<real.CallEvents['peerleft'], declared.CallEvents['peerleft']>,
  true satisfies Check<real.PerfectNegotiation, declared.PerfectNegotiation>,
  true satisfies Check<real.PresencePage, declared.PresencePage>,
];
// The client parameter is the real Client (its private members make the declared one unassignable).
const callCtor: new (client: real.Client, room: string, options?: Partial<declared.CallOptions>) => declared.Call = real.Call;
const polite: typeof declared.isPolite = real.isPolite;
const ctor: new (url: string, options?: Partial<declared.ClientOptions>) => declared.Client = real.Client;
const factories: Readonly<Record<declared.TransportName, declared.TransportFactory>> = real.builtinTransports;

test('the bundle declarations match the SDK (checked by tsc; this only runs the values)', () => {
  assert.equal(checks.length, 17);
  assert.equal(typeof ctor, 'function');
  assert.equal(typeof callCtor, 'function');
  assert.equal(polite('a', 'b'), true);
  assert.deepEqual(Object.keys(factories), ['websocket', 'sse', 'poll']);
});
