/**
 * Perfect negotiation (src/client/negotiation.ts) against a scripted fake peer connection: who is
 * polite, a plain offer/answer, glare with crossing offers (the polite end rolls back and answers,
 * the impolite end ignores), glare while an offer is still being set, candidates of an ignored
 * offer, end of candidates, and close. The fake is strict where browsers are lenient: it does NOT
 * roll back implicitly, so an offer in have-local-offer fails unless the negotiator rolled back.
 *
 * Real peer connections are covered by test/e2e/call.test.ts (two Chromium pages through TURN).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isPolite, PerfectNegotiation, type NegotiationTarget } from '../../src/client/negotiation.ts';
import type { IceCandidateData, SignalData } from '../../src/client/signal.ts';

type State = 'stable' | 'have-local-offer' | 'have-remote-offer' | 'closed';

class InvalidStateError extends Error {
  override name = 'InvalidStateError';
}

/**
 * A fake RTCPeerConnection with the signaling state machine of RFC 8829 §3 / WebRTC §4.3.1 and an
 * operations chain (each method runs after the previous one finished, a macrotask later), which
 * is what makes the "rollback while our offer is still being set" case work in browsers.
 */
class FakePeerConnection implements NegotiationTarget {
  signalingState: State = 'stable';
  localDescription: { type: string; sdp: string } | null = null;
  remoteDescription: { type: string; sdp: string } | null = null;
  /** Session ids of the offers this end created, in order. */
  readonly offers: string[] = [];
  readonly applied: Array<IceCandidateData | undefined> = [];
  readonly log: string[] = [];
  private chain: Promise<unknown> = Promise.resolve();
  private pending = 0;
  private n = 0;

  constructor(readonly name: string) {}

  private op<T>(what: string, fn: () => T): Promise<T> {
    this.pending++;
    const p = this.chain.then(
      () =>
        new Promise<T>((resolve, reject) =>
          setTimeout(() => {
            this.pending--;
            try {
              const r = fn();
              this.log.push(what);
              resolve(r);
            } catch (err) {
              this.log.push(`${what}!`);
              reject(err);
            }
            // Where a browser would fire negotiationneeded (chain empty, state stable): a
            // rollback must never be followed by one before the remote offer is applied.
            if (this.pending === 0 && this.signalingState === 'stable') this.log.push('idle');
          }, 1),
        ),
    );
    this.chain = p.catch(() => {});
    return p;
  }

  private sdp(kind: string): string {
    return `v=0\r\no=${this.name} ${++this.n} 1 IN IP4 0.0.0.0\r\ns=${kind}\r\n`;
  }

  /** The session id a description or candidate belongs to: "<name>-<n>" of the OFFER. */
  static session(sdp: string): string {
    const m = /o=(\S+) (\d+)/.exec(sdp);
    return `${m?.[1]}-${m?.[2]}`;
  }

  setLocalDescription(description?: { type: 'rollback' }): Promise<void> {
    return this.op(description ? 'rollback' : 'sld', () => {
      if (description?.type === 'rollback') {
        if (this.signalingState !== 'have-local-offer' && this.signalingState !== 'have-remote-offer') throw new InvalidStateError(`rollback in ${this.signalingState}`);
        if (this.signalingState === 'have-local-offer') this.localDescription = null;
        else this.remoteDescription = null;
        this.signalingState = 'stable';
        return;
      }
      if (this.signalingState === 'stable' || this.signalingState === 'have-local-offer') {
        const sdp = this.sdp('offer');
        this.offers.push(FakePeerConnection.session(sdp));
        this.localDescription = { type: 'offer', sdp };
        this.signalingState = 'have-local-offer';
      } else if (this.signalingState === 'have-remote-offer') {
        // The answer names the offer's session, so both ends can be compared.
        this.localDescription = { type: 'answer', sdp: this.remoteDescription!.sdp.replace('s=offer', 's=answer') };
        this.signalingState = 'stable';
      } else throw new InvalidStateError('closed');
    });
  }

  setRemoteDescription(d: { type: 'offer' | 'answer'; sdp: string }): Promise<void> {
    return this.op(`srd-${d.type}`, () => {
      if (d.type === 'offer') {
        // Strict: no implicit rollback (the negotiator must roll back itself).
        if (this.signalingState !== 'stable' && this.signalingState !== 'have-remote-offer') throw new InvalidStateError(`offer in ${this.signalingState}`);
        this.remoteDescription = d;
        this.signalingState = 'have-remote-offer';
      } else {
        if (this.signalingState !== 'have-local-offer') throw new InvalidStateError(`answer in ${this.signalingState}`);
        if (FakePeerConnection.session(d.sdp) !== FakePeerConnection.session(this.localDescription!.sdp)) throw new Error('answer to another offer');
        this.remoteDescription = d;
        this.signalingState = 'stable';
      }
    });
  }

  addIceCandidate(c?: IceCandidateData): Promise<void> {
    return this.op('candidate', () => {
      if (!this.remoteDescription) throw new InvalidStateError('no remote description');
      // Candidates carry the session of the offer they were gathered for (as ufrag does).
      // (an answer copies its offer's o= line, so the remote description names the agreed session).
      if (c && c.usernameFragment !== FakePeerConnection.session(this.remoteDescription.sdp).replace('-', ':')) {
        throw new Error(`candidate for another session (${c.usernameFragment})`);
      }
      this.applied.push(c);
    });
  }

  /** The session both ends agree on once stable (the offer's). */
  agreed(): string {
    assert.equal(this.signalingState, 'stable');
    const offer = this.localDescription?.type === 'offer' ? this.localDescription : this.remoteDescription;
    return FakePeerConnection.session(offer!.sdp);
  }

  /** A candidate for this end's current offer or answer. */
  candidate(i: number): IceCandidateData {
    const offer = this.localDescription?.type === 'offer' ? this.localDescription : this.remoteDescription;
    return { candidate: `candidate:${i} 1 udp 2122260223 192.0.2.1 ${50000 + i} typ host`, sdpMid: '0', sdpMLineIndex: 0, usernameFragment: FakePeerConnection.session(offer!.sdp).replace('-', ':') };
  }
}

/** One end: a fake connection, its negotiator, and what it sent (held until the test delivers it). */
interface End {
  pc: FakePeerConnection;
  neg: PerfectNegotiation;
  outbox: SignalData[];
  errors: Error[];
}

function end(name: string, polite: boolean): End {
  const pc = new FakePeerConnection(name);
  const e: End = { pc, outbox: [], errors: [], neg: undefined as unknown as PerfectNegotiation };
  e.neg = new PerfectNegotiation(pc, polite, { send: (d) => e.outbox.push(d), error: (err) => e.errors.push(err) });
  return e;
}

/** Delivers everything `from` sent so far to `to`, in order. */
async function deliver(from: End, to: End): Promise<SignalData[]> {
  const msgs = from.outbox.splice(0);
  for (const m of msgs) await to.neg.receive(m);
  return msgs;
}

/** A pair with client ids `idA` and `idB`, roles from isPolite. */
function pair(idA = 'alpha', idB = 'bravo'): { a: End; b: End } {
  return { a: end('A', isPolite(idA, idB)), b: end('B', isPolite(idB, idA)) };
}

test('exactly one end of every pair is polite, and both ends agree', () => {
  fc.assert(
    fc.property(fc.string(), fc.string(), (x, y) => {
      fc.pre(x !== y);
      assert.notEqual(isPolite(x, y), isPolite(y, x));
    }),
  );
  assert.equal(isPolite('a1', 'b2'), true);
  assert.equal(isPolite('b2', 'a1'), false);
});

test('without glare: offer, answer, both stable on the same session', async () => {
  const { a, b } = pair();
  await a.neg.negotiationNeeded();
  assert.deepEqual(a.outbox.map((m) => m.type), ['offer']);
  await deliver(a, b);
  assert.deepEqual(b.outbox.map((m) => m.type), ['answer']);
  await deliver(b, a);
  assert.equal(a.pc.agreed(), 'A-1');
  assert.equal(b.pc.agreed(), 'A-1');
  assert.deepEqual([a.errors, b.errors], [[], []]);
  assert.deepEqual([a.neg.stats.offersSent, b.neg.stats.answersSent], [1, 1]);
});

test('glare with crossing offers: the polite end rolls back and answers, the impolite end ignores', async () => {
  for (const [idA, idB] of [
    ['alpha', 'bravo'], // A polite
    ['zulu', 'bravo'], // B polite
  ] as const) {
    const { a, b } = pair(idA, idB);
    const [polite, impolite] = a.neg.polite ? [a, b] : [b, a];
    // Both add a track at the same moment: both make an offer.
    await Promise.all([a.neg.negotiationNeeded(), b.neg.negotiationNeeded()]);
    assert.equal(a.pc.signalingState, 'have-local-offer');
    assert.equal(b.pc.signalingState, 'have-local-offer');
    // The offers cross on the wire.
    const fromA = a.outbox.splice(0);
    const fromB = b.outbox.splice(0);
    for (const m of fromB) await a.neg.receive(m);
    for (const m of fromA) await b.neg.receive(m);

    assert.equal(impolite.neg.stats.offersIgnored, 1, 'the impolite end ignored the colliding offer');
    assert.equal(impolite.neg.ignoreOffer, true);
    assert.equal(polite.neg.stats.rollbacks, 1, 'the polite end rolled back its own offer');
    assert.ok(polite.pc.log.includes('rollback'));
    const i = polite.pc.log.indexOf('rollback');
    assert.deepEqual(polite.pc.log.slice(i, i + 2), ['rollback', 'srd-offer'], 'no idle stable moment between rollback and the remote offer');
    assert.deepEqual(polite.outbox.map((m) => m.type), ['answer']);
    assert.deepEqual(impolite.outbox, []);
    await deliver(polite, impolite);
    const session = impolite.pc.offers[0];
    assert.equal(impolite.pc.agreed(), session, "the impolite end's offer won");
    assert.equal(polite.pc.agreed(), session);
    assert.deepEqual([a.errors, b.errors], [[], []], 'no negotiation errors');
  }
});

test('glare while our offer is still being set: the rollback queues behind it', async () => {
  const { a, b } = pair(); // A is polite
  // B's offer is ready; A starts its own and receives B's before its setLocalDescription finished.
  await b.neg.negotiationNeeded();
  const making = a.neg.negotiationNeeded();
  assert.equal(a.neg.makingOffer, true);
  assert.equal(a.pc.signalingState, 'stable', 'offer not set yet');
  const handled = deliver(b, a);
  await Promise.all([making, handled]);
  assert.equal(a.neg.stats.rollbacks, 1);
  assert.deepEqual(a.pc.log.slice(0, 3), ['sld', 'rollback', 'srd-offer'], 'the rollback ran after the in-flight offer, the remote offer right after it');
  // A sent its (now rolled back) offer, then the answer to B's.
  assert.deepEqual(a.outbox.map((m) => m.type), ['offer', 'answer']);
  await deliver(a, b); // B ignores A's stale offer, applies the answer
  assert.equal(b.neg.stats.offersIgnored, 1);
  assert.equal(a.pc.agreed(), 'B-1');
  assert.equal(b.pc.agreed(), 'B-1');
  assert.deepEqual([a.errors, b.errors], [[], []]);

  // The impolite end with an offer in flight ignores an incoming one the same way.
  const c = pair('bravo', 'alpha'); // c.a impolite
  await c.b.neg.negotiationNeeded();
  const making2 = c.a.neg.negotiationNeeded();
  await Promise.all([making2, deliver(c.b, c.a)]);
  assert.equal(c.a.neg.stats.offersIgnored, 1);
  assert.equal(c.a.pc.signalingState, 'have-local-offer');
});

test('trickle ICE: candidates apply after their description; those of an ignored offer are dropped quietly', async () => {
  const { a, b } = pair(); // A polite, B impolite
  await Promise.all([a.neg.negotiationNeeded(), b.neg.negotiationNeeded()]);
  // Each trickles candidates for its own offer right after it.
  a.neg.localCandidate(a.pc.candidate(1));
  a.neg.localCandidate(a.pc.candidate(2));
  b.neg.localCandidate(b.pc.candidate(1));
  const fromA = a.outbox.splice(0);
  const fromB = b.outbox.splice(0);
  for (const m of fromB) await a.neg.receive(m);
  for (const m of fromA) await b.neg.receive(m);
  // B ignored A's offer, so A's two candidates could not apply: not errors.
  assert.equal(b.neg.stats.candidatesIgnored, 2);
  assert.deepEqual(b.errors, []);
  // A rolled back and applied B's offer, so B's candidate applied.
  assert.equal(a.pc.applied.length, 1);
  assert.equal(a.pc.applied[0]?.usernameFragment, 'B:1');

  await deliver(a, b); // the answer
  // Candidates for the agreed session, then end of candidates (null → addIceCandidate()).
  a.neg.localCandidate(a.pc.candidate(3));
  a.neg.localCandidate(null);
  const sent = await deliver(a, b);
  assert.deepEqual(sent.at(-1), { type: 'candidate', candidate: null });
  assert.equal(b.pc.applied.length, 2);
  assert.equal(b.pc.applied[1], undefined, 'end of candidates');
  assert.deepEqual([a.errors, b.errors], [[], []]);
  assert.equal(a.neg.stats.candidatesSent, 4);
});

test('a candidate that fails outside glare is reported; a renegotiation (ICE restart) works like the first', async () => {
  const { a, b } = pair();
  await b.neg.receive({ type: 'candidate', candidate: { candidate: 'candidate:1 1 udp 1 192.0.2.1 1 typ host' } });
  assert.equal(b.errors.length, 1, 'no remote description yet and no ignored offer: an error');
  assert.match(b.errors[0]!.message, /no remote description/);

  await a.neg.negotiationNeeded();
  await deliver(a, b);
  await deliver(b, a);
  // Later the polite end renegotiates (e.g. restartIce()): a plain offer/answer again.
  await a.neg.negotiationNeeded();
  await deliver(a, b);
  await deliver(b, a);
  assert.equal(a.pc.agreed(), 'A-2');
  assert.equal(b.pc.agreed(), 'A-2');
});

test('politeWaitsForOffer: the polite end lets its first negotiationneeded pass and answers the impolite offer; later it may offer', async () => {
  const a = end('A', true);
  const b = end('B', false);
  const opts = { politeWaitsForOffer: true };
  a.neg = new PerfectNegotiation(a.pc, true, { send: (d) => a.outbox.push(d), error: (err) => a.errors.push(err) }, opts);
  b.neg = new PerfectNegotiation(b.pc, false, { send: (d) => b.outbox.push(d), error: (err) => b.errors.push(err) }, opts);
  // Both add tracks at once: only the impolite end offers, so there is no glare.
  await Promise.all([a.neg.negotiationNeeded(), b.neg.negotiationNeeded()]);
  assert.equal(a.outbox.length, 0, 'the polite end did not offer');
  assert.equal(a.neg.stats.deferred, 1);
  assert.equal(a.pc.signalingState, 'stable');
  await deliver(b, a);
  await deliver(a, b);
  assert.equal(a.pc.agreed(), 'B-1');
  assert.equal(b.pc.agreed(), 'B-1');
  assert.deepEqual([a.neg.stats.rollbacks, b.neg.stats.offersIgnored], [0, 0]);
  // After the first offer, the polite end negotiates like any other (e.g. an ICE restart).
  await a.neg.negotiationNeeded();
  assert.deepEqual(a.outbox.map((m) => m.type), ['offer']);
  await deliver(a, b);
  await deliver(b, a);
  assert.equal(a.pc.agreed(), 'A-1');
  // The impolite end never waits.
  assert.equal(b.neg.stats.deferred, 0);
  assert.deepEqual([a.errors, b.errors], [[], []]);
});

test('after close nothing is sent or reported', async () => {
  const { a, b } = pair();
  await a.neg.negotiationNeeded();
  b.neg.close();
  await deliver(a, b);
  assert.deepEqual(b.outbox, []);
  assert.equal(b.pc.signalingState, 'stable', 'the offer was not applied');
  b.neg.localCandidate(null);
  await b.neg.negotiationNeeded();
  assert.deepEqual(b.outbox, []);
  assert.deepEqual(b.errors, []);
});
