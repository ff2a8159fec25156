/**
 * A TCP proxy that can simulate an outage: `down()` drops every open connection and stops
 * listening (clients get ECONNREFUSED, as from a stopped server), `up()` listens again on
 * the same port. The service behind it keeps its data, which a real restart of the
 * in-memory emulators would lose. `stall()` accepts new connections but forwards nothing
 * until `resume()` (a download that hangs: the crash tests kill a process inside one).
 */
import net from 'node:net';
import {freePort} from './emulators.js';

/** A running fault-injection proxy. */
export interface FaultProxy {
  /** `127.0.0.1:port` to give clients instead of the real service. */
  readonly hostPort: string;
  down(): Promise<void>;
  up(): Promise<void>;
  /** New connections wait, forwarding nothing, until {@link resume}. */
  stall(): void;
  /** Connects the waiting connections (those still open) and stops stalling. */
  resume(): void;
  /** Connections waiting in a stall. */
  readonly stalled: number;
  close(): Promise<void>;
}

/** Starts a proxy to `target` (`host:port`). */
export async function faultProxy(target: string): Promise<FaultProxy> {
  const [host, port] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  const listenPort = await freePort();
  const sockets = new Set<net.Socket>();
  let stalling = false;
  const waiting: net.Socket[] = [];
  const forward = (client: net.Socket): void => {
    if (client.destroyed) return;
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
  };
  const server = net.createServer(client => {
    if (!stalling) return forward(client);
    client.pause();
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    waiting.push(client);
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
    stall: () => void (stalling = true),
    resume: () => {
      stalling = false;
      for (const client of waiting.splice(0)) forward(client);
    },
    get stalled() {
      return waiting.filter(c => !c.destroyed).length;
    },
    close: stopListening,
  };
}
