import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';

import { deliverWebhook, webhookOrigin } from './webhook';

interface Received {
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

describe('deliverWebhook', () => {
  let server: Server;
  let base: string;
  const received: Received[] = [];
  /** Status answered per request, in order; 200 once exhausted. */
  let script: number[] = [];

  before(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        received.push({ path: req.url ?? '', headers: req.headers, body });
        res.writeHead(script.shift() ?? 200).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  const logs: object[] = [];
  const logger = { warn: (obj: object) => void logs.push(obj) };

  test('posts JSON with the given headers', async () => {
    received.length = 0;
    const out = await deliverWebhook(`${base}/hook/tok?x=1`, { a: 1 }, { 'idempotency-key': 'k' }, logger);
    assert.deepEqual(out, { delivered: true, attempts: 1 });
    assert.equal(received[0]!.path, '/hook/tok?x=1');
    assert.equal(received[0]!.headers['content-type'], 'application/json');
    assert.equal(received[0]!.headers['idempotency-key'], 'k');
    assert.deepEqual(JSON.parse(received[0]!.body), { a: 1 });
  });

  test('retries 5xx with backoff, never logging the path or query', async () => {
    received.length = 0;
    logs.length = 0;
    script = [503, 500];
    const out = await deliverWebhook(`${base}/secret-token?k=v`, {}, {}, logger, { retryDelayMs: 1 });
    assert.deepEqual(out, { delivered: true, attempts: 3 });
    assert.equal(logs.length, 2);
    assert.doesNotMatch(JSON.stringify(logs), /secret-token|k=v/);
  });

  test('a 4xx is final; an unreachable host fails after every attempt', async () => {
    script = [404];
    const notFound = await deliverWebhook(`${base}/x`, {}, {}, logger, { retryDelayMs: 1 });
    assert.deepEqual(notFound, { delivered: false, attempts: 1, error: 'HTTP 404' });
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const down = await deliverWebhook(`http://127.0.0.1:${port}/t`, {}, {}, logger, {
      retryDelayMs: 1,
      attempts: 2,
    });
    assert.equal(down.delivered, false);
    assert.equal(down.attempts, 2);
    assert.equal(down.error, 'ECONNREFUSED');
  });

  test('origin only', () => {
    assert.equal(
      webhookOrigin('https://hooks.example.com:8443/T0/B1/xyz?token=1'),
      'https://hooks.example.com:8443',
    );
  });
});
