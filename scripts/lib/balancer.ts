/**
 * A round-robin HTTP balancer on 127.0.0.1: several classifyImage processes behind one push
 * endpoint, as Cloud Run puts instances behind one URL. Each request goes whole (path,
 * headers, body) to the next target. A target that refuses the connection (a process being
 * started again) is retried for up to 30 s, as Cloud Run holds requests while an instance
 * starts; a request the target dropped mid-way (a crash) is answered 502, which Pub/Sub treats
 * as "deliver again".
 */
import http from 'node:http';
import type {AddressInfo} from 'node:net';

/** A running balancer. */
export interface Balancer {
  readonly url: string;
  /** Requests forwarded to each target, in target order. */
  readonly counts: number[];
  close(): Promise<void>;
}

/** How long a request waits for a target that refuses connections (Cloud Run queues requests while an instance starts). */
const QUEUE_MS = 30_000;

/** Starts a balancer over `targets` (base URLs like `http://127.0.0.1:8081/`). */
export async function startBalancer(targets: () => readonly string[]): Promise<Balancer> {
  let next = 0;
  const counts: number[] = [];
  const server = http.createServer((req, res) => {
    const all = targets();
    const i = next++ % all.length;
    counts[i] = (counts[i] ?? 0) + 1;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const deadline = Date.now() + QUEUE_MS;
      const attempt = (): void => {
        // The target list is read again: a restarted process may stand where a dead one was.
        const target = new URL(req.url ?? '/', targets()[i] ?? all[i]);
        const upstream = http.request(
          target,
          {method: req.method, headers: {...req.headers, host: target.host}},
          answer => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          }
        );
        upstream.on('error', (e: NodeJS.ErrnoException) => {
          // Nothing reached a target that refused the connection: wait for it to come back, as
          // Cloud Run holds a request while it starts an instance. A request that a target
          // took and then dropped (a crash mid-request) is answered 502: deliver it again.
          if (e.code === 'ECONNREFUSED' && Date.now() < deadline && !res.destroyed) {
            setTimeout(attempt, 100);
            return;
          }
          if (!res.headersSent) res.writeHead(502, {'content-type': 'text/plain'});
          res.end(`balancer: ${target.origin} failed: ${e.message}`);
        });
        upstream.end(body);
      };
      attempt();
    });
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const {port} = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    counts,
    close: () =>
      new Promise(resolve => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
