/**
 * The live page of the local stack (`npm start`): a small HTTP server on 127.0.0.1 that
 * listens to the Firestore emulator (the model records, their history, the newest
 * predictions) and forwards every change to the browser as server-sent events. The page
 * (scripts/lib/live/index.html) shows the current model and its history, the stream of
 * predictions with the model that answered, and a uPlot chart of predictions per second by
 * model, on which a roll shows as one colour replacing another.
 *
 * Every document of the models collection is a record: `current` alone in an unkeyed
 * deployment, one per model key with `{key}` in MODEL_FILE_PATTERN (`npm start -- --keyed`);
 * the page is told which, and names the key beside each record, history entry and roll.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import type {Firestore} from '@google-cloud/firestore';

// Not stack.ts' ROOT: stack.ts imports this module.
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** What the page is told, as one SSE event each. */
type PageEvent =
  | {type: 'records'; keyed: boolean; records: Array<Record<string, unknown>>}
  | {type: 'history'; history: Array<Record<string, unknown>>}
  | {type: 'prediction'; prediction: Record<string, unknown>};

/** Where the page reads from. */
export interface LivePageOptions {
  readonly db: Firestore;
  readonly modelsCollection?: string;
  readonly predictionsCollection?: string;
  /** Whether records are per model key (`{key}` in MODEL_FILE_PATTERN). */
  readonly keyed?: boolean;
  readonly port?: number;
}

/** The running page. */
export interface LivePage {
  readonly url: string;
  close(): Promise<void>;
}

const STATIC: Record<string, [string, string]> = {
  '/': [path.join(ROOT, 'scripts/lib/live/index.html'), 'text/html; charset=utf-8'],
  '/uplot.js': [path.join(ROOT, 'node_modules/uplot/dist/uPlot.iife.min.js'), 'text/javascript'],
  '/uplot.css': [path.join(ROOT, 'node_modules/uplot/dist/uPlot.min.css'), 'text/css'],
};

/** Keeps what a new browser needs (the record, the history, the last predictions). */
const KEPT_PREDICTIONS = 200;

/** Starts the page's server and its Firestore listeners. */
export async function startLivePage(options: LivePageOptions): Promise<LivePage> {
  const modelsCollection = options.modelsCollection ?? 'models';
  const keyed = options.keyed ?? false;
  const clients = new Set<http.ServerResponse>();
  let records: Array<Record<string, unknown>> = [];
  let history: Array<Record<string, unknown>> = [];
  const recent: Array<Record<string, unknown>> = [];

  const send = (res: http.ServerResponse, e: PageEvent) => res.write(`data: ${JSON.stringify(e)}\n\n`);
  const broadcast = (e: PageEvent) => clients.forEach(res => send(res, e));

  const unsubscribe = [
    options.db.collection(modelsCollection).onSnapshot(
      snap => {
        records = snap.docs.map(d => ({key: d.id, ...d.data()}));
        broadcast({type: 'records', keyed, records});
      },
      e => console.error(`live page: model records listener: ${e.message}`)
    ),
    // Each record's history is its own subcollection: one listener on every `history`
    // collection, keeping those whose parent is a record of the models collection.
    options.db.collectionGroup('history').onSnapshot(
      snap => {
        history = snap.docs
          .filter(d => d.ref.parent.parent?.parent.id === modelsCollection)
          .map((d): Record<string, unknown> => ({key: d.ref.parent.parent!.id, ...d.data()}))
          .sort((a, b) => String(b['updated']).localeCompare(String(a['updated'])));
        broadcast({type: 'history', history});
      },
      e => console.error(`live page: history listener: ${e.message}`)
    ),
    options.db
      .collection(options.predictionsCollection ?? 'predictions')
      .orderBy('created', 'desc')
      .limit(KEPT_PREDICTIONS)
      .onSnapshot(
        snap => {
          // Oldest first: the page detects a roll as the first answer by another model.
          const changes = snap
            .docChanges()
            .filter(c => c.type !== 'removed')
            .sort((a, b) => String(a.doc.get('created')).localeCompare(String(b.doc.get('created'))));
          for (const change of changes) {
            const prediction = {id: change.doc.id, ...change.doc.data()};
            recent.push(prediction);
            if (recent.length > KEPT_PREDICTIONS) recent.shift();
            broadcast({type: 'prediction', prediction});
          }
        },
        e => console.error(`live page: predictions listener: ${e.message}`)
      ),
  ];

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === '/events') {
      res.writeHead(200, {'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive'});
      clients.add(res);
      req.on('close', () => clients.delete(res));
      send(res, {type: 'records', keyed, records});
      send(res, {type: 'history', history});
      for (const prediction of recent) send(res, {type: 'prediction', prediction});
      return;
    }
    const file = STATIC[url.pathname];
    if (!file) {
      res.writeHead(404, {'content-type': 'text/plain'}).end('not found');
      return;
    }
    res.writeHead(200, {'content-type': file[1]});
    fs.createReadStream(file[0]).pipe(res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const {port} = server.address() as {port: number};
  return {
    url: `http://127.0.0.1:${port}/`,
    close: async () => {
      unsubscribe.forEach(u => u());
      for (const res of clients) res.end();
      clients.clear();
      await new Promise<void>(resolve => server.close(() => resolve()));
    },
  };
}
