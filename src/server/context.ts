/** What a Session needs from its node: shared services, passed in instead of imported. */
import type { Broker } from '../broker/broker.ts';
import type { Clock } from '../util/clock.ts';
import type { Authenticator } from './auth.ts';
import type { Hub } from './hub.ts';
import type { NodeOptions } from './options.ts';
import type { Session } from './session.ts';
import type { SfuSignaling } from './sfu-signaling.ts';
import type { SignalRouter } from './signaling.ts';
import type { Stats } from './stats.ts';

export interface SessionContext {
  readonly options: NodeOptions;
  readonly broker: Broker;
  readonly hub: Hub;
  readonly auth: Authenticator;
  readonly clock: Clock;
  readonly stats: Stats;
  /** WebRTC signaling relay between members of signaling rooms. */
  readonly signals: SignalRouter;
  /** Requests to the SFU (`$sfu`) of SFU rooms. */
  readonly sfuSignals: SfuSignaling;
  /** Runs `flush()` of every scheduled session once per event-loop turn. */
  scheduleFlush(session: Session): void;
  /** Called once the connect command succeeded. */
  onConnected(session: Session): void;
  /** Called once when the session is closed. */
  onClosed(session: Session): void;
}
