/**
 * The demo's downloads (scripts/lib/assets.ts) against a local HTTP server: a good file is
 * fetched once and then served from the cache; other bytes, a truncated body, a 404 and
 * an unreachable host are each refused with their kind, and nothing half-written stays in
 * the cache.
 */
import assert from 'node:assert/strict';
import {createHash} from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import {after, before, describe, it} from 'node:test';
import {DownloadError, fetchAsset, type Asset} from '../../../scripts/lib/assets.js';
import {freePort} from '../../../scripts/lib/emulators.js';

const GOOD = Buffer.from(Array.from({length: 300_000}, (_, i) => (i * 31) % 251));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('fetchAsset against a local HTTP server', () => {
  let server: http.Server;
  let base = '';
  let requests = 0;
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'assets-cache-'));
  const asset = (name: string, overrides: Partial<Asset> = {}): Asset => ({
    name,
    url: `${base}/${name}`,
    sha256: sha(GOOD),
    bytes: GOOD.length,
    ...overrides,
  });

  before(async () => {
    server = http.createServer((req, res) => {
      requests++;
      if (req.url === '/good.bin') return void res.writeHead(200, {'content-length': GOOD.length}).end(GOOD);
      if (req.url === '/other.bin') {
        const other = Buffer.from(GOOD);
        other[1000] = other[1000]! ^ 0xff;
        return void res.writeHead(200, {'content-length': other.length}).end(other);
      }
      if (req.url === '/truncated.bin') {
        // Declares the whole file, sends a third of it, then drops the connection.
        res.writeHead(200, {'content-length': GOOD.length});
        res.write(GOOD.subarray(0, 100_000), () => req.socket.destroy());
        return;
      }
      res.writeHead(404).end('not found');
    });
    await new Promise<void>(r => server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(server.address() as {port: number}).port}`;
  });
  after(() => {
    server.close();
    fs.rmSync(cacheDir, {recursive: true, force: true});
  });

  it('downloads a file once, with progress, and serves it from the cache after that', async () => {
    const seen: number[] = [];
    const file = await fetchAsset(asset('good.bin'), {cacheDir, progress: r => seen.push(r)});
    assert.deepEqual(fs.readFileSync(file), GOOD);
    assert.equal(seen.at(-1), GOOD.length);
    const before = requests;
    assert.equal(await fetchAsset(asset('good.bin'), {cacheDir, progress: () => {}}), file);
    assert.equal(requests, before, 'no second request');
  });

  it('refuses other bytes than pinned (checksum mismatch)', async () => {
    await assert.rejects(
      fetchAsset(asset('other.bin'), {cacheDir, progress: () => {}}),
      (e: unknown) =>
        e instanceof DownloadError && e.kind === 'checksum' && /expected [0-9a-f]{64}: refused/.test(e.message)
    );
  });

  it('refuses a truncated body', async () => {
    await assert.rejects(
      fetchAsset(asset('truncated.bin'), {cacheDir, progress: () => {}}),
      (e: unknown) => e instanceof DownloadError && e.kind === 'truncated'
    );
  });

  it('reports an HTTP error (404)', async () => {
    await assert.rejects(
      fetchAsset(asset('missing.bin'), {cacheDir, progress: () => {}}),
      (e: unknown) => e instanceof DownloadError && e.kind === 'http' && /HTTP 404/.test(e.message)
    );
  });

  it('says offline when the host cannot be reached', async () => {
    const closed = await freePort();
    await assert.rejects(
      fetchAsset(asset('good2.bin', {url: `http://127.0.0.1:${closed}/good.bin`}), {cacheDir, progress: () => {}}),
      (e: unknown) => e instanceof DownloadError && e.kind === 'offline' && /cannot reach 127\.0\.0\.1/.test(e.message)
    );
  });

  it('leaves nothing half-written in the cache', () => {
    assert.deepEqual(fs.readdirSync(cacheDir), ['good.bin']);
  });

  it('fetches through a mirror under the cache name, still pinned', async t => {
    const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'assets-mirror-'));
    t.after(() => fs.rmSync(cacheDir, {recursive: true, force: true}));
    const file = await fetchAsset(asset('good.bin', {name: 'good.bin', url: 'https://unreachable.invalid/x'}), {
      cacheDir,
      mirror: base,
      progress: () => {},
    });
    assert.deepEqual(fs.readFileSync(file), GOOD);
  });
});
