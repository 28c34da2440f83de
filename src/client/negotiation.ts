/**
 * Perfect negotiation (W3C WebRTC 1.0 §10.7, "Perfect negotiation example"): both ends of a peer
 * connection may start a negotiation at any time (adding a track, an ICE restart), and an offer
 * collision ("glare") is resolved without a round of coordination: the **polite** peer rolls back
 * its own offer and answers the other one; the **impolite** peer ignores the incoming offer and
 * waits for the answer to its own. Which peer is polite follows from comparing client ids, so both
 * sides agree without a message.
 *
 * Pure logic over a minimal peer-connection surface ({@link NegotiationTarget}): no DOM types, no
 * timers. src/client/peer.ts wires it to a real RTCPeerConnection; the unit tests script a fake.
 * https://www.w3.org/TR/webrtc/#perfect-negotiation-example
 */
import type { IceCandidateData, SignalData } from './signal.ts';

/** The part of an `RTCPeerConnection` that negotiation drives (a real one satisfies it). */
export interface NegotiationTarget {
  readonly signalingState: string;
  readonly localDescription: { readonly type: string; readonly sdp: string } | null;
  /** No argument: create and set an offer or answer as the signaling state calls for. */
  setLocalDescription(description?: { type: 'rollback' }): Promise<void>;
  setRemoteDescription(description: { type: 'offer' | 'answer'; sdp: string }): Promise<void>;
  /** No argument: end of candidates. */
  addIceCandidate(candidate?: IceCandidateData): Promise<void>;
}

/**
 * Whether the local end is the polite one. Exactly one end of every pair is: the one with the
 * smaller client id (code-unit order). Client ids are unique per connection, so a peer that
 * reconnects (new id) may change role; roles only matter within one peer connection.
 */
export function isPolite(self: string, other: string): boolean {
  return self < other;
}

/** What the negotiator did, for diagnostics and tests. */
export interface NegotiationStats {
  offersSent: number;
  answersSent: number;
  /** Incoming offers ignored because they collided with ours (impolite end only). */
  offersIgnored: number;
  /** Own offers rolled back because an offer collided with them (polite end only). */
  rollbacks: number;
  candidatesSent: number;
  /** Candidates that failed to apply while an ignored offer's candidates were arriving (expected). */
  candidatesIgnored: number;
  /** `negotiationneeded` events the polite end let pass while waiting for the first offer. */
  deferred: number;
}

export interface NegotiationHooks {
  /** Sends a signal to the other end (in call order: descriptions before their candidates). */
  send(data: SignalData): void;
  /** A negotiation step failed (the connection may still recover with the next negotiation). */
  error(err: Error): void;
}

export interface NegotiationOptions {
  /**
   * The polite end does not start the first negotiation: it waits for the impolite end's offer
   * and answers it (its own tracks ride on that answer; if more is needed, the browser fires
   * `negotiationneeded` again once stable, and from then on either end may offer). For pairs
   * where both ends always connect to each other at the same time, as in a Call: it avoids the
   * initial glare. Why not let perfect negotiation resolve it: in Chromium, a polite end that
   * rolls back an offer set only milliseconds earlier and answers sometimes never gathers a
   * single candidate for that answer with `iceTransportPolicy: 'relay'` (seen under load in
   * test/e2e/call.test.ts), and the call stays in `new`. @default false
   */
  politeWaitsForOffer?: boolean;
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * One end of perfect negotiation. Call {@link negotiationNeeded} from `negotiationneeded`,
 * {@link localCandidate} from `icecandidate`, and {@link receive} with every signal from the other
 * end; incoming signals are handled one at a time, in arrival order.
 */
export class PerfectNegotiation {
  /** An offer of ours is being created and set (the window in which an incoming offer collides). */
  makingOffer = false;
  /** The last incoming offer was ignored (impolite end, glare): its candidates may fail to apply. */
  ignoreOffer = false;
  readonly stats: NegotiationStats = { offersSent: 0, answersSent: 0, offersIgnored: 0, rollbacks: 0, candidatesSent: 0, candidatesIgnored: 0, deferred: 0 };
  private queue: Promise<void> = Promise.resolve();
  private closed = false;
  /** An offer from the other end was applied (ends the polite end's wait, see options). */
  private offerReceived = false;

  constructor(
    private readonly pc: NegotiationTarget,
    /** See {@link isPolite}. */
    readonly polite: boolean,
    private readonly hooks: NegotiationHooks,
    private readonly options: NegotiationOptions = {},
  ) {}

  /** `negotiationneeded`: make an offer (or, if an offer came in meanwhile, the answer) and send it. */
  async negotiationNeeded(): Promise<void> {
    if (this.closed) return;
    if (this.polite && this.options.politeWaitsForOffer === true && !this.offerReceived) {
      this.stats.deferred++;
      return;
    }
    try {
      this.makingOffer = true;
      await this.pc.setLocalDescription();
      // Send in the same microtask as the description is set: candidates (events, later tasks)
      // are sent after it, so the other end never gets a candidate before its description.
      this.sendLocalDescription();
    } catch (err) {
      if (!this.closed) this.hooks.error(toError(err));
    } finally {
      this.makingOffer = false;
    }
  }

  /** `icecandidate`: trickle it at once; `null` (end of gathering) is sent too. */
  localCandidate(candidate: IceCandidateData | null): void {
    if (this.closed) return;
    this.stats.candidatesSent++;
    this.hooks.send({ type: 'candidate', candidate });
  }

  /** A signal from the other end. Resolves once it (and every earlier one) was handled; never rejects. */
  receive(data: SignalData): Promise<void> {
    this.queue = this.queue.then(() => this.handle(data));
    return this.queue;
  }

  /** Stops sending and handling signals. */
  close(): void {
    this.closed = true;
  }

  private async handle(data: SignalData): Promise<void> {
    if (this.closed) return;
    try {
      if (data.type === 'offer' || data.type === 'answer') {
        const collision = data.type === 'offer' && (this.makingOffer || this.pc.signalingState !== 'stable');
        this.ignoreOffer = !this.polite && collision;
        if (this.ignoreOffer) {
          this.stats.offersIgnored++;
          return;
        }
        const remote = { type: data.type, sdp: data.sdp };
        if (collision) {
          // Polite end: drop our own offer, then take theirs. Both calls are queued in the same
          // turn on the connection's operations chain, so:
          // - the rollback runs after our in-flight setLocalDescription(offer), in have-local-offer,
          //   even while makingOffer is still true;
          // - nothing runs between the two. Awaiting the rollback first would leave the chain empty
          //   and the state stable for a moment, and Chromium then fires negotiationneeded again:
          //   a second offer of ours that the impolite end also ignores, and in our runs the answer
          //   that followed never produced ICE candidates (a call stuck in "new").
          // Browsers with implicit rollback would accept setRemoteDescription(offer) alone; the
          // explicit rollback also works where they do not.
          await Promise.all([this.pc.setLocalDescription({ type: 'rollback' }), this.pc.setRemoteDescription(remote)]);
          this.stats.rollbacks++;
        } else {
          await this.pc.setRemoteDescription(remote);
        }
        if (this.closed) return;
        if (data.type === 'offer') {
          this.offerReceived = true;
          await this.pc.setLocalDescription();
          this.sendLocalDescription();
        }
      } else if (data.type === 'candidate') {
        try {
          await this.pc.addIceCandidate(data.candidate ?? undefined);
        } catch (err) {
          // Candidates of an offer we ignored cannot be applied: expected, not an error.
          if (!this.ignoreOffer) throw err;
          this.stats.candidatesIgnored++;
        }
      }
    } catch (err) {
      if (!this.closed) this.hooks.error(toError(err));
    }
  }

  private sendLocalDescription(): void {
    const d = this.pc.localDescription;
    if (this.closed || !d || (d.type !== 'offer' && d.type !== 'answer')) return;
    if (d.type === 'offer') this.stats.offersSent++;
    else this.stats.answersSent++;
    this.hooks.send({ type: d.type, sdp: d.sdp });
  }
}
