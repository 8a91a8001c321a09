import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ApiError } from './api-error';
import { illFormedPath, invalidUtf8Ranges, parseJsonBody } from './json-body';

const fieldOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ApiError);
    return err.fields?.[0]?.path;
  }
  throw new Error('did not throw');
};

describe('json-body', () => {
  test('invalid sequences are found as TextDecoder replaces them (one U+FFFD per range)', () => {
    const lenient = new TextDecoder();
    for (const bad of [
      [0xff],
      [0xc0, 0xaf],
      [0xed, 0xa0, 0x80],
      [0xe2, 0x28, 0xa1],
      [0xf4, 0x90, 0x80, 0x80],
      [0xe2, 0x82],
    ]) {
      const bytes = Uint8Array.from([0x61, ...bad, 0x62]);
      const replaced = [...lenient.decode(bytes)].filter((c) => c === '\ufffd').length;
      assert.equal(invalidUtf8Ranges(bytes).length, replaced, bad.join(' '));
    }
    assert.deepEqual(invalidUtf8Ranges(Buffer.from('ü 🔑 \ufffd')), []);
  });

  test('names the field holding bad bytes, keys included', () => {
    const body = (head: string, bad: number[], tail: string) =>
      Buffer.concat([Buffer.from(head), Buffer.from(bad), Buffer.from(tail)]);
    assert.equal(
      fieldOf(() => parseJsonBody(body('{"a":{"b":["x","', [0xff], '"]}}'))),
      'a.b[1]',
    );
    assert.equal(
      fieldOf(() => parseJsonBody(body('{"k', [0xff], '":1}'))),
      'k\ufffd',
    );
    assert.equal(illFormedPath({ a: ['ok', 'x\udfff'] }), 'a[1]');
    assert.deepEqual(parseJsonBody(Buffer.from('{"a":"\\ufffd"}')), { a: '\ufffd' });
    assert.deepEqual(parseJsonBody(Buffer.alloc(0)), {});
  });

  test('a body that is not a JSON object or array gets the fixed message', () => {
    for (const text of ['{"a":', '"just a string"', '42', 'nul']) {
      assert.throws(() => parseJsonBody(Buffer.from(text)), { message: 'request body is not valid JSON' });
    }
  });
});
