import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { createLogger } from './logger';

function capture(): { stream: Writable; lines: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  return { stream, lines: () => chunks.join('') };
}

describe('createLogger', () => {
  test('redacts the authorization header, passwords, S3 secrets and bodies', () => {
    const out = capture();
    const logger = createLogger('info', out.stream);
    logger.info({ req: { headers: { authorization: 'Bearer vlt_abc' } } }, 'a request');
    logger.info(
      { input: { password: 'hunter22', passwordConfirmation: 'hunter22', secretKey: 's3cr3t' } },
      'x',
    );
    logger.info({ body: { anything: 'at all' } }, 'y');
    const text = out.lines();
    for (const leaked of ['vlt_abc', 'hunter22', 's3cr3t', 'at all'])
      assert.ok(!text.includes(leaked), leaked);
    assert.ok(text.includes('[redacted]'));
  });
});
