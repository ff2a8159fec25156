/**
 * A round-robin HTTP balancer on 127.0.0.1: several classifyImage processes behind one push
 * endpoint, as Cloud Run puts instances behind one URL. Each request goes whole (path,
 * headers, body) to the next target; a target that refuses the connection answers 502, which
 * Pub/Sub treats as "deliver again", as it would a crashed instance.
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

/** Starts a balancer over `targets` (base URLs like `http://127.0.0.1:8081/`). */
export async function startBalancer(targets: () => readonly string[]): Promise<Balancer> {
  let next = 0;
  const counts: number[] = [];
  const server = http.createServer((req, res) => {
    const all = targets();
    const i = next++ % all.length;
    counts[i] = (counts[i] ?? 0) + 1;
    const target = new URL(req.url ?? '/', all[i]);
    const upstream = http.request(
      target,
      {method: req.method, headers: {...req.headers, host: target.host}},
      answer => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      }
    );
    upstream.on('error', e => {
      if (!res.headersSent) res.writeHead(502, {'content-type': 'text/plain'});
      res.end(`balancer: ${all[i]} failed: ${e.message}`);
    });
    req.pipe(upstream);
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
