import {describe, it} from 'node:test';
import assert from 'node:assert/strict';
import {decodeImagePath} from '../../../src/core/image_path.js';
import {MessageError} from '../../../src/core/errors.js';

const policy = {imageBuckets: ['imgs'], localImageDir: '/data/images'};
const text = (s: string) => Buffer.from(s, 'utf8');

describe('decodeImagePath', () => {
  const ok: Array<[Buffer, unknown]> = [
    [text('gs://imgs/a.jpg'), {kind: 'gcs', bucket: 'imgs', name: 'a.jpg'}],
    [text('  gs://imgs/dir/b c.png\n'), {kind: 'gcs', bucket: 'imgs', name: 'dir/b c.png'}],
    [text('/data/images/x.jpg'), {kind: 'local', path: '/data/images/x.jpg'}],
    [text('/data/images/sub/../x.jpg'), {kind: 'local', path: '/data/images/x.jpg'}],
  ];
  for (const [data, want] of ok)
    it(`accepts ${JSON.stringify(data.toString())}`, () => assert.deepEqual(decodeImagePath(data, policy), want));

  const bad: Array<[string, Buffer, string]> = [
    ['empty', text(''), 'bad_message'],
    ['blank', text('   \n'), 'bad_message'],
    ['1 MB', Buffer.alloc(1024 * 1024, 0x61), 'bad_message'],
    ['invalid UTF-8', Buffer.from([0x67, 0x73, 0xff, 0xfe]), 'bad_message'],
    ['a bucket outside IMAGE_BUCKETS', text('gs://models/m.h5'), 'not_allowed'],
    ['a lookalike bucket', text('gs://imgs-evil/a.jpg'), 'not_allowed'],
    ['../ in an object name', text('gs://imgs/../models/m.h5'), 'not_allowed'],
    ['./ in an object name', text('gs://imgs/a/./b.jpg'), 'not_allowed'],
    ['../ out of the local folder', text('/data/images/../../etc/passwd'), 'not_allowed'],
    ['a sibling folder with the same prefix', text('/data/images2/x.jpg'), 'not_allowed'],
    ['file:///etc/passwd', text('file:///etc/passwd'), 'bad_message'],
    ['URL-encoded traversal', text('%2e%2e/%2e%2e/etc/passwd'), 'bad_message'],
    ['an https URL', text('https://example.com/a.jpg'), 'bad_message'],
    ['control characters', text('gs://imgs/a\u0000.jpg'), 'bad_message'],
  ];
  for (const [name, data, kind] of bad) {
    it(`rejects ${name} as ${kind}`, () => {
      assert.throws(
        () => decodeImagePath(data, policy),
        (e: unknown) => e instanceof MessageError && e.kind === kind
      );
    });
  }

  it('refuses local paths when LOCAL_IMAGE_DIR is not set', () => {
    assert.throws(
      () => decodeImagePath(text('/data/images/x.jpg'), {imageBuckets: [], localImageDir: null}),
      /LOCAL_IMAGE_DIR is not set/
    );
  });
});
