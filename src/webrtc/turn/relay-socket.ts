/**
 * Binding relay sockets inside the configured port range (RFC 8656 §7.2), including the EVEN-PORT
 * case where the next port is bound too and held as a reservation.
 */
import { createSocket, type Socket } from 'node:dgram';

/** Binds a UDP socket to `address:port`; rejects with the bind error (EADDRINUSE...). */
export function bindUdp(address: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket({ type: address.includes(':') ? 'udp6' : 'udp4', ipv6Only: address.includes(':') });
    const onError = (err: Error) => {
      s.close();
      reject(err);
    };
    s.once('error', onError);
    s.bind({ address, port, exclusive: true }, () => {
      s.off('error', onError);
      resolve(s);
    });
  });
}

const ATTEMPTS = 64;

/**
 * A relay socket on a port in [min, max], starting at a random port and walking up (RFC 8656
 * §7.2: the port SHOULD be chosen at random). With `even`, only even ports, and `pair` binds port+1
 * as well (for the R bit of EVEN-PORT). Rejects after {@link ATTEMPTS} busy ports.
 */
export async function bindRelay(address: string, min: number, max: number, even = false, pair = false): Promise<{ socket: Socket; next?: Socket }> {
  const span = max - min + 1;
  let port = min + Math.floor(Math.random() * span);
  for (let i = 0; i < Math.min(ATTEMPTS, span); i++, port = port >= max ? min : port + 1) {
    if (even && port % 2 !== 0) continue;
    if (pair && port + 1 > max) continue;
    let socket: Socket;
    try {
      socket = await bindUdp(address, port);
    } catch {
      continue;
    }
    if (!pair) return { socket };
    try {
      return { socket, next: await bindUdp(address, port + 1) };
    } catch {
      socket.close();
    }
  }
  throw new Error(`no free relay port in ${min}-${max} on ${address} after ${ATTEMPTS} attempts`);
}
