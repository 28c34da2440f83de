/**
 * A small typed event emitter. Listeners are called through {@link TypedEmitter.safeEmit}, which
 * contains their exceptions: a throwing application callback must never break the SDK's state
 * machine (a half-processed frame would otherwise lose or duplicate publications).
 */

/** Maps event names to the type of their single argument. */
export type EventMap = { [event: string]: unknown };

export type Listener<T> = (arg: T) => void;

/** Called with any exception thrown by a listener; by default it is written to `console.error`. */
export type ListenerErrorHandler = (error: unknown, event: string) => void;

export class TypedEmitter<E extends EventMap> {
  private readonly listeners = new Map<keyof E, Set<Listener<never>>>();
  /** Where listener exceptions go. Subclasses route them to their own `error` event. */
  protected onListenerError: ListenerErrorHandler = (error, event) => {
    console.error(`switchboard: a "${event}" listener threw`, error);
  };

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof E>(event: K, listener: Listener<E[K]>): () => void {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener as Listener<never>);
    return () => this.off(event, listener);
  }

  /** Adds a listener called at most once. */
  once<K extends keyof E>(event: K, listener: Listener<E[K]>): () => void {
    const off = this.on(event, (arg) => {
      off();
      listener(arg);
    });
    return off;
  }

  off<K extends keyof E>(event: K, listener: Listener<E[K]>): void {
    this.listeners.get(event)?.delete(listener as Listener<never>);
  }

  /** Number of listeners for `event`. */
  listenerCount(event: keyof E): number {
    return this.listeners.get(event)?.size ?? 0;
  }

  /** Calls every listener of `event` with `arg`; exceptions go to {@link onListenerError}. */
  protected safeEmit<K extends keyof E>(event: K, arg: E[K]): void {
    const set = this.listeners.get(event);
    if (!set || set.size === 0) return;
    for (const listener of [...set]) {
      try {
        (listener as Listener<E[K]>)(arg);
      } catch (err) {
        this.reportListenerError(err, String(event));
      }
    }
  }

  /** Routes a callback exception to {@link onListenerError}, which itself must not throw. */
  protected reportListenerError(err: unknown, event: string): void {
    try {
      this.onListenerError(err, event);
    } catch (inner) {
      console.error('switchboard: an error handler threw', inner);
    }
  }
}

/**
 * Calls an optional user callback, containing its exception. Used for per-subscription callbacks
 * (`onPublication`, …) that are not emitter listeners.
 */
export function safeCall<T>(fn: ((arg: T) => void) | undefined, arg: T, onError: (err: unknown) => void): void {
  if (!fn) return;
  try {
    fn(arg);
  } catch (err) {
    try {
      onError(err);
    } catch (inner) {
      console.error('switchboard: an error handler threw', inner);
    }
  }
}
