/**
 * A TCP proxy that can simulate an outage: `down()` drops every open connection and stops
 * listening (clients get ECONNREFUSED, as from a stopped server), `up()` listens again on
 * the same port. The service behind it keeps its data, which a real restart of the
 * in-memory emulators would lose.
 */
import net from 'node:net';
import {freePort} from './emulators.js';

/** A running fault-injection proxy. */
export interface FaultProxy {
  /** `127.0.0.1:port` to give clients instead of the real service. */
  readonly hostPort: string;
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

/** Starts a proxy to `target` (`host:port`). */
export async function faultProxy(target: string): Promise<FaultProxy> {
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  const listenPort = await freePort();
  const sockets = new Set<net.Socket>();
  const server = net.createServer(client => {
    const upstream = net.connect(port, host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  const listen = (): Promise<void> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(listenPort, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  const stopListening = (): Promise<void> =>
    new Promise(resolve => {
      if (!server.listening) return resolve();
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    });
  await listen();
  return {
    hostPort: `127.0.0.1:${listenPort}`,
    down: stopListening,
    up: listen,
    close: stopListening,
  };
}
