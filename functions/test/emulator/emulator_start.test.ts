/**
 * The emulators' start: a port that answers is not enough to call an emulator ready. Between
 * freePort() and java's bind another process can take the port; the emulator then exits
 * while the port still answers, and every client after it would be refused.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import {describe, it} from 'node:test';
import {freePort, startFirestore, startPubSub} from '../../../scripts/lib/emulators.js';
import {EMULATORS} from '../helpers/emulators.js';

/** A port held by a plain TCP server for the length of `body`. */
async function withHeldPort(body: (port: number) => Promise<void>): Promise<void> {
  const port = await freePort();
  const server = net.createServer(socket => socket.destroy());
  await new Promise<void>(resolve => server.listen(port, '127.0.0.1', resolve));
  try {
    await body(port);
  } finally {
    await new Promise<void>(resolve => server.close(() => resolve()));
  }
}

describe('starting an emulator', {skip: !EMULATORS && 'emulators not running'}, () => {
  for (const [name, start] of [
    ['Firestore', startFirestore],
    ['Pub/Sub', startPubSub],
  ] as const) {
    it(`${name}: on a port another process holds, it fails, saying so, instead of handing back a dead emulator`, async () => {
      await withHeldPort(port =>
        assert.rejects(
          start({port}),
          /emulator (exited before it was ready \(port \d+ taken\?\)|could not bind port \d+: taken)/
        )
      );
    });

    it(`${name}: on a free port, it answers`, async () => {
      const emulator = await start();
      try {
        const [host, port] = emulator.hostPort.split(':');
        await new Promise<void>((resolve, reject) => {
          const socket = net.connect(Number(port), host!, () => {
            socket.destroy();
            resolve();
          });
          socket.once('error', reject);
        });
      } finally {
        await emulator.stop();
      }
    });
  }
});
