/**
 * The live page of `npm start`, driven in headless Chromium (Debian's `chromium` with
 * playwright-core): a whole local stack with the page; v1 uploaded, photos published, v2
 * uploaded, photos published; the page must show both models, the switch from v1 to v2,
 * the current model and its history, without a reload. Then the same with a model per key
 * (`npm start -- --keyed`): two keys answering side by side, one rolled. A screenshot of
 * each goes to .local/.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {describe, it} from 'node:test';
import {PubSub} from '@google-cloud/pubsub';
import {Storage} from '@google-cloud/storage';
import {chromium} from 'playwright-core';
import {ROOT, startStack} from '../../../scripts/lib/stack.js';
import {upload} from '../helpers/emulators.js';
import {MOBILENET, fixture, fixtureBytes} from '../helpers/fixtures.js';
import {CONTRACT, stackClients} from '../helpers/local_stack.js';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const PHOTOS = ['daisy.jpg', 'tiger.jpeg', 'coffee_mug.jpg', 'cat_tabby.jpg', 'dog_hound.jpg', 'ship.jpeg'];

const present = fs.existsSync(CHROMIUM);
if (!present) {
  const why = `${CHROMIUM} not found (apt-get install chromium)`;
  // CI must not pass by skipping: there, a missing browser fails the test below.
  if (process.env['CI'] !== 'true') console.log(`!!! SKIPPED the live-page browser test: ${why}`);
}

describe('npm start: the live page', () => {
  it(
    'shows v1, then the roll to v2, live, with the history and the stream',
    {skip: !present && process.env['CI'] !== 'true', timeout: 180_000},
    async () => {
      assert.ok(present, `${CHROMIUM} not found: .ci/run installs Debian's chromium`);
      const stack = await startStack({livePage: true, logDir: path.join(ROOT, '.local/live-page-test')});
      const browser = await chromium.launch({executablePath: CHROMIUM, args: FLAGS});
      try {
        const page = await browser.newPage({viewport: {width: 1280, height: 900}});
        await page.goto(stack.info.endpoints.page!);
        await page.getByText('live', {exact: true}).waitFor({timeout: 15_000});

        const {modelsBucket, imagesBucket, projectId, topic} = stack.info;
        const storage = new Storage({projectId});
        const publisher = new PubSub({projectId}).topic(topic);
        for (const p of PHOTOS) await upload(storage, imagesBucket, `photos/${p}`, fixtureBytes(`images/${p}`));
        await upload(storage, modelsBucket, 'labels/imagenet.json', fixtureBytes('labels/imagenet_class_index.json'));
        const contract = {scale: '-1,1', labels: 'labels/imagenet.json'};
        const publishAll = () =>
          Promise.all(
            PHOTOS.map(p => publisher.publishMessage({data: Buffer.from(`gs://${imagesBucket}/photos/${p}`)}))
          );

        await upload(storage, modelsBucket, 'models/mobilenet_v1.h5', fixtureBytes(MOBILENET), contract);
        await page.locator('.record[data-model="mobilenet_v1"]').waitFor({timeout: 60_000});
        await publishAll();
        await page
          .locator('#stream tr[data-model="mobilenet_v1"]')
          .nth(PHOTOS.length - 1)
          .waitFor({timeout: 60_000});

        await upload(storage, modelsBucket, 'models/mobilenet_v2.h5', fs.readFileSync(fixture(MOBILENET)), contract);
        await page.locator('.record[data-model="mobilenet_v2"]').waitFor({timeout: 60_000});
        assert.equal(await page.locator('.record').count(), 1);
        await publishAll();
        await page.locator('#stream tr[data-model="mobilenet_v2"]').first().waitFor({timeout: 60_000});
        await page.locator('#rolls li[data-from="mobilenet_v1"][data-to="mobilenet_v2"]').waitFor({timeout: 30_000});

        // Both models in the chart's legend, each with its own series; the history lists both.
        await page.locator('.legend-model[data-model="mobilenet_v2"]').waitFor({timeout: 10_000});
        assert.deepEqual(
          await page.locator('.legend-model').evaluateAll(els => els.map(e => (e as HTMLElement).dataset['model'])),
          ['mobilenet_v1', 'mobilenet_v2']
        );
        assert.equal(await page.locator('#chart .u-series').count(), 3); // x + one per model
        await page.locator('#history tr', {hasText: 'mobilenet_v2.h5'}).waitFor(); // a listener of its own
        const history = await page.locator('#history tr').allTextContents();
        assert.equal(history.filter(r => /accepted.*mobilenet_v[12]\.h5/.test(r)).length, 2, history.join('\n'));
        assert.ok((await page.locator('#stream tr').count()) >= PHOTOS.length * 2 - 1);
        assert.match((await page.locator('#stream tr').first().textContent()) ?? '', /mobilenet_v2/);

        await page.waitForTimeout(1200); // one more chart tick
        fs.mkdirSync(path.join(ROOT, '.local'), {recursive: true});
        await page.screenshot({path: path.join(ROOT, '.local/live-page.png'), fullPage: true});
      } finally {
        await browser.close();
        await stack.stop();
      }
    }
  );

  it(
    'with a model per key: each key’s record, history and roll, and no roll between keys',
    {skip: !present && process.env['CI'] !== 'true', timeout: 240_000},
    async () => {
      assert.ok(present, `${CHROMIUM} not found: .ci/run installs Debian's chromium`);
      const stack = await startStack({
        livePage: true,
        keyed: true,
        logDir: path.join(ROOT, '.local/live-page-keyed-test'),
      });
      const c = await stackClients(stack);
      const browser = await chromium.launch({executablePath: CHROMIUM, args: FLAGS});
      try {
        const page = await browser.newPage({viewport: {width: 1280, height: 900}});
        await page.goto(stack.info.endpoints.page!);
        await page.getByText('live', {exact: true}).waitFor({timeout: 15_000});
        const record = (key: string, model: string) =>
          page.locator(`.record[data-key="${key}"][data-model="${model}"]`);
        // Both keys' photos in one burst: answers of the two keys interleave on the page.
        const publishBoth = () =>
          Promise.all([
            c.publishPhotos(6, {attributes: {model: 'flowers'}}),
            c.publishPhotos(6, {attributes: {model: 'dogs'}, offset: 6}),
          ]);

        await c.uploadModel('flowers/mobilenet_flowers.h5', fixtureBytes(MOBILENET), CONTRACT);
        await c.uploadModel('dogs/mobilenet_dogs.h5', fixtureBytes(MOBILENET), CONTRACT);
        await record('flowers', 'mobilenet_flowers').waitFor({timeout: 60_000});
        await record('dogs', 'mobilenet_dogs').waitFor({timeout: 60_000});
        assert.equal(await page.locator('#current-title').textContent(), 'Current model per key');
        await publishBoth();
        await page.locator('#stream tr[data-key="flowers"][data-model="mobilenet_flowers"]').nth(5).waitFor();
        await page.locator('#stream tr[data-key="dogs"][data-model="mobilenet_dogs"]').nth(5).waitFor();

        // Roll flowers only.
        await c.uploadModel('flowers/mobilenet_flowers_v2.h5', fixtureBytes(MOBILENET), CONTRACT);
        await record('flowers', 'mobilenet_flowers_v2').waitFor({timeout: 60_000});
        await publishBoth();
        await page.locator('#stream tr[data-key="flowers"][data-model="mobilenet_flowers_v2"]').first().waitFor();
        await page
          .locator('#rolls li[data-key="flowers"][data-from="mobilenet_flowers"][data-to="mobilenet_flowers_v2"]')
          .waitFor({timeout: 30_000});
        await page.locator('#stream tr[data-key="dogs"]').nth(11).waitFor({timeout: 60_000});

        assert.equal(await record('dogs', 'mobilenet_dogs').count(), 1);
        assert.equal(await page.locator('.record').count(), 2);
        // One roll: the dogs key never changed model, and answers of the two keys in turn are
        // not rolls.
        assert.deepEqual(
          await page.locator('#rolls li').evaluateAll(els => els.map(e => (e as HTMLElement).dataset['key'])),
          ['flowers']
        );
        const history = async (key: string) =>
          (await page.locator(`#history tr[data-key="${key}"]`).allTextContents()).filter(r =>
            r.startsWith('accepted')
          );
        // The history has a listener of its own, and the chart's legend is drawn once a second:
        // wait for what they show, not for the time it takes.
        await page.locator('#history tr[data-key="flowers"]', {hasText: 'mobilenet_flowers_v2'}).waitFor();
        await page.locator('.legend-model[data-model="flowers/mobilenet_flowers_v2"]').waitFor({timeout: 10_000});
        assert.equal((await history('flowers')).length, 2);
        assert.match((await history('dogs')).join('\n'), /^accepted\s*dogs: gs:\/\/.*mobilenet_dogs\.h5/);
        assert.deepEqual(
          (
            await page.locator('.legend-model').evaluateAll(els => els.map(e => (e as HTMLElement).dataset['model']))
          ).sort(),
          ['dogs/mobilenet_dogs', 'flowers/mobilenet_flowers', 'flowers/mobilenet_flowers_v2']
        );
        await page.waitForTimeout(1200);
        await page.screenshot({path: path.join(ROOT, '.local/live-page-keyed.png'), fullPage: true});
      } finally {
        await browser.close();
        await c.close();
        await stack.stop();
      }
    }
  );
});
